// Package wire is the compact binary form the pipelines' custom coders
// share: uvarint lengths, strings as bytes, floats as the uvarint of their
// bits reversed (the low mantissa bits of action weights and scores are
// often zero, so they take 1 to 3 bytes instead of 8; an arbitrary value
// takes up to 10), and a Decoder that reads them back, remembering the
// first error so a coder checks once, at the end (it also reads the exact
// sums exactsum writes).
package wire

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"

	"github.com/recsys/itemsim/internal/exactsum"
)

// ErrCorrupt reports bytes the append functions did not write.
var ErrCorrupt = errors.New("wire: corrupt encoding")

// AppendString appends s's length and bytes.
func AppendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// AppendStrings appends the count of ss and each string.
func AppendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = AppendString(b, s)
	}
	return b
}

// AppendFloat appends f as the uvarint of its bits reversed.
func AppendFloat(b []byte, f float64) []byte { return AppendReversed(b, math.Float64bits(f)) }

// AppendFloats appends the count of fs and each float.
func AppendFloats(b []byte, fs []float64) []byte {
	b = binary.AppendUvarint(b, uint64(len(fs)))
	for _, f := range fs {
		b = AppendFloat(b, f)
	}
	return b
}

// AppendVarint appends a signed integer, zig-zag (small magnitudes take
// few bytes either side of 0).
func AppendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// AppendReversed appends v with its bits reversed as a uvarint: short when
// v's low bits are zero.
func AppendReversed(b []byte, v uint64) []byte { return binary.AppendUvarint(b, bits.Reverse64(v)) }

// AppendInt32s appends the count of vs and each value (non-negative ones
// are shortest) as a uvarint.
func AppendInt32s(b []byte, vs []int32) []byte {
	b = binary.AppendUvarint(b, uint64(len(vs)))
	for _, v := range vs {
		b = binary.AppendUvarint(b, uint64(uint32(v)))
	}
	return b
}

// Decoder reads what the append functions wrote, remembering the first
// error.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder reads b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Bytes is what is left to read.
func (d *Decoder) Bytes() []byte { return d.b }

// Skip consumes n bytes read by another decoder of the same bytes.
func (d *Decoder) Skip(n int) {
	if n > len(d.b) {
		d.Fail()
		return
	}
	d.b = d.b[n:]
}

// Uvarint reads a uvarint.
func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads what AppendVarint wrote.
func (d *Decoder) Varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Reversed reads what AppendReversed wrote.
func (d *Decoder) Reversed() uint64 { return bits.Reverse64(d.Uvarint()) }

// Float reads what AppendFloat wrote.
func (d *Decoder) Float() float64 { return math.Float64frombits(d.Reversed()) }

// String reads what AppendString wrote.
func (d *Decoder) String() string {
	n := d.Uvarint()
	if n > uint64(len(d.b)) {
		d.Fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// Count reads a length, bounded by the bytes left (each element takes at
// least one), so corrupt input cannot make it allocate much.
func (d *Decoder) Count() int {
	n := d.Uvarint()
	if n > uint64(len(d.b)) {
		d.Fail()
		return 0
	}
	return int(n)
}

// Strings reads what AppendStrings wrote.
func (d *Decoder) Strings() []string {
	ss := make([]string, d.Count())
	for k := range ss {
		ss[k] = d.String()
	}
	return ss
}

// Floats reads what AppendFloats wrote.
func (d *Decoder) Floats() []float64 {
	fs := make([]float64, d.Count())
	for k := range fs {
		fs[k] = d.Float()
	}
	return fs
}

// Int32s reads what AppendInt32s wrote.
func (d *Decoder) Int32s() []int32 {
	vs := make([]int32, d.Count())
	for k := range vs {
		vs[k] = int32(uint32(d.Uvarint()))
	}
	return vs
}

// Sum reads a sum written by exactsum's AppendBinary.
func (d *Decoder) Sum() exactsum.Sum {
	s, n, err := exactsum.Decode(d.b)
	if err != nil {
		d.Fail()
		return exactsum.Sum{}
	}
	d.b = d.b[n:]
	return s
}

// Fail records a corrupt encoding and stops reading.
func (d *Decoder) Fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
	d.b = nil
}

// Done is the first error, or ErrCorrupt when bytes are left over.
func (d *Decoder) Done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = ErrCorrupt
	}
	return d.err
}

// AppendRawFloats appends the count of fs and each float's 8 bytes, little
// endian: for arbitrary values (factors), whose reversed bits save nothing.
func AppendRawFloats(b []byte, fs []float64) []byte {
	b = binary.AppendUvarint(b, uint64(len(fs)))
	for _, f := range fs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

// RawFloats reads what AppendRawFloats wrote.
func (d *Decoder) RawFloats() []float64 {
	n := d.Uvarint()
	if n > uint64(len(d.b)/8) {
		d.Fail()
		return nil
	}
	fs := make([]float64, n)
	for k := range fs {
		fs[k] = math.Float64frombits(binary.LittleEndian.Uint64(d.b[8*k:]))
	}
	d.b = d.b[8*n:]
	return fs
}
