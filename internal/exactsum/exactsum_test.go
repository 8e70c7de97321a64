package exactsum

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exact is the reference: math/big at a precision that holds every sum of
// the tests exactly (2^-2176 … 2^1088 needs 3,264 bits).
type exact struct{ f *big.Float }

func newExact() exact { return exact{new(big.Float).SetPrec(4000)} }

func (e exact) add(t float64) { e.f.Add(e.f, new(big.Float).SetFloat64(t)) }

func (e exact) addProduct(x, y float64) {
	p := new(big.Float).SetPrec(4000).SetFloat64(x)
	e.f.Add(e.f, p.Mul(p, new(big.Float).SetFloat64(y)))
}

// float64 is the correctly rounded value (big.Float rounds to nearest even).
func (e exact) float64() float64 { f, _ := e.f.Float64(); return f }

// TestCorrectlyRounded checks cases by hand where a truncating or
// floating-point sum gives another answer: every result must be the
// correctly rounded exact sum.
func TestCorrectlyRounded(t *testing.T) {
	sub := math.SmallestNonzeroFloat64 // 2^-1074
	tests := []struct {
		name  string
		terms []float64
		want  float64
	}{
		{"empty", nil, 0},
		{"zero and negative zero", []float64{0, math.Copysign(0, -1)}, 0},
		{"one", []float64{1}, 1},
		{"halves carry into the integer part", []float64{0.5, 0.5, 0.75}, 1.75},
		// 0.1+0.2+0.3 in float64 is 0.6000000000000001; the exact sum of
		// the three doubles rounds to 0.6.
		{"tenths", []float64{0.1, 0.2, 0.3}, 0.6},
		// The seed's decay case: a square below the old 2^-64 resolution.
		{"tiny alone", []float64{0x1p-82}, 0x1p-82},
		{"tiny below the window", []float64{0x1.8p-140}, 0x1.8p-140},
		{"subnormals", []float64{sub, sub, 3 * sub}, 5 * sub},
		// 2^53 + 1 is not a float64; the exact sum of 2^53, 0.5 and 0.5
		// is 2^53+1, a tie that rounds to even (2^53), while 2^53+1+2^-60
		// rounds up.
		{"tie to even", []float64{0x1p53, 0.5, 0.5}, 0x1p53},
		{"sticky bit far below", []float64{0x1p53, 1, 0x1p-60}, 0x1p53 + 2},
		{"sticky bit in the lowest limb", []float64{0x1p53, 1, 0x1p-100}, 0x1p53 + 2},
		// The same inside the window (terms below 2^24): 2^23 + 2^-30 is a
		// tie between 2^23 and 2^23 + 2^-29.
		{"tie to even in the window", []float64{0x1p23, 0x1p-30}, 0x1p23},
		{"sticky bit in the window's lowest limb", []float64{0x1p23, 0x1p-30, 0x1p-100}, 0x1p23 + 0x1p-29},
		{"sticky bit in the window's middle limb", []float64{1, 0x1p-53, 0x1p-64}, 1 + 0x1p-52},
		{"sticky bit in the wide part", []float64{1, 0x1p-53, 0x1p-1000}, 1 + 0x1p-52},
		{"large and small", []float64{1e12, 1e-6}, 1e12 + 1e-6},
		{"huge", []float64{1e300, 1e300}, 2e300},
		{"largest float64", []float64{math.MaxFloat64}, math.MaxFloat64},
		{"overflow to +Inf", []float64{math.MaxFloat64, math.MaxFloat64}, math.Inf(1)},
		{"huge and tiny", []float64{1e300, sub, 1e-300}, 1e300},
		// 2^24 is the first term past the window: it and a window term
		// land in different parts and still add exactly.
		{"window edge", []float64{0x1p24, 0x1p24 - 0x1p-28, 0x1p-28}, 0x1p25},
	}
	for _, tc := range tests {
		ref := newExact()
		for _, x := range tc.terms {
			ref.add(x)
		}
		if ref.float64() != tc.want {
			t.Fatalf("%s: the hand value %v is not the correctly rounded %v", tc.name, tc.want, ref.float64())
		}
		if got := Of(tc.terms...).Float64(); got != tc.want {
			t.Errorf("%s: got %v (%x), want %v (%x)", tc.name, got, math.Float64bits(got), tc.want, math.Float64bits(tc.want))
		}
	}
}

// TestNoTermIsDropped adds one tiny term to sums of every scale: a sum that
// truncates terms (as the old 2^-64 fixed point did) loses it.
func TestNoTermIsDropped(t *testing.T) {
	for e := -1074; e < 1000; e += 7 {
		tiny := math.Ldexp(1, e)
		for _, base := range []float64{0, 1, 0x1p-100, 6} {
			var with, without Sum
			with.Add(base)
			without.Add(base)
			with.Add(tiny)
			if with.Equal(without) {
				t.Fatalf("adding 2^%d to %v changed nothing", e, base)
			}
			without.Add(tiny)
			if !with.Equal(without) {
				t.Fatalf("2^%d + %v: the same terms give different sums", e, base)
			}
		}
	}
}

