package main

import (
	"math"
	"strings"
	"testing"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
)

type lists = map[string][]model.Neighbor

func nb(item string, score float64) model.Neighbor { return model.Neighbor{Item: item, Score: score} }

func TestCompare(t *testing.T) {
	ref := lists{"a": {nb("b", 0.9), nb("c", 0.5), nb("d", 0.5)}, "b": {nb("a", 0.9)}}
	for _, tc := range []struct {
		name       string
		got        lists
		mismatches int
		maxDiff    float64
	}{
		{"equal", lists{"a": {nb("b", 0.9), nb("c", 0.5), nb("d", 0.5)}, "b": {nb("a", 0.9)}}, 0, 0},
		{"rounding", lists{"a": {nb("b", 0.9+1e-15), nb("c", 0.5), nb("d", 0.5)}, "b": {nb("a", 0.9)}}, 0, 1e-15},
		{"tie swapped", lists{"a": {nb("b", 0.9), nb("d", 0.5), nb("c", 0.5)}, "b": {nb("a", 0.9)}}, 0, 0},
		{"tie at the cut", lists{"a": {nb("b", 0.9), nb("c", 0.5), nb("e", 0.5)}, "b": {nb("a", 0.9)}}, 0, 0},
		{"other neighbour", lists{"a": {nb("b", 0.9), nb("c", 0.5), nb("e", 0.4)}, "b": {nb("a", 0.9)}}, 1, 0.1},
		{"missing item", lists{"a": {nb("b", 0.9), nb("c", 0.5), nb("d", 0.5)}}, 1, 0},
		{"extra item", lists{"a": {nb("b", 0.9), nb("c", 0.5), nb("d", 0.5)}, "b": {nb("a", 0.9)}, "z": {nb("a", 0.1)}}, 1, 0},
		{"shorter list", lists{"a": {nb("b", 0.9), nb("c", 0.5)}, "b": {nb("a", 0.9)}}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := compare(ref, tc.got)
			if c.Mismatches != tc.mismatches || math.Abs(c.MaxAbsDiff-tc.maxDiff) > 1e-12 || c.Items != 2 {
				t.Errorf("compare = %+v, want %d mismatches, max diff %g", c, tc.mismatches, tc.maxDiff)
			}
		})
	}
}

