package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/recsys/itemsim/internal/gtest"
)

func TestLogLikelihoodRatio(t *testing.T) {
	// By hand: a perfectly associated 1+1 table is 4·ln 2, 10+10 is 40·ln 2;
	// an independent table is 0.
	for _, c := range []struct{ k11, k12, k21, k22, want float64 }{
		{1, 0, 0, 1, 4 * math.Ln2},
		{10, 0, 0, 10, 40 * math.Ln2},
		{5, 5, 5, 5, 0},
		{0, 0, 0, 0, 0},
	} {
		if got := LogLikelihoodRatio(c.k11, c.k12, c.k21, c.k22); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("LLR(%v, %v, %v, %v) = %v, want %v", c.k11, c.k12, c.k21, c.k22, got, c.want)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		k := [4]float64{}
		for x := range k {
			k[x] = float64(r.IntN(1000))
		}
		got, want := LogLikelihoodRatio(k[0], k[1], k[2], k[3]), gtest.G(k[0], k[1], k[2], k[3])
		if math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Fatalf("LLR%v = %v, G-test %v", k, got, want)
		}
	}
}

func TestFromCounts(t *testing.T) {
	// c_ij = 2 of c_i = 4 and c_j = 3, among 10 users.
	for _, c := range []struct {
		s    Similarity
		want float64
	}{
		{Similarity{Measure: Jaccard}, 2.0 / 5},
		{Similarity{Measure: Lift}, 2.0 / 12},
		{Similarity{Measure: Cooccurrence}, 2},
		{Similarity{Measure: Cooccurrence, Shrinkage: 2}, 1},
		{Similarity{Measure: LLR}, 1 - 1/(1+gtest.G(2, 2, 1, 5))},
	} {
		if got := c.s.FromCounts(2, 4, 3, 10); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%+v: %v, want %v", c.s, got, c.want)
		}
	}
}

func TestFromCosine(t *testing.T) {
	// dot = 0.5·4·1 = 2: s_ij = 2/(4^1.5·1^0.5) = 0.25, s_ji = 2/(1^1.5·4^0.5) = 1.
	s := Similarity{Measure: Cosine, Alpha: 0.75}
	if ij, ji := s.FromCosine(0.5, 4, 1, 3); math.Abs(ij-0.25) > 1e-15 || math.Abs(ji-1) > 1e-15 {
		t.Errorf("asymmetric: %v, %v; want 0.25, 1", ij, ji)
	}
	s = Similarity{Measure: Cosine, Alpha: 0.5, Shrinkage: 1}
	if ij, ji := s.FromCosine(0.5, 4, 1, 3); ij != 0.375 || ji != 0.375 {
		t.Errorf("shrunk: %v, %v; want 0.375 twice", ij, ji)
	}
}

func TestFromCorating(t *testing.T) {
	// Co-ratings 3 of items rated 4 and 9 in all: 3/√36 = 0.5; shrunk by
	// 2 users at λ 2: 0.25.
	c := Similarity{Measure: Corating, Alpha: 0.5}
	if got := c.FromCorating(3, 4, 9, 2); got != 0.5 {
		t.Errorf("corating = %v, want 0.5", got)
	}
	c.Shrinkage = 2
	if got := c.FromCorating(3, 4, 9, 2); got != 0.25 {
		t.Errorf("shrunk corating = %v, want 0.25", got)
	}
	if got := CoratingScore(1, 0, 9); got != 0 {
		t.Errorf("an item without ratings: %v, want 0", got)
	}
	if !Corating.SumsMinima() || Cosine.SumsMinima() || Jaccard.SumsMinima() || Corating.Binary() {
		t.Error("corating sums minima of scores; the others do not")
	}
}

func TestWeigh(t *testing.T) {
	idf := math.Log(4.4) // N = 10, n = 2: ln(1 + 8.5/2.5)
	if got := IDF(10, 2); math.Abs(got-idf) > 1e-15 {
		t.Errorf("IDF(10, 2) = %v, want %v", got, idf)
	}
	if got := IDF(10, 10); !(got > 0) {
		t.Errorf("IDF(10, 10) = %v, want > 0: a user with every item keeps a weight", got)
	}
	s := Similarity{Weighting: WeightBM25, BM25K1: 1.2, BM25B: 0.75}
	// 2·2.2/(1.2·(0.25 + 0.75·1) + 2) = 4.4/3.2
	if got := s.Weigh(2, 1, 10, 2); math.Abs(got-1.375*idf) > 1e-15 {
		t.Errorf("bm25 = %v, want %v", got, 1.375*idf)
	}
	if got := (Similarity{Weighting: WeightIDF}).Weigh(2, 7, 10, 2); got != 2*idf {
		t.Errorf("idf = %v, want %v", got, 2*idf)
	}
	if got := DefaultSimilarity().Weigh(2, 7, 10, 2); got != 2 {
		t.Errorf("none = %v, want 2", got)
	}
}