// randomTerm draws terms over the whole float64 range, with the short and
// long mantissas, integers and subnormals the pipeline produces.
func randomTerm(r *rand.Rand) float64 {
	switch r.IntN(6) {
	case 0:
		return float64(r.IntN(13)) / 2 // action weights
	case 1:
		return r.Float64() * 6 * math.Exp2(-r.Float64()*60) // decayed weights
	case 2:
		return r.Float64() * r.Float64() // products of normalised scores
	case 3:
		return math.Float64frombits(r.Uint64N(1 << 52)) // subnormal
	case 4:
		return math.Ldexp(r.Float64(), r.IntN(2000)-1000)
	default:
		return math.Ldexp(1, r.IntN(60)-40)
	}
}

// TestOrderIndependentAndExact checks the property the package exists for
// on terms spanning the whole range: any order and any split into merged
// partial sums give the same value, and it is the correctly rounded exact
// sum, while plain float64 addition depends on the order.
func TestOrderIndependentAndExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 30; round++ {
		terms := make([]float64, 1+r.IntN(400))
		ref := newExact()
		for i := range terms {
			terms[i] = randomTerm(r)
			ref.add(terms[i])
		}
		want := Of(terms...)
		if got := want.Float64(); got != ref.float64() {
			t.Fatalf("round %d: sum %v, correctly rounded %v", round, got, ref.float64())
		}
		for trial := 0; trial < 10; trial++ {
			r.Shuffle(len(terms), func(i, j int) { terms[i], terms[j] = terms[j], terms[i] })
			cut := r.IntN(len(terms) + 1)
			a, b := Of(terms[:cut]...), Of(terms[cut:]...)
			b.Merge(a)
			if !b.Equal(want) || b.Float64() != want.Float64() {
				t.Fatalf("round %d trial %d: merged sum %v differs from %v", round, trial, b.Float64(), want.Float64())
			}
		}
	}
}

// TestSubRemovesExactly: a sum after random additions and removals (of
// terms it holds, in any order, across merges) equals the sum of the terms
// still present, bit for bit, and the correctly rounded exact value; it
// is 0 once every term is removed.
func TestSubRemovesExactly(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 40; round++ {
		var s Sum
		var present []float64
		for step := 0; step < 600; step++ {
			if len(present) > 0 && r.IntN(3) == 0 {
				k := r.IntN(len(present))
				s.Sub(present[k])
				present[k] = present[len(present)-1]
				present = present[:len(present)-1]
				continue
			}
			x := randomTerm(r)
			if r.IntN(4) == 0 { // arrive inside a merged partial sum
				s.Merge(Of(x))
			} else {
				s.Add(x)
			}
			present = append(present, x)
		}
		ref := newExact()
		for _, x := range present {
			ref.add(x)
		}
		if want := Of(present...); !s.Equal(want) || s.Float64() != want.Float64() || s.Float64() != ref.float64() {
			t.Fatalf("round %d: %v after removals, want %v (exact %v)", round, s.Float64(), want.Float64(), ref.float64())
		}
		for _, x := range present {
			s.Sub(x)
		}
		if !s.IsZero() || s.Float64() != 0 {
			t.Fatalf("round %d: %v after removing every term, want 0", round, s.Float64())
		}
	}
}

// TestSubOfAbsentTermPanics: removing what was never added (from the
// window or from the wide part) is the caller's bug, not a negative sum.
func TestSubOfAbsentTermPanics(t *testing.T) {
	for _, c := range []struct {
		name  string
		held  []float64
		taken float64
	}{
		{"window", []float64{2}, 6},
		{"empty window", nil, 0.5},
		{"wide, none held", []float64{2}, 1e-300},
		{"wide, a smaller one held", []float64{1e-310}, 1e-300},
		{"negative", []float64{2}, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Sub(%v) of a sum of %v did not panic", c.taken, c.held)
				}
			}()
			s := Of(c.held...)
			s.Sub(c.taken)
		})
	}
}

