// Package exactsum adds non-negative float64 terms exactly, so that a sum
// does not depend on the order of its terms: the same input gives the same
// bits on every runner, bundling and worker count. Sub removes a term added
// earlier, exactly, so a count a stream keeps up to date by additions and
// removals equals the batch sum of the terms it holds.
//
// A Sum holds the exact value of its terms, with no rounding at all, for
// every finite non-negative float64 term (subnormals included) and for up to
// 2^40 (about 1.1·10^12) terms. Integer addition is associative, so partial
// sums can be formed anywhere and merged in any order; Float64 rounds the
// exact value once, to nearest (ties to even).
//
// The common case is fast and small: a 192-bit fixed-point window with its
// lowest bit at 2^-128 holds every term below 2^24 whose lowest set bit is
// at least 2^-128 (every term of a sum of weights, and the products of the
// normalised scores DIMSUM adds, unless they are tiny). A term outside it
// goes, exactly, to a wide accumulator spanning the whole float64 range and
// exact squares (2^-2176 … 2^1088), allocated only for such sums.
package exactsum

import (
	"math"
	"math/big"
	"math/bits"
)

// window geometry: limb k of the window weighs 2^(64k-128).
const (
	windowLSB = -128 // exponent of the window's lowest bit
	fastMax   = 24   // terms below 2^fastMax use the window, so 2^40 of them stay below 2^64
)

// wide geometry: limb k of a wide accumulator weighs 2^(64k+wideLSB).
const (
	wideLSB   = -2176 // below the smallest exact square, 2^-2148
	wideLimbs = 51    // up to 2^1088: the largest float64 times 2^40 terms, with room
)

// MaxTerms is the number of terms a Sum holds exactly (merged sums count
// all their terms).
const MaxTerms = 1 << 40

// Sum is an exact sum of non-negative terms. The zero value is 0. Sums are
// values: copy them freely, but compare them with Equal (the wide part is
// behind a pointer, which two equal sums need not share).
type Sum struct {
	w   [3]uint64 // the window, least significant limb first
	ext *wide     // terms outside the window; nil for almost every sum
}

// wide is a fixed-point number, least significant limb first.
type wide [wideLimbs]uint64

// Of returns the sum of terms.
func Of(terms ...float64) Sum {
	var s Sum
	for _, t := range terms {
		s.Add(t)
	}
	return s
}

// Add adds t exactly. t must be finite and non-negative (-0 counts as 0);
// Add panics otherwise, since such a term is a bug of the caller's, and a
// silently wrong sum is worse.
func (s *Sum) Add(t float64) {
	lo, hi, limb, ok := place(t)
	if !ok {
		s.addSlow(t, math.Float64bits(t))
		return
	}
	var c uint64
	switch limb {
	case 0:
		s.w[0], c = bits.Add64(s.w[0], lo, 0)
		s.w[1], c = bits.Add64(s.w[1], hi, c)
		s.w[2] += c
	case 1:
		s.w[1], c = bits.Add64(s.w[1], lo, 0)
		s.w[2] += hi + c
	default:
		s.w[2] += lo
	}
}

// Sub removes a term t that an earlier Add added to this sum (or to one
// merged into it) and no Sub has removed since, exactly: a stream's counts
// go down as well as up (a rating replaced, an event leaving the window),
// and the sum stays the exact sum of the terms present, whatever the order
// of the additions and removals. A term lands in the same part of the sum
// (window or wide) every time, so no part goes below 0; Sub panics if one
// would, since the caller removed a term it never added.
func (s *Sum) Sub(t float64) {
	lo, hi, limb, ok := place(t)
	if !ok {
		s.subSlow(t, math.Float64bits(t))
		return
	}
	var c uint64
	switch limb {
	case 0:
		s.w[0], c = bits.Sub64(s.w[0], lo, 0)
		s.w[1], c = bits.Sub64(s.w[1], hi, c)
		s.w[2], c = bits.Sub64(s.w[2], 0, c)
	case 1:
		s.w[1], c = bits.Sub64(s.w[1], lo, 0)
		s.w[2], c = bits.Sub64(s.w[2], hi, c)
	default:
		s.w[2], c = bits.Sub64(s.w[2], lo, 0)
	}
	if c != 0 {
		panic("exactsum: Sub of a term the sum does not hold")
	}
}

