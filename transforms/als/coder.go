package als

import (
	"encoding/binary"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/internal/wire"
)

// Blocks, messages and factor tables are the half-steps' whole traffic;
// the reflective schema coder spent more than the solves on them, so they
// get package wire's compact form (factors as their 8 raw bytes).
func init() {
	beam.RegisterCoder(reflect.TypeOf(Pairs{}), encodePairs, decodePairs)
	beam.RegisterCoder(reflect.TypeOf(Block{}), encodeBlock, decodeBlock)
	beam.RegisterCoder(reflect.TypeOf(Message{}), encodeMessage, decodeMessage)
	beam.RegisterCoder(reflect.TypeOf(FactorBlock{}), encodeFactorBlock, decodeFactorBlock)
}

func encodePairs(p Pairs) []byte {
	b := wire.AppendStrings(make([]byte, 0, 24*len(p.This)), p.This)
	b = wire.AppendStrings(b, p.Other)
	b = wire.AppendFloats(b, p.Values)
	for _, h := range p.Held {
		b = binary.AppendUvarint(b, boolByte(h))
	}
	return b
}

func boolByte(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

func decodePairs(b []byte) (Pairs, error) {
	d := wire.NewDecoder(b)
	p := Pairs{This: d.Strings(), Other: d.Strings(), Values: d.Floats()}
	if len(p.Other) != len(p.This) || len(p.Values) != len(p.This) {
		d.Fail()
	}
	p.Held = make([]bool, len(p.This))
	for k := range p.Held {
		p.Held[k] = d.Uvarint() == 1
	}
	return p, d.Done()
}

func encodeBlock(blk Block) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 16*len(blk.From)+32*len(blk.Ids)), uint64(blk.ID))
	b = wire.AppendStrings(b, blk.Ids)
	b = wire.AppendInt32s(b, blk.Start)
	b = wire.AppendInt32s(b, blk.From)
	b = wire.AppendInt32s(b, blk.Index)
	b = wire.AppendFloats(b, blk.Values)
	b = binary.AppendUvarint(b, uint64(len(blk.Needs)))
	for k := range blk.Needs {
		b = wire.AppendStrings(b, blk.Needs[k])
		b = wire.AppendInt32s(b, blk.Routes[k])
	}
	b = wire.AppendInt32s(b, blk.HeldStart)
	b = wire.AppendInt32s(b, blk.HeldFrom)
	b = wire.AppendInt32s(b, blk.HeldIndex)
	return wire.AppendFloats(b, blk.HeldValues)
}

func decodeBlock(b []byte) (Block, error) {
	d := wire.NewDecoder(b)
	blk := Block{ID: int32(d.Uvarint()), Ids: d.Strings(), Start: d.Int32s(), From: d.Int32s(), Index: d.Int32s(), Values: d.Floats()}
	n := d.Count()
	blk.Needs, blk.Routes = make([][]string, n), make([][]int32, n)
	for k := range n {
		blk.Needs[k], blk.Routes[k] = d.Strings(), d.Int32s()
	}
	blk.HeldStart, blk.HeldFrom, blk.HeldIndex, blk.HeldValues = d.Int32s(), d.Int32s(), d.Int32s(), d.Floats()
	return blk, d.Done()
}

func encodeMessage(m Message) []byte {
	return wire.AppendRawFloats(binary.AppendUvarint(make([]byte, 0, 8+8*len(m.Factors)), uint64(m.From)), m.Factors)
}

func decodeMessage(b []byte) (Message, error) {
	d := wire.NewDecoder(b)
	m := Message{From: int32(d.Uvarint()), Factors: d.RawFloats()}
	return m, d.Done()
}

func encodeFactorBlock(f FactorBlock) []byte {
	return wire.AppendRawFloats(wire.AppendStrings(make([]byte, 0, 8*len(f.Factors)+16*len(f.Ids)), f.Ids), f.Factors)
}

func decodeFactorBlock(b []byte) (FactorBlock, error) {
	d := wire.NewDecoder(b)
	f := FactorBlock{Ids: d.Strings(), Factors: d.RawFloats()}
	return f, d.Done()
}