func TestOverlap(t *testing.T) {
	exact := lists{"a": {nb("b", 1), nb("c", 1)}, "b": {nb("a", 1)}}
	for _, tc := range []struct {
		name  string
		other lists
		want  float64
	}{
		{"same", exact, 1},
		{"half of a", lists{"a": {nb("b", 1), nb("x", 1)}, "b": {nb("a", 1)}}, 0.75},
		{"b missing", lists{"a": {nb("c", 1), nb("b", 1)}}, 0.5},
		{"nothing", lists{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := overlap(exact, tc.other, 10); got != tc.want {
				t.Errorf("overlap = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCrossCheck(t *testing.T) {
	items := []string{"a", "b", "c"}
	in := [][]model.Candidate{{{ID: 1, Score: 0.5}}, {{ID: 0, Score: 0.5}}, {}}
	for _, tc := range []struct {
		name string
		out  lists
		want int
	}{
		{"same", lists{"a": {nb("b", 0.5)}, "b": {nb("a", 0.5)}}, 0},
		{"one bit off", lists{"a": {nb("b", math.Nextafter(0.5, 1))}, "b": {nb("a", 0.5)}}, 1},
		{"item missing", lists{"a": {nb("b", 0.5)}}, 1},
		{"item extra", lists{"a": {nb("b", 0.5)}, "b": {nb("a", 0.5)}, "c": {nb("a", 0.1)}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := crossCheck(in, items, tc.out); got != tc.want {
				t.Errorf("crossCheck = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestAccuracy(t *testing.T) {
	exact := dimsum.Row{J: []int32{1, 2, 3, 4}, S: []float64{0.05, 0.5, 0.2, 0.1}}
	est := dimsum.Row{J: []int32{1, 2, 3}, S: []float64{0.9, 0.45, 0.3}}
	var a accuracy
	a.add(exact, est, 0.1)
	// Pairs 2, 3, 4 have cos ≥ 0.1: errors 0.05 (within 20%), 0.1 (not),
	// 0.1 for the missing pair 4 (not).
	if a.n != 3 || a.within != 1 || math.Abs(a.absErr-0.25) > 1e-12 {
		t.Errorf("accuracy = %+v, want n 3, within 1, abs error 0.25", a)
	}
}

func TestParseCounters(t *testing.T) {
	stdout := "similarity: starting\ncounters:\n  dimsum/pairs_emitted   123\n  scoring/users  7\n  dimsum/scale (B)   6\nwall time: 1.2s\n"
	got := parseCounters(stdout)
	if len(got) != 2 || got["dimsum/pairs_emitted"] != 123 || got["scoring/users"] != 7 {
		t.Errorf("parseCounters = %v", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name  string
		walls []float64
		rss   []float64
		n     int
		want  Proc
	}{
		{"one run", []float64{5}, []float64{100}, 1, Proc{WallSec: 5, CPUSec: 50, MaxRSSMiB: 100}},
		{"odd: the middle wall, the largest rss", []float64{3, 1, 2}, []float64{10, 30, 20}, 3, Proc{WallSec: 2, CPUSec: 20, MaxRSSMiB: 30}},
		{"even: the upper middle", []float64{4, 1, 3, 2}, []float64{1, 1, 1, 1}, 4, Proc{WallSec: 3, CPUSec: 30, MaxRSSMiB: 1}},
	} {
		k := 0
		next := func() (Proc, error) {
			p := Proc{WallSec: tc.walls[k], CPUSec: 10 * tc.walls[k], MaxRSSMiB: tc.rss[k]}
			k++
			return p, nil
		}
		first, _ := next()
		got, err := median(first, tc.n, next)
		if err != nil || got != tc.want || k != tc.n {
			t.Errorf("%s: median = %+v, %v after %d runs; want %+v after %d", tc.name, got, err, k, tc.want, tc.n)
		}
	}
}

// TestSpeedTarget: the exact-mode speed targets use the paired runs' median
// ratio when there are paired runs, the table's medians otherwise, and the
// 10M memory target compares peak RSS with the pandas peer's.
func TestSpeedTarget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		paired  *PairedResult
		want    string
		wantMet bool
	}{
		{"medians", nil, "1.10× (3.3s vs 3.0s", false},
		{"paired", &PairedResult{Threshold: 0, Ratios: []float64{1.2, 0.9, 0.95}, MedianRatio: 0.95}, "0.95×, median of 3 paired runs' ratios (0.90–1.20)", true},
		{"paired over", &PairedResult{Threshold: 0, Ratios: []float64{1.2, 1.1, 0.95}, MedianRatio: 1.1}, "1.10×, median of 3", false},
		{"paired at another threshold", &PairedResult{Threshold: 0.1, Ratios: []float64{0.5}, MedianRatio: 0.5}, "1.10× (3.3s vs 3.0s", false},
	} {
		r := &Results{Datasets: []*DatasetResult{{
			Name: "synth-1M", Pandas: Proc{WallSec: 3}, GoExact: Proc{WallSec: 1},
			Runs: []*ThresholdResult{{Threshold: 0, Pipeline: Proc{WallSec: 3.3}, Overlap: 1}}, Paired: tc.paired,
		}}}
		got := target(targets(r), "synth-1M exact: pipeline vs pandas")
		if got == nil || got.Met == nil {
			t.Fatalf("%s: no measured speed target in %+v", tc.name, targets(r))
		}
		if !strings.Contains(got.Measured, tc.want) || *got.Met != tc.wantMet {
			t.Errorf("%s: measured %q met %v, want %q met %v", tc.name, got.Measured, *got.Met, tc.want, tc.wantMet)
		}
	}
	for _, tc := range []struct {
		pipeRSS, peerRSS float64
		want             string
		wantMet          bool
	}{
		{3000, 2000, "1.50× (3000 MiB vs 2000 MiB)", true},
		{3010, 2000, "1.50× (3010 MiB vs 2000 MiB)", false},
		{4800, 2300, "2.09×", false},
	} {
		r := &Results{Datasets: []*DatasetResult{{
			Name: "synth-10M", Pandas: Proc{WallSec: 15, MaxRSSMiB: tc.peerRSS},
			Runs: []*ThresholdResult{{Threshold: 0, Pipeline: Proc{WallSec: 14, MaxRSSMiB: tc.pipeRSS}}},
		}}}
		got := target(targets(r), "synth-10M exact: peak RSS vs pandas")
		if got == nil || got.Met == nil || !strings.Contains(got.Measured, tc.want) || *got.Met != tc.wantMet {
			t.Errorf("RSS %g vs %g: target %+v, want %q met %v", tc.pipeRSS, tc.peerRSS, got, tc.want, tc.wantMet)
		}
		if w := target(targets(r), "synth-10M exact: pipeline vs pandas"); w == nil || w.Met == nil || !*w.Met {
			t.Errorf("10M 14s vs 15s: speed target %+v, want met", w)
		}
	}
}

// target finds a target by name.
func target(ts []Target, name string) *Target {
	for k := range ts {
		if ts[k].Name == name {
			return &ts[k]
		}
	}
	return nil
}