// place locates a term in the window: its bits as lo and hi, shifted to
// start at limb (0, 1 or 2; at limb 2 only lo counts, the term being below
// 2^fastMax). ok is false for a term the window cannot hold, which
// goes to the wide part (or is rejected there).
func place(t float64) (lo, hi uint64, limb int, ok bool) {
	b := math.Float64bits(t)
	exp := int(b >> 52)
	mant := b&(1<<52-1) | 1<<52
	tz := bits.TrailingZeros64(mant)
	shift := exp - 1075 - windowLSB + tz  // position of the term's lowest set bit in the window
	if exp >= 1023+fastMax || shift < 0 { // exp 0 (±0, subnormals) gives shift < 0
		return 0, 0, 0, false
	}
	mant >>= tz
	return mant << (shift & 63), mant >> (64 - shift&63), shift >> 6, true // a shift by 64 gives 0
}

// addSlow adds a term the window cannot hold, or rejects an invalid one.
func (s *Sum) addSlow(t float64, b uint64) {
	switch {
	case b == 0 || b == 1<<63: // ±0
		return
	case b>>63 != 0 || math.IsInf(t, 0) || math.IsNaN(t):
		panic("exactsum: term must be finite and non-negative")
	}
	m, e := mantExp(b)
	s.wide().add(new(big.Int).SetUint64(m), e)
}

// subSlow removes a term of the wide part, or rejects an invalid one.
func (s *Sum) subSlow(t float64, b uint64) {
	switch {
	case b == 0 || b == 1<<63: // ±0
		return
	case b>>63 != 0 || math.IsInf(t, 0) || math.IsNaN(t):
		panic("exactsum: term must be finite and non-negative")
	case s.ext == nil:
		panic("exactsum: Sub of a term the sum does not hold")
	}
	m, e := mantExp(b)
	s.wide().sub(new(big.Int).SetUint64(m), e)
}

// AddProduct adds the exact product x·y, with no rounding: a square of a
// tiny score adds a tiny positive amount, never 0. x and y must be finite
// and non-negative, and their product below 2^1024.
func (s *Sum) AddProduct(x, y float64) {
	if !(x >= 0 && y >= 0) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		panic("exactsum: factors must be finite and non-negative")
	}
	if x == 0 || y == 0 {
		return
	}
	mx, ex := mantExp(math.Float64bits(x))
	my, ey := mantExp(math.Float64bits(y))
	hi, lo := bits.Mul64(mx, my) // at most 106 bits
	e := ex + ey
	if lo == 0 {
		lo, hi, e = hi, 0, e+64
	}
	tz := bits.TrailingZeros64(lo)
	lo, hi, e = lo>>tz|hi<<(64-tz), hi>>tz, e+tz
	shift := e - windowLSB
	width := 64 + bits.Len64(hi)
	if hi == 0 {
		width = bits.Len64(lo)
	}
	if shift < 0 || shift+width > 128+fastMax {
		prod := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		s.wide().add(prod.Or(prod, new(big.Int).SetUint64(lo)), e)
		return
	}
	off := uint(shift & 63)
	// A shift by 64 gives 0; the value's limbs above 2 are 0, since it lies
	// below 2^fastMax.
	v := [3]uint64{lo << off, lo>>(64-off) | hi<<off, hi >> (64 - off)}
	k := shift >> 6
	var c uint64
	s.w[0], c = bits.Add64(s.w[0], [3]uint64{v[0], 0, 0}[k], 0)
	s.w[1], c = bits.Add64(s.w[1], [3]uint64{v[1], v[0], 0}[k], c)
	s.w[2] += [3]uint64{v[2], v[1], v[0]}[k] + c
}

// mantExp splits a finite non-negative float64's bits into m·2^e.
func mantExp(b uint64) (m uint64, e int) {
	exp := int(b >> 52 & 0x7ff)
	m = b & (1<<52 - 1)
	if exp == 0 {
		return m, -1074 // subnormal
	}
	return m | 1<<52, exp - 1075
}

// wide returns s's wide part for writing: a fresh copy, since copies of a
// Sum share the old one (copy on write keeps Sums values; the wide path
// already allocates per term, so the copy costs little).
func (s *Sum) wide() *wide {
	w := new(wide)
	if s.ext != nil {
		*w = *s.ext
	}
	s.ext = w
	return w
}

