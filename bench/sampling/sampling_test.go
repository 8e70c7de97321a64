package sampling_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/recsys/itemsim/bench/data"
	"github.com/recsys/itemsim/bench/sampling"
	"github.com/recsys/itemsim/bench/synth"
	"github.com/recsys/itemsim/transforms/dimsum"
)

// bruteMoments enumerates the 2^L keep patterns.
func bruteMoments(p []float64) sampling.Moments {
	var m, m2 float64
	for mask := 0; mask < 1<<len(p); mask++ {
		prob, k := 1.0, 0
		for i, x := range p {
			if mask&(1<<i) != 0 {
				prob *= x
				k++
			} else {
				prob *= 1 - x
			}
		}
		c := float64(k * (k - 1) / 2)
		m += prob * c
		m2 += prob * c * c
	}
	return sampling.Moments{Mean: m, Var: m2 - m*m}
}

func TestUserMomentsMatchEnumeration(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    []float64
	}{
		{"empty", nil},
		{"one", []float64{0.3}},
		{"all kept", []float64{1, 1, 1, 1}},
		{"none kept", []float64{0, 0, 0}},
		{"pair", []float64{0.5, 0.25}},
		{"mixed", []float64{1, 0.9, 0.5, 0.1, 1, 0.33}},
		{"uniform", []float64{0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, want := sampling.UserMoments(tc.p), bruteMoments(tc.p)
			// Enumeration sums 2^L rounded terms: compare relatively.
			if math.Abs(got.Mean-want.Mean) > 1e-9*(1+want.Mean) || math.Abs(got.Var-want.Var) > 1e-9*(1+want.Var) {
				t.Errorf("UserMoments(%v) = %+v, enumeration gives %+v", tc.p, got, want)
			}
		})
	}
}

// sampledSet is a 100k-interaction synthetic log whose items are popular
// enough to be sampled. With the production weights (views 0.5, scores
// divided by the clip 6) no item of a 100k log has a norm above sg, and
// nothing would be sampled, so the check would hold trivially; binary
// weights and a 200-item catalogue give norms well above sg.
func sampledSet(t *testing.T) *data.Matrix {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.Write(f, synth.Config{Interactions: 100_000, Items: 200, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := data.LoadSource(data.Source{Path: path, Format: "csv", Header: true, User: "user",
		Item: "productSku", Action: "type", Weights: "1:1,2:1,3:1"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEmittedPairsMatchTheory checks the library's sampling against its
// expectation: the emitted pair count is within 1% or 3 standard deviations
// (whichever is larger) of Σ_u e2(p).
func TestEmittedPairsMatchTheory(t *testing.T) {
	m := sampledSet(t)
	for _, threshold := range []float64{0.5, 0.2, 0.1, 0.05} {
		c := sampling.Estimate(m, threshold, 42, func(int32, dimsum.Row) {})
		mo := sampling.PairMoments(m, threshold)
		sd := math.Sqrt(mo.Var)
		diff := float64(c.PairsEmitted) - mo.Mean
		t.Logf("threshold %g: emitted %d, expected %.0f ± %.0f (%.2f sd), %d of %d entries dropped",
			threshold, c.PairsEmitted, mo.Mean, sd, diff/sd, c.EntriesDropped, c.EntriesDropped+c.EntriesKept)
		if n := sampling.Count(m, threshold, 42); n.PairsEmitted != c.PairsEmitted || n.EntriesKept != c.EntriesKept ||
			n.EntriesDropped != c.EntriesDropped {
			t.Errorf("threshold %g: Count %+v disagrees with Estimate %+v", threshold, n, c)
		}
		if c.EntriesDropped == 0 {
			t.Errorf("threshold %g: nothing sampled, the check would be vacuous", threshold)
		}
		if math.Abs(diff) > max(0.01*mo.Mean, 3*sd) {
			t.Errorf("threshold %g: emitted %d pairs, expected %.0f, sd %.0f", threshold, c.PairsEmitted, mo.Mean, sd)
		}
	}
}

// TestEmittedPairsSpreadMatchesTheory checks the variance formula against
// the spread of the count over seeds: with 40 seeds, the ratio of the
// sample variance to the true one is about χ²₃₉/39 (mean 1, sd 0.23), and
// [0.35, 1.7] is about 3 sd either side.
func TestEmittedPairsSpreadMatchesTheory(t *testing.T) {
	if testing.Short() {
		t.Skip("40 sampling runs")
	}
	m := sampledSet(t)
	const threshold, seeds = 0.2, 40
	mo := sampling.PairMoments(m, threshold)
	var sum, sq float64
	for seed := range uint64(seeds) {
		n := float64(sampling.Estimate(m, threshold, seed, func(int32, dimsum.Row) {}).PairsEmitted)
		sum += n
		sq += n * n
	}
	mean := sum / seeds
	variance := (sq - seeds*mean*mean) / (seeds - 1)
	t.Logf("over %d seeds: mean %.0f (theory %.0f), variance %.0f (theory %.0f)", seeds, mean, mo.Mean, variance, mo.Var)
	if r := variance / mo.Var; r < 0.35 || r > 1.7 {
		t.Errorf("sample variance %.0f is %.2f× the theory's %.0f", variance, r, mo.Var)
	}
	if se := math.Sqrt(mo.Var / seeds); math.Abs(mean-mo.Mean) > 4*se {
		t.Errorf("mean over seeds %.0f, theory %.0f, standard error %.0f", mean, mo.Mean, se)
	}
}
