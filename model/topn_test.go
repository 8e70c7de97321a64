package model

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// bruteTop sorts everything by the order written out independently of
// Order (score descending, then id ascending) and keeps n: the reference
// for Insert and Merge.
func bruteTop(cs []Candidate, n int) []Candidate {
	s := slices.Clone(cs)
	sort.Slice(s, func(i, j int) bool {
		return s[i].Score > s[j].Score || s[i].Score == s[j].Score && s[i].ID < s[j].ID
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
		var l []Candidate
		for _, c := range cs {
			l = Insert(l, c, n)
		}
		if !slices.Equal(l, want) {
			t.Fatalf("Insert: got %v, want %v", l, want)
		}
		// Any split merged in any order gives the same list.
		cut := 0
		if len(cs) > 0 {
			cut = r.IntN(len(cs))
		}
		var a, b []Candidate
		for _, c := range cs[:cut] {
			a = Insert(a, c, n)
		}
		for _, c := range cs[cut:] {
			b = Insert(b, c, n)
		}
		if got := Merge(a, b, n); !slices.Equal(got, want) {
			t.Fatalf("Merge(a, b): got %v, want %v", got, want)
		}
		if got := Merge(b, a, n); !slices.Equal(got, want) {
			t.Fatalf("Merge(b, a): got %v, want %v", got, want)
		}
	}
}

// TestInsertByHand follows a list of 3 through inserts written out by hand.
func TestInsertByHand(t *testing.T) {
	var l []Candidate
	steps := []struct {
		in   Candidate
		want []Candidate
	}{
		{Candidate{5, 0.5}, []Candidate{{5, 0.5}}},
		{Candidate{7, 0.9}, []Candidate{{7, 0.9}, {5, 0.5}}},
		{Candidate{2, 0.5}, []Candidate{{7, 0.9}, {2, 0.5}, {5, 0.5}}}, // tie: the smaller id first
		{Candidate{9, 0.5}, []Candidate{{7, 0.9}, {2, 0.5}, {5, 0.5}}}, // full, and ranks after the last: dropped
		{Candidate{1, 0.5}, []Candidate{{7, 0.9}, {1, 0.5}, {2, 0.5}}}, // ranks before 5: 5 drops out
		{Candidate{3, 1.0}, []Candidate{{3, 1.0}, {7, 0.9}, {1, 0.5}}},
	}
	for k, s := range steps {
		l = Insert(l, s.in, 3)
		if !slices.Equal(l, s.want) {
			t.Fatalf("step %d, insert %v: got %v, want %v", k, s.in, l, s.want)
		}
	}
	if got := Insert([]Candidate(nil), Candidate{1, 1}, 0); len(got) != 0 {
		t.Errorf("n = 0 keeps %v", got)
	}
	if got := Merge([]Candidate{{1, 1}}, []Candidate{{2, 1}}, 0); len(got) != 0 {
		t.Errorf("Merge with n = 0 keeps %v", got)
	}
}

func TestOrder(t *testing.T) {
	tests := []struct {
		a, b Candidate
		want int
	}{
		{Candidate{1, 0.9}, Candidate{0, 0.5}, -1}, // higher score first
		{Candidate{0, 0.5}, Candidate{1, 0.9}, 1},
		{Candidate{1, 0.5}, Candidate{2, 0.5}, -1}, // tie: smaller id first
		{Candidate{2, 0.5}, Candidate{1, 0.5}, 1},
		{Candidate{1, 0.5}, Candidate{1, 0.5}, 0},
	}
	for _, tc := range tests {
		if got := tc.a.Compare(tc.b); got != tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	// Item ids compare as strings ("10" < "9"), user counts as integers
	// (above 2^53, where float64 would merge them).
	pop := []PopularItem{{"9", 2}, {"10", 2}, {"b", 1 << 60}, {"a", 1<<60 + 1}, {"z", 3}}
	slices.SortFunc(pop, PopularItem.Compare)
	if want := []PopularItem{{"a", 1<<60 + 1}, {"b", 1 << 60}, {"z", 3}, {"10", 2}, {"9", 2}}; !slices.Equal(pop, want) {
		t.Errorf("popular order %v, want %v", pop, want)
	}
	ns := []Neighbor{{"c", 0.25}, {"b", 0.5}, {"a", 0.25}}
	slices.SortFunc(ns, Neighbor.Compare)
	if want := []Neighbor{{"b", 0.5}, {"a", 0.25}, {"c", 0.25}}; !slices.Equal(ns, want) {
		t.Errorf("neighbour order %v, want %v", ns, want)
	}
}
