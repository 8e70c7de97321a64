package topn

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// bruteTop sorts everything and keeps n: the reference for Insert and Merge.
func bruteTop(cs []Candidate, n int) []Candidate {
	s := slices.Clone(cs)
	slices.SortFunc(s, func(a, b Candidate) int {
		if Better(a, b) {
			return -1
		}
		if Better(b, a) {
			return 1
		}
		return 0
	})
	return s[:min(n, len(s))]
}

func randomCandidates(r *rand.Rand, k int) []Candidate {
	cs := make([]Candidate, k)
	for i := range cs {
		// Few distinct scores, so ties are common.
		cs[i] = Candidate{ID: int32(i), Score: float64(r.IntN(5)) / 4}
	}
	r.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
	return cs
}

func TestInsertAndMergeMatchSorting(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for trial := 0; trial < 200; trial++ {
		n := 1 + r.IntN(6)
		cs := randomCandidates(r, r.IntN(30))
		want := bruteTop(cs, n)
		var l List
		for _, c := range cs {
			l.Insert(c, n)
		}
		if !slices.Equal(l.C, want) {
			t.Fatalf("Insert: got %v, want %v", l.C, want)
		}
		// Any split merged in any order gives the same list.
		cut := 0
		if len(cs) > 0 {
			cut = r.IntN(len(cs))
		}
		var a, b List
		for _, c := range cs[:cut] {
			a.Insert(c, n)
		}
		for _, c := range cs[cut:] {
			b.Insert(c, n)
		}
		if got := Merge(a, b, n); !slices.Equal(got.C, want) {
			t.Fatalf("Merge(a, b): got %v, want %v", got.C, want)
		}
		if got := Merge(b, a, n); !slices.Equal(got.C, want) {
			t.Fatalf("Merge(b, a): got %v, want %v", got.C, want)
		}
	}
}

func TestBetterBreaksTiesByID(t *testing.T) {
	tests := []struct {
		a, b Candidate
		want bool
	}{
		{Candidate{1, 0.9}, Candidate{0, 0.5}, true},
		{Candidate{1, 0.5}, Candidate{2, 0.5}, true},
		{Candidate{2, 0.5}, Candidate{1, 0.5}, false},
		{Candidate{1, 0.5}, Candidate{1, 0.5}, false},
	}
	for _, tc := range tests {
		if got := Better(tc.a, tc.b); got != tc.want {
			t.Errorf("Better(%v, %v) = %v", tc.a, tc.b, got)
		}
	}
}

func TestCombiner(t *testing.T) {
	c := &Combiner{N: 2}
	acc := c.CreateAccumulator()
	acc = c.AddInput(acc, List{C: []Candidate{{3, 0.2}, {4, 0.1}}})
	acc = c.MergeAccumulators(acc, List{C: []Candidate{{5, 0.3}}})
	if got := c.ExtractOutput(acc); !slices.Equal(got.C, []Candidate{{5, 0.3}, {3, 0.2}}) {
		t.Errorf("combined %v", got.C)
	}
}
