package exactsum

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestAddSmallCases(t *testing.T) {
	tests := []struct {
		name  string
		terms []float64
		want  float64
	}{
		{"empty", nil, 0},
		{"one", []float64{1}, 1},
		{"halves carry into the integer part", []float64{0.5, 0.5, 0.75}, 1.75},
		{"tenths", []float64{0.1, 0.2, 0.3}, 0.6},
		{"large and small", []float64{1e12, 1e-6}, 1e12 + 1e-6},
	}
	for _, tc := range tests {
		var s Sum
		for _, x := range tc.terms {
			s.Add(x)
		}
		if got := s.Float64(); math.Abs(got-tc.want) > 1e-15*math.Max(1, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestOrderIndependent checks the property the package exists for: any
// order and any split into partial sums give the same bits, while plain
// float64 addition does not.
func TestOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	terms := make([]float64, 10000)
	for i := range terms {
		terms[i] = r.Float64() * math.Pow(10, float64(r.IntN(6)-3))
	}
	var ref Sum
	naive := 0.0
	for _, x := range terms {
		ref.Add(x)
		naive += x
	}
	floatDiffers := false
	for trial := 0; trial < 20; trial++ {
		r.Shuffle(len(terms), func(i, j int) { terms[i], terms[j] = terms[j], terms[i] })
		cut := r.IntN(len(terms))
		var a, b Sum
		f := 0.0
		for i, x := range terms {
			if i < cut {
				a.Add(x)
			} else {
				b.Add(x)
			}
			f += x
		}
		b.Merge(a)
		if b != ref {
			t.Fatalf("trial %d: sum %+v differs from %+v", trial, b, ref)
		}
		floatDiffers = floatDiffers || f != naive
	}
	if !floatDiffers {
		t.Log("plain float addition happened to be order-independent on this input")
	}
	if got := ref.Float64(); math.Abs(got-naive) > 1e-9*naive {
		t.Errorf("fixed-point sum %v is far from float sum %v", got, naive)
	}
}