// add adds m·2^e, which lies in the wide range.
func (w *wide) add(m *big.Int, e int) {
	shift := e - wideLSB
	if shift < 0 || shift+m.BitLen() > 64*wideLimbs-41 {
		panic("exactsum: term outside the supported range")
	}
	v := new(big.Int).Lsh(m, uint(shift))
	var c uint64
	words := v.Bits()
	for k := range w {
		var x uint64
		if k < len(words) {
			x = uint64(words[k])
		} else if c == 0 {
			break
		}
		w[k], c = bits.Add64(w[k], x, c)
	}
}

// sub subtracts m·2^e, which lies in the wide range, panicking if w is
// smaller.
func (w *wide) sub(m *big.Int, e int) {
	words := new(big.Int).Lsh(m, uint(e-wideLSB)).Bits()
	var c uint64
	for k := range w {
		var x uint64
		if k < len(words) {
			x = uint64(words[k])
		} else if c == 0 {
			break
		}
		w[k], c = bits.Sub64(w[k], x, c)
	}
	if c != 0 {
		panic("exactsum: Sub of a term the sum does not hold")
	}
}

// Merge adds another sum.
func (s *Sum) Merge(o Sum) {
	var c uint64
	s.w[0], c = bits.Add64(s.w[0], o.w[0], 0)
	s.w[1], c = bits.Add64(s.w[1], o.w[1], c)
	s.w[2] += o.w[2] + c
	if o.ext != nil {
		w := s.wide()
		c = 0
		for k := range w {
			w[k], c = bits.Add64(w[k], o.ext[k], c)
		}
	}
}

// Equal reports whether two sums hold the same value.
func (s Sum) Equal(o Sum) bool {
	if s.ext == nil && o.ext == nil {
		return s.w == o.w
	}
	return s.big().Cmp(o.big()) == 0
}

// IsZero reports whether the sum is 0.
func (s Sum) IsZero() bool { return s.Equal(Sum{}) }

// big returns the exact value as an integer count of 2^wideLSB.
func (s Sum) big() *big.Int {
	win := new(big.Int).SetBits([]big.Word{big.Word(s.w[0]), big.Word(s.w[1]), big.Word(s.w[2])})
	v := win.Lsh(win, uint(windowLSB-wideLSB))
	if s.ext != nil {
		words := make([]big.Word, wideLimbs)
		for k, x := range s.ext {
			words[k] = big.Word(x)
		}
		v.Add(v, new(big.Int).SetBits(words))
	}
	return v
}

// bigFloat returns the exact value.
func (s Sum) bigFloat() *big.Float {
	f := new(big.Float).SetInt(s.big())
	return f.SetMantExp(f, wideLSB)
}

// Float64 rounds the sum to the nearest float64 (ties to even; +Inf past
// the largest float64).
func (s Sum) Float64() float64 {
	if s.ext != nil {
		f, _ := s.bigFloat().Float64()
		return f
	}
	return roundWindow(s.w)
}

// roundWindow rounds a window value (at least 2^-128 when not 0, so the
// result is a normal float64) to nearest, ties to even.
func roundWindow(w [3]uint64) float64 {
	top := 2
	for top > 0 && w[top] == 0 {
		top--
	}
	if w[top] == 0 {
		return 0
	}
	// The 64 bits from the highest set bit down, and whether any bit below
	// them is set.
	lz := bits.LeadingZeros64(w[top])
	head := w[top] << lz
	var sticky bool
	if top > 0 {
		head |= w[top-1] >> (64 - lz) & mask(lz)
		sticky = w[top-1]<<lz != 0 || top == 2 && w[0] != 0
	}
	exp := 64*top + windowLSB + 63 - lz // exponent of head's top bit
	// Keep 53 bits; round on the 54th and the rest.
	m := head >> 11
	half := head >> 10 & 1
	below := head&(1<<10-1) != 0 || sticky
	if half == 1 && (below || m&1 == 1) {
		m++
	}
	return math.Ldexp(float64(m), exp-52)
}

// mask returns the low n bits set (n in [0, 64]).
func mask(n int) uint64 {
	if n == 0 {
		return 0
	}
	return 1<<n - 1
}

// Sqrt returns the square root of the sum, rounded from the exact value:
// the norm of a column summed with AddProduct is positive whenever one of
// its scores is, however small.
func (s Sum) Sqrt() float64 {
	if s.ext == nil {
		return math.Sqrt(s.Float64()) // the window's values are normal floats
	}
	f := new(big.Float).SetPrec(64).Sqrt(s.bigFloat())
	r, _ := f.Float64()
	return r
}
