// Package exactsum adds non-negative float64 terms in 128-bit fixed point,
// so that a sum does not depend on the order of its terms: the same input
// gives the same bits on every runner, bundling and worker count.
//
// Each term is truncated to a multiple of 2^-64 once, before it is added;
// integer addition is associative, so partial sums can be formed anywhere
// and merged in any order.
package exactsum

import "math"

// Sum is Hi + Lo/2^64. The zero value is 0.
type Sum struct {
	Hi uint64
	Lo uint64
}

// Add adds t, which must be finite, non-negative and below 2^63.
func (s *Sum) Add(t float64) {
	ip, frac := math.Modf(t)
	lo := uint64(frac * 0x1p64) // exact: a power-of-two scale of a float below 1
	var carry uint64
	s.Lo, carry = add64(s.Lo, lo)
	s.Hi += uint64(ip) + carry
}

// Merge adds another sum.
func (s *Sum) Merge(o Sum) {
	var carry uint64
	s.Lo, carry = add64(s.Lo, o.Lo)
	s.Hi += o.Hi + carry
}

// Float64 rounds the sum to a float64.
func (s Sum) Float64() float64 {
	return float64(s.Hi) + float64(s.Lo)*0x1p-64
}

func add64(a, b uint64) (sum, carry uint64) {
	sum = a + b
	if sum < a {
		carry = 1
	}
	return sum, carry
}
