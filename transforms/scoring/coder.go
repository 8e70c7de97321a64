package scoring

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/internal/exactsum"
)

// Partials and Rows cross shuffles once per user; the reflective schema
// coder cost more than the scoring itself, so both get a compact coder:
// uvarint lengths, strings as bytes, floats as 8 fixed bytes.
func init() {
	beam.RegisterCoder(reflect.TypeOf(Partial{}), encodePartial, decodePartial)
	beam.RegisterCoder(reflect.TypeOf(Row{}), encodeRow, decodeRow)
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

func encodePartial(p Partial) []byte {
	b := appendStrings(make([]byte, 0, 16*len(p.Items)), p.Items)
	for k := range p.Items {
		b = binary.AppendUvarint(b, p.Sums[k].Hi)
		b = binary.LittleEndian.AppendUint64(b, p.Sums[k].Lo)
		b = appendFloat(b, p.Maxes[k])
	}
	return b
}

func encodeRow(r Row) []byte {
	b := appendString(make([]byte, 0, len(r.User)+16*len(r.Items)), r.User)
	b = appendStrings(b, r.Items)
	for _, s := range r.Scores {
		b = appendFloat(b, s)
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

func decodePartial(b []byte) (Partial, error) {
	d := decoder{b: b}
	p := Partial{Items: d.strings()}
	p.Sums = make([]exactsum.Sum, len(p.Items))
	p.Maxes = make([]float64, len(p.Items))
	for k := range p.Items {
		p.Sums[k] = exactsum.Sum{Hi: d.uvarint(), Lo: d.fixed()}
		p.Maxes[k] = math.Float64frombits(d.fixed())
	}
	return p, d.done()
}

func decodeRow(b []byte) (Row, error) {
	d := decoder{b: b}
	r := Row{User: d.string(), Items: d.strings()}
	r.Scores = make([]float64, len(r.Items))
	for k := range r.Scores {
		r.Scores[k] = math.Float64frombits(d.fixed())
	}
	return r, d.done()
}