// TestAddProductIsExact checks products against math/big, including the
// squares of scores so small that float64 squares underflow to 0.
func TestAddProductIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := [][2]float64{{1e-300, 1e-300}, {math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64},
		{0x1p-41, 0x1p-41}, {1.0 / 12, 1.0 / 12}, {0.1, 0.3}, {1e150, 1e150}, {0, 5}, {7, 0}}
	for i := 0; i < 2000; i++ {
		cases = append(cases, [2]float64{randomTerm(r), randomTerm(r)})
	}
	var all Sum
	allRef := newExact()
	for _, c := range cases {
		if c[0]*c[1] >= 0x1p1000 {
			continue
		}
		var s Sum
		s.AddProduct(c[0], c[1])
		ref := newExact()
		ref.addProduct(c[0], c[1])
		allRef.addProduct(c[0], c[1])
		all.AddProduct(c[0], c[1])
		if s.Float64() != ref.float64() {
			t.Fatalf("%v·%v: got %v, want %v", c[0], c[1], s.Float64(), ref.float64())
		}
		if c[0] > 0 && c[1] > 0 && s.IsZero() {
			t.Fatalf("%v·%v: a positive product added nothing", c[0], c[1])
		}
	}
	if all.Float64() != allRef.float64() {
		t.Fatalf("sum of products: got %v, want %v", all.Float64(), allRef.float64())
	}
	var sq Sum
	sq.AddProduct(1e-300, 1e-300)
	if got := sq.Sqrt(); math.Abs(got-1e-300) > 1e-315 {
		t.Errorf("sqrt of (1e-300)²: got %v", got)
	}
}

// TestTermLimit checks the headroom MaxTerms promises: 2^40 copies of the
// largest window term and of the largest float64 still add exactly (by
// doubling: each merge doubles the number of terms).
func TestTermLimit(t *testing.T) {
	for _, term := range []float64{0x1p24 - 0x1p-28, math.MaxFloat64, 0x1p-1074} {
		s := Of(term)
		for k := 0; k < 40; k++ {
			s.Merge(s)
		}
		ref := new(big.Float).SetPrec(4000).SetFloat64(term)
		ref.SetMantExp(ref, 40)
		want, _ := ref.Float64()
		if got := s.Float64(); got != want {
			t.Errorf("2^40 × %v: got %v, want %v", term, got, want)
		}
		if !s.bigFloat().IsInt() && ref.Cmp(s.bigFloat()) != 0 || ref.Cmp(s.bigFloat()) != 0 {
			t.Errorf("2^40 × %v: the exact value differs", term)
		}
	}
}

// TestCopiesAreIndependent: a copy of a sum with a wide part, added to or
// merged into, leaves the original as it was.
func TestCopiesAreIndependent(t *testing.T) {
	orig := Of(0x1p-140, 1e300)
	want := orig.Float64()
	c := orig
	c.Add(0x1p-150)
	c.Merge(orig)
	d := orig
	d.AddProduct(1e-200, 1e-200)
	if orig.Float64() != want || !orig.Equal(Of(0x1p-140, 1e300)) {
		t.Fatalf("the original changed to %v", orig.Float64())
	}
}

func TestInvalidTermsPanic(t *testing.T) {
	for _, bad := range []float64{-1, -math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Add(%v) did not panic", bad)
				}
			}()
			var s Sum
			s.Add(bad)
		}()
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AddProduct(%v, 1) did not panic", bad)
				}
			}()
			var s Sum
			s.AddProduct(bad, 1)
		}()
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	sums := []Sum{{}, Of(0.5), Of(6, 2, 0.5), Of(0x1p-130), Of(1e300, 0.1), Of(0x1p-100)}
	for i := 0; i < 200; i++ {
		terms := make([]float64, r.IntN(5))
		for k := range terms {
			terms[k] = randomTerm(r)
		}
		sums = append(sums, Of(terms...))
	}
	var b []byte
	for _, s := range sums {
		n := len(b)
		b = s.AppendBinary(b)
		if got := len(b) - n; got != s.EncodedLen() {
			t.Fatalf("EncodedLen %d, wrote %d", s.EncodedLen(), got)
		}
	}
	for i, want := range sums {
		got, n, err := Decode(b)
		if err != nil || !got.Equal(want) {
			t.Fatalf("sum %d: decoded %v (%v), want %v", i, got.Float64(), err, want.Float64())
		}
		b = b[n:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left over", len(b))
	}
	if n := len(Of(6, 2, 0.5).AppendBinary(nil)); n != 3 {
		t.Errorf("a sum of weights takes %d bytes, want 3", n)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Of(0.5).AppendBinary(nil))
	f.Add(Of(1e300, 0x1p-130, 0.1).AppendBinary(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, n, err := Decode(b)
		if err != nil {
			return
		}
		again := s.AppendBinary(nil)
		if string(again) != string(b[:n]) {
			t.Fatalf("re-encoding %x gives %x", b[:n], again)
		}
		_ = s.Float64()
	})
}

// BenchmarkAdd is the hot loop's cost per term: products of normalised
// scores, which land in the window.
func BenchmarkAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	terms := make([]float64, 1024)
	for i := range terms {
		terms[i] = r.Float64() * r.Float64() * 0.01
	}
	var s Sum
	for i := 0; b.Loop(); i++ {
		s.Add(terms[i&1023])
	}
}
