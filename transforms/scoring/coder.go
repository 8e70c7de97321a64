package scoring

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/model"
)

// Shards cross shuffles and hold most of the job's data; the reflective
// schema coder cost more than the scoring itself, so they get a compact
// coder: uvarint lengths, strings as bytes, floats as the uvarint of their
// bits reversed (the low mantissa bits of action weights, 0.5, 2, 6, are
// zero, so they take 1 to 3 bytes instead of 8; an arbitrary value takes up
// to 10), and exact sums in exactsum's compact form, which does the same.
// model.Partial and model.Row get the same coder for the pipelines that ship
// them alone (any pipeline that ships them imports this package).
func init() {
	beam.RegisterCoder(reflect.TypeOf(model.Partial{}), encodePartial, decodePartial)
	beam.RegisterCoder(reflect.TypeOf(model.Row{}), encodeRow, decodeRow)
	beam.RegisterCoder(reflect.TypeOf(PartialShard{}), encodePartialShard, decodePartialShard)
	beam.RegisterCoder(reflect.TypeOf(Shard{}), encodeShard, decodeShard)
}

var errCorrupt = errors.New("scoring: corrupt encoding")

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendFloat(b []byte, f float64) []byte { return appendReversed(b, math.Float64bits(f)) }

// appendReversed appends v with its bits reversed as a uvarint: short when
// v's low bits are zero.
func appendReversed(b []byte, v uint64) []byte { return binary.AppendUvarint(b, bits.Reverse64(v)) }

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendPartial(b []byte, p model.Partial) []byte {
	b = appendStrings(b, p.Items)
	for k := range p.Items {
		b = p.Sums[k].AppendBinary(b)
		b = appendFloat(b, p.Maxes[k])
	}
	return b
}

func appendRow(b []byte, r model.Row) []byte {
	b = appendString(b, r.User)
	b = appendStrings(b, r.Items)
	for _, s := range r.Scores {
		b = appendFloat(b, s)
	}
	return b
}

func encodePartial(p model.Partial) []byte { return appendPartial(make([]byte, 0, 32*len(p.Items)), p) }

func encodeRow(r model.Row) []byte {
	return appendRow(make([]byte, 0, len(r.User)+16*len(r.Items)), r)
}

func encodePartialShard(ps PartialShard) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 64*len(ps.Users)), uint64(len(ps.Users)))
	for k, u := range ps.Users {
		b = appendPartial(appendString(b, u), ps.Parts[k])
	}
	return b
}

func encodeShard(sh Shard) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 64*len(sh.Rows)), uint64(len(sh.Rows)))
	for _, r := range sh.Rows {
		b = appendRow(b, r)
	}
	return b
}

// decoder reads what the append functions wrote, remembering the first
// error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// reversed reads what appendReversed wrote.
func (d *decoder) reversed() uint64 { return bits.Reverse64(d.uvarint()) }

func (d *decoder) float() float64 { return math.Float64frombits(d.reversed()) }

// sum reads what exactsum's AppendBinary wrote.
func (d *decoder) sum() exactsum.Sum {
	s, n, err := exactsum.Decode(d.b)
	if err != nil {
		d.fail()
		return exactsum.Sum{}
	}
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a length, bounded by the bytes left (each element takes at
// least one), so corrupt input cannot make it allocate much.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) strings() []string {
	ss := make([]string, d.count())
	for k := range ss {
		ss[k] = d.string()
	}
	return ss
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return d.err
}

func (d *decoder) partial() model.Partial {
	p := model.Partial{Items: d.strings()}
	p.Sums = make([]exactsum.Sum, len(p.Items))
	p.Maxes = make([]float64, len(p.Items))
	for k := range p.Items {
		p.Sums[k] = d.sum()
		p.Maxes[k] = d.float()
	}
	return p
}

func (d *decoder) row() model.Row {
	r := model.Row{User: d.string(), Items: d.strings()}
	r.Scores = make([]float64, len(r.Items))
	for k := range r.Scores {
		r.Scores[k] = d.float()
	}
	return r
}

func decodePartial(b []byte) (model.Partial, error) {
	d := decoder{b: b}
	p := d.partial()
	return p, d.done()
}

func decodeRow(b []byte) (model.Row, error) {
	d := decoder{b: b}
	r := d.row()
	return r, d.done()
}

func decodePartialShard(b []byte) (PartialShard, error) {
	d := decoder{b: b}
	n := d.count()
	ps := PartialShard{Users: make([]string, n), Parts: make([]model.Partial, n)}
	for k := range n {
		ps.Users[k] = d.string()
		ps.Parts[k] = d.partial()
	}
	return ps, d.done()
}

func decodeShard(b []byte) (Shard, error) {
	d := decoder{b: b}
	sh := Shard{Rows: make([]model.Row, d.count())}
	for k := range sh.Rows {
		sh.Rows[k] = d.row()
	}
	return sh, d.done()
}
