package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recsys/itemsim/bench/data"
	"github.com/recsys/itemsim/model"
)

// TestParseALSOutput reads the Go reference's and the numpy peer's lines.
func TestParseALSOutput(t *testing.T) {
	goOut := "iteration 1: wall 0.5 cpu 0.9\niteration 2: wall 0.25 cpu 0.4\n" +
		"seconds per iteration: 0.250000\nobjective: 1234.5\npipeline objective: 1234.25\npipeline max abs diff: 1e-12\n"
	o, err := parseALSOutput(goOut)
	if err != nil {
		t.Fatal(err)
	}
	want := []IterationTime{{0.5, 0.9}, {0.25, 0.4}}
	if len(o.Iterations) != 2 || o.Iterations[0] != want[0] || o.Iterations[1] != want[1] {
		t.Errorf("iterations %v, want %v", o.Iterations, want)
	}
	if o.Median != 0.25 || o.Objective != 1234.5 || !o.Compared || o.PipelineObjective != 1234.25 || o.MaxDelta != 1e-12 || o.BLAS != "" {
		t.Errorf("parsed %+v", o)
	}

	// The peer's lines, with the noise a Python run may print around them.
	peerOut := "iteration 1: wall 1.000000 cpu 2.000000\nsome warning\niteration 2: wall 0.500000 cpu 1.000000\n" +
		"iteration 3: wall 0.700000 cpu 1.500000\nseconds per iteration: 0.600000\nobjective: 193967.96601234567\n" +
		"blas: openblas 0.3.21 Haswell 2 threads\n"
	if o, err = parseALSOutput(peerOut); err != nil {
		t.Fatal(err)
	}
	if len(o.Iterations) != 3 || o.Median != 0.6 || o.Objective != 193967.96601234567 || o.Compared ||
		o.BLAS != "openblas 0.3.21 Haswell 2 threads" {
		t.Errorf("parsed %+v", o)
	}

	for name, bad := range map[string]string{
		"no objective":        "iteration 1: wall 1 cpu 1\nseconds per iteration: 1\n",
		"no iteration":        "seconds per iteration: 1\nobjective: 2\n",
		"iterations skipped":  "iteration 1: wall 1 cpu 1\niteration 3: wall 1 cpu 1\nseconds per iteration: 1\nobjective: 2\n",
		"bad number":          "iteration 1: wall 1 cpu 1\nseconds per iteration: 1\nobjective: many\n",
		"bad iteration":       "iteration 1: wall x cpu 1\nseconds per iteration: 1\nobjective: 2\n",
		"objective, no diff":  "iteration 1: wall 1 cpu 1\nseconds per iteration: 1\nobjective: 2\npipeline objective: 2\n",
		"diff, no objective":  "iteration 1: wall 1 cpu 1\nseconds per iteration: 1\nobjective: 2\npipeline max abs diff: 0\n",
		"empty":               "",
		"wrong first counter": "iteration 2: wall 1 cpu 1\nseconds per iteration: 1\nobjective: 2\n",
	} {
		if _, err := parseALSOutput(bad); err == nil {
			t.Errorf("%s: no error for %q", name, bad)
		}
	}
}

// TestPerIteration: the median of the iterations after the first, wall and
// CPU apart; a single iteration stands for itself.
func TestPerIteration(t *testing.T) {
	for _, c := range []struct {
		its  []IterationTime
		want IterationTime
	}{
		{[]IterationTime{{9, 9}, {2, 1}, {4, 2}, {1, 0.5}}, IterationTime{2, 1}},
		{[]IterationTime{{9, 9}, {2, 1}, {4, 3}}, IterationTime{3, 2}}, // even: the mean of the middle two
		{[]IterationTime{{9, 8}}, IterationTime{9, 8}},
	} {
		if got := perIteration(c.its); got != c.want {
			t.Errorf("perIteration(%v) = %v, want %v", c.its, got, c.want)
		}
	}
	if got := perIteration(nil); !math.IsNaN(got.WallSec) || !math.IsNaN(got.CPUSec) {
		t.Errorf("perIteration(nil) = %v, want NaNs", got)
	}
}

