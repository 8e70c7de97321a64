package scoring

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/internal/exactsum"
)

// Shards cross shuffles and hold most of the job's data; the reflective
// schema coder cost more than the scoring itself, so they get a compact
// coder: uvarint lengths, strings as bytes, floats as 8 fixed bytes.
// Partial and Row get the same coder for the pipelines that ship them alone.
func init() {
	beam.RegisterCoder(reflect.TypeOf(Partial{}), encodePartial, decodePartial)
	beam.RegisterCoder(reflect.TypeOf(Row{}), encodeRow, decodeRow)
	beam.RegisterCoder(reflect.TypeOf(PartialShard{}), encodePartialShard, decodePartialShard)
	beam.RegisterCoder(reflect.TypeOf(Shard{}), encodeShard, decodeShard)
}

var errCorrupt = errors.New("scoring: corrupt encoding")

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendPartial(b []byte, p Partial) []byte {
	b = appendStrings(b, p.Items)
	for k := range p.Items {
		b = binary.AppendUvarint(b, p.Sums[k].Hi)
		b = binary.LittleEndian.AppendUint64(b, p.Sums[k].Lo)
		b = appendFloat(b, p.Maxes[k])
	}
	return b
}

func appendRow(b []byte, r Row) []byte {
	b = appendString(b, r.User)
	b = appendStrings(b, r.Items)
	for _, s := range r.Scores {
		b = appendFloat(b, s)
	}
	return b
}

func encodePartial(p Partial) []byte { return appendPartial(make([]byte, 0, 32*len(p.Items)), p) }

func encodeRow(r Row) []byte {
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

func (d *decoder) fixed() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
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

func (d *decoder) partial() Partial {
	p := Partial{Items: d.strings()}
	p.Sums = make([]exactsum.Sum, len(p.Items))
	p.Maxes = make([]float64, len(p.Items))
	for k := range p.Items {
		p.Sums[k] = exactsum.Sum{Hi: d.uvarint(), Lo: d.fixed()}
		p.Maxes[k] = math.Float64frombits(d.fixed())
	}
	return p
}

func (d *decoder) row() Row {
	r := Row{User: d.string(), Items: d.strings()}
	r.Scores = make([]float64, len(r.Items))
	for k := range r.Scores {
		r.Scores[k] = math.Float64frombits(d.fixed())
	}
	return r
}

func decodePartial(b []byte) (Partial, error) {
	d := decoder{b: b}
	p := d.partial()
	return p, d.done()
}

func decodeRow(b []byte) (Row, error) {
	d := decoder{b: b}
	r := d.row()
	return r, d.done()
}

func decodePartialShard(b []byte) (PartialShard, error) {
	d := decoder{b: b}
	n := d.count()
	ps := PartialShard{Users: make([]string, n), Parts: make([]Partial, n)}
	for k := range n {
		ps.Users[k] = d.string()
		ps.Parts[k] = d.partial()
	}
	return ps, d.done()
}

func decodeShard(b []byte) (Shard, error) {
	d := decoder{b: b}
	sh := Shard{Rows: make([]Row, d.count())}
	for k := range sh.Rows {
		sh.Rows[k] = d.row()
	}
	return sh, d.done()
}