func TestSimilarityValidate(t *testing.T) {
	ok := DefaultSimilarity()
	if err := ok.Validate(0.1); err != nil {
		t.Errorf("cosine sampled: %v", err)
	}
	with := func(f func(*Similarity)) Similarity { s := DefaultSimilarity(); f(&s); return s }
	for _, c := range []struct {
		s         Similarity
		threshold float64
		want      string
	}{
		{with(func(s *Similarity) { s.Measure = "pearson" }), 0, "--measure"},
		{with(func(s *Similarity) { s.Weighting = "tfidf" }), 0, "--user_weighting"},
		{with(func(s *Similarity) { s.Alpha = 1.5 }), 0, "--asymmetric_alpha"},
		{with(func(s *Similarity) { s.Alpha = math.NaN() }), 0, "--asymmetric_alpha"},
		{with(func(s *Similarity) { s.Shrinkage = -1 }), 0, "--shrinkage"},
		{with(func(s *Similarity) { s.Shrinkage = math.Inf(1) }), 0, "--shrinkage"},
		{with(func(s *Similarity) { s.BM25K1 = 0 }), 0, "--bm25_k1"},
		{with(func(s *Similarity) { s.BM25B = 2 }), 0, "--bm25_b"},
		{with(func(s *Similarity) { s.Measure, s.Weighting = Lift, WeightIDF }), 0, "cosine only"},
		{with(func(s *Similarity) { s.Measure = LLR }), 0.2, "estimates cosine only"},
		{with(func(s *Similarity) { s.Measure = Corating }), 0.2, "estimates cosine only"},
		{with(func(s *Similarity) { s.Measure, s.Weighting = Corating, WeightBM25 }), 0, "minima"},
		{with(func(s *Similarity) { s.Measure, s.Alpha = Corating, 0.7 }), 0, "minima"},
		{with(func(s *Similarity) { s.Shrinkage = 3 }), 0.2, "plain cosine only"},
	} {
		if err := c.s.Validate(c.threshold); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v at %v: %v, want an error naming %q", c.s, c.threshold, err, c.want)
		}
	}
}

func TestMaxScoreAndSymmetry(t *testing.T) {
	for _, c := range []struct {
		s         Similarity
		max       float64
		symmetric bool
	}{
		{DefaultSimilarity(), 1, true},
		{Similarity{Measure: Cosine, Alpha: 0.8}, math.Inf(1), false},
		{Similarity{Measure: Jaccard, Alpha: 0.5}, 1, true},
		{Similarity{Measure: LLR, Alpha: 0.5}, 1, true},
		{Similarity{Measure: Lift, Alpha: 0.5}, 1, true},
		{Similarity{Measure: Cooccurrence, Alpha: 0.5}, math.Inf(1), true},
		{Similarity{Measure: Corating, Alpha: 0.5}, 1, true},
	} {
		if c.s.MaxScore() != c.max || c.s.Symmetric() != c.symmetric {
			t.Errorf("%+v: MaxScore %v, Symmetric %v; want %v, %v", c.s, c.s.MaxScore(), c.s.Symmetric(), c.max, c.symmetric)
		}
	}
}

func TestSimilarityString(t *testing.T) {
	for _, c := range []struct {
		s    Similarity
		want string
	}{
		{Similarity{}, "cosine"},
		{DefaultSimilarity(), "cosine"},
		{Similarity{Measure: LLR, Weighting: WeightNone, Alpha: 0.5, Shrinkage: 5}, "llr shrinkage=5"},
		{Similarity{Measure: Cosine, Weighting: WeightBM25, BM25K1: 1.2, BM25B: 0.75, Alpha: 0.8}, "cosine user_weighting=bm25 bm25_k1=1.2 bm25_b=0.75 asymmetric_alpha=0.8"},
	} {
		if got := c.s.String(); got != c.want {
			t.Errorf("%#v.String() = %q, want %q", c.s, got, c.want)
		}
	}
}

// TestCountScorer: the per-table scorer, with margins computed once per
// item, gives FromCounts' bits for every measure.
func TestCountScorer(t *testing.T) {
	counts := []int64{1, 7, 40, 1000}
	r := rand.New(rand.NewPCG(5, 6))
	for _, m := range []Measure{Jaccard, LLR, Lift, Cooccurrence} {
		for _, shrink := range []float64{0, 10} {
			s := Similarity{Measure: m, Shrinkage: shrink}
			c := s.NewCountScorer(counts, 5000)
			for range 200 {
				i, j := int32(r.IntN(len(counts))), int32(r.IntN(len(counts)))
				cij := float64(1 + r.Int64N(min(counts[i], counts[j])))
				if got, _ := c.Scores(i, j, cij); got != s.FromCounts(cij, float64(counts[i]), float64(counts[j]), 5000) {
					t.Fatalf("%+v: Scores(%d, %d, %v) = %v, FromCounts %v", s, i, j, cij, got, s.FromCounts(cij, float64(counts[i]), float64(counts[j]), 5000))
				}
			}
		}
	}
}

// TestRP3: by hand, a walk weight 0.5 between items of 4 and 9 users at
// β = 0.5 scores 0.5/4/3 in the first's list and 0.5/9/2 in the second's;
// an entry of a user with 4 items contributes 1/2 to each side.
func TestRP3(t *testing.T) {
	s := DefaultSimilarity()
	s.Measure = RP3Beta
	ij, ji := s.NewCountScorer([]int64{4, 9}, 20).Scores(0, 1, 0.5)
	if math.Abs(ij-0.5/12) > 1e-16 || math.Abs(ji-0.5/18) > 1e-16 {
		t.Errorf("Scores = %v, %v; want %v, %v", ij, ji, 0.5/12, 0.5/18)
	}
	if v := s.EntryValue(4); v != 0.5 {
		t.Errorf("EntryValue(4) = %v, want 0.5", v)
	}
	if s.Symmetric() || s.MaxScore() != 1 {
		t.Errorf("Symmetric %v, MaxScore %v; want false, 1", s.Symmetric(), s.MaxScore())
	}
	if err := s.Validate(0); err != nil {
		t.Error(err)
	}
	for _, bad := range []func(*Similarity){func(s *Similarity) { s.Beta = 3 }, func(s *Similarity) { s.Shrinkage = 1 }} {
		b := s
		bad(&b)
		if err := b.Validate(0); err == nil {
			t.Errorf("%+v: valid", b)
		}
	}
}