// TestPipelineIteration: (run of N − run of 1) / (N − 1), wall and CPU.
func TestPipelineIteration(t *testing.T) {
	got := pipelineIteration(Proc{WallSec: 25, CPUSec: 40}, Proc{WallSec: 7, CPUSec: 13}, 10)
	if want := (IterationTime{WallSec: 2, CPUSec: 3}); got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := pipelineIteration(Proc{WallSec: 5}, Proc{WallSec: 3}, 2); got.WallSec != 2 {
		t.Errorf("N=2: got %v, want 2 s", got.WallSec)
	}
	if got := medianTime([]IterationTime{{3, 1}, {1, 5}, {2, 3}}); got != (IterationTime{2, 3}) {
		t.Errorf("medianTime = %v, want {2 3}", got)
	}
}

// TestWriteRatings: one line per scored pair, scores that read back
// exactly, and the file reads back through the pipeline's reader to the
// same rows.
func TestWriteRatings(t *testing.T) {
	third := 1.0 / 3
	m := &data.Matrix{Rows: []model.Row{
		{User: "u1", Items: []string{"a", "b"}, Scores: []float64{third, 6}},
		{User: "u2", Items: []string{"a"}, Scores: []float64{0.5}},
	}}
	path := filepath.Join(t.TempDir(), "r.tsv")
	n, err := writeRatings(m, path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "u1\ta\t0.3333333333333333\nu1\tb\t6\nu2\ta\t0.5\n"; n != 3 || string(b) != want {
		t.Errorf("wrote %d lines %q, want 3 lines %q", n, b, want)
	}
	back, err := data.LoadSource(data.Source{Path: path, Format: "tsv", User: "0", Item: "1", Score: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != 2 || back.Rows[0].Scores[0] != third || back.Bad != 0 {
		t.Errorf("read back %+v", back.Rows)
	}
}

// TestALSTargets: the speed target is read from synth-1M's implicit runs
// at ranks 32 and 64, the memory target from synth-10M's rank-32 run, and
// only with 10 iterations.
func TestALSTargets(t *testing.T) {
	a := &ALSResult{Iterations: 10, Runs: []*ALSRun{
		{Dataset: "synth-1M", Implicit: true, Rank: 32, VsNumpy: 0.8, Go: ALSTool{Objective: 10}, Numpy: ALSTool{Objective: 10 * (1 + 1e-9)}},
		{Dataset: "synth-1M", Implicit: true, Rank: 64, VsNumpy: 1.2, Go: ALSTool{Objective: 10}, Numpy: ALSTool{Objective: 10}},
		{Dataset: "synth-10M", Implicit: true, Rank: 32, PeakRSSMiB: 7 * 1024, PipelineMaxAbsDiff: 1e-8, Go: ALSTool{Objective: 1}, Numpy: ALSTool{Objective: 1}},
	}}
	met := map[string]*bool{}
	for _, tg := range alsTargets(a) {
		met[tg.Name] = tg.Met
	}
	for name, want := range map[string]bool{
		"ALS: pipeline factors = Go reference":                             false,
		"ALS: numpy peer's objective = Go reference's":                     true,
		"ALS synth-1M implicit rank 32: pipeline vs numpy per iteration":   true,
		"ALS synth-1M implicit rank 64: pipeline vs numpy per iteration":   false,
		"ALS synth-10M implicit rank 32, 10 iterations: pipeline peak RSS": false,
	} {
		if m, ok := met[name]; !ok || m == nil || *m != want {
			t.Errorf("%s: met %v (present %v), want %v", name, m, ok, want)
		}
	}
	a.Iterations = 5
	for _, tg := range alsTargets(a) {
		if strings.Contains(tg.Name, "peak RSS") && (tg.Met != nil || !strings.Contains(tg.Measured, "5 iterations")) {
			t.Errorf("with 5 iterations: %+v, want not judged", tg)
		}
	}
	if alsTargets(nil) != nil {
		t.Error("targets without an ALS section")
	}
}
