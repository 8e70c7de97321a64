package exactsum

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// The binary form is compact for the common sums: a header byte (bit 0: the
// window's lowest limb is set, bit 1: a wide part follows), the window's
// integer limb as a uvarint, its fraction limbs as uvarints of their bits
// reversed (the low bits of sums of weights and of products of short
// mantissas are zero, so they take a byte or two), then the wide part's
// non-zero limbs as (index, value) uvarint pairs after their count.
const (
	hasLow  = 1
	hasWide = 2
)

// ErrCorrupt reports an encoding that AppendBinary did not produce.
var ErrCorrupt = errors.New("exactsum: corrupt encoding")

// AppendBinary appends s's binary form to b.
func (s Sum) AppendBinary(b []byte) []byte {
	var head byte
	if s.w[0] != 0 {
		head |= hasLow
	}
	if s.ext != nil {
		head |= hasWide
	}
	b = append(b, head)
	b = binary.AppendUvarint(b, s.w[2])
	b = binary.AppendUvarint(b, bits.Reverse64(s.w[1]))
	if s.w[0] != 0 {
		b = binary.AppendUvarint(b, bits.Reverse64(s.w[0]))
	}
	if s.ext != nil {
		n := 0
		for _, x := range s.ext {
			if x != 0 {
				n++
			}
		}
		b = binary.AppendUvarint(b, uint64(n))
		for k, x := range s.ext {
			if x != 0 {
				b = binary.AppendUvarint(binary.AppendUvarint(b, uint64(k)), x)
			}
		}
	}
	return b
}

// EncodedLen is the length of s's binary form.
func (s Sum) EncodedLen() int {
	n := 1 + uvarintLen(s.w[2]) + uvarintLen(bits.Reverse64(s.w[1]))
	if s.w[0] != 0 {
		n += uvarintLen(bits.Reverse64(s.w[0]))
	}
	if s.ext != nil {
		n = len(s.AppendBinary(nil)) // rare: measure it
	}
	return n
}

func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// Decode reads a sum written by AppendBinary from the front of b and
// returns it with the number of bytes read.
func Decode(b []byte) (Sum, int, error) {
	var s Sum
	if len(b) == 0 || b[0]&^(hasLow|hasWide) != 0 {
		return s, 0, ErrCorrupt
	}
	head, k := b[0], 1
	// next reads a uvarint in its shortest form only, so that every sum
	// has one encoding.
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b[k:])
		if n <= 0 || n != uvarintLen(v) {
			return 0, false
		}
		k += n
		return v, true
	}
	var ok bool
	if s.w[2], ok = next(); !ok {
		return s, 0, ErrCorrupt
	}
	v, ok := next()
	if !ok {
		return s, 0, ErrCorrupt
	}
	s.w[1] = bits.Reverse64(v)
	if head&hasLow != 0 {
		if v, ok = next(); !ok || v == 0 {
			return s, 0, ErrCorrupt
		}
		s.w[0] = bits.Reverse64(v)
	}
	if head&hasWide != 0 {
		n, ok := next()
		if !ok || n > wideLimbs {
			return s, 0, ErrCorrupt
		}
		s.ext = new(wide)
		prev := -1
		for ; n > 0; n-- {
			i, ok1 := next()
			x, ok2 := next()
			if !ok1 || !ok2 || i >= wideLimbs || int(i) <= prev || x == 0 {
				return s, 0, ErrCorrupt // limbs come once each, ascending
			}
			s.ext[i], prev = x, int(i)
		}
	}
	return s, k, nil
}
