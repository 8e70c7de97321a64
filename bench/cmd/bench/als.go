package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/recsys/itemsim/bench/data"
)

// The ALS section: seconds per iteration of the Beam pipeline
// (transforms/als on Prism, bench/cmd/bench/alsrun --impl=pipeline), of the
// single-process Go reference (model/als.Train on every core, alsrun
// --impl=go) and of the numpy peer (bench/peers/als_numpy.py), on the
// same ratings file from the same starting item factors, in the same run.

// ALSResult is the ALS section of a run.
type ALSResult struct {
	Date      string  `json:"date"`
	LoadStart float64 `json:"load_average_start"`
	TotalSec  float64 `json:"total_sec"`
	// Iterations is N: every timed run does N iterations, and the
	// pipeline also 1 (its seconds per iteration are the difference over
	// N−1).
	Iterations int     `json:"iterations"`
	Repeat     int     `json:"repeat"`
	Lambda     float64 `json:"lambda"`
	Alpha      float64 `json:"alpha"`
	Seed       uint64  `json:"seed"`
	// MemoryLimitMB is the pipeline's --memory_limit_mb; Workers the Go
	// reference's goroutines (runtime.NumCPU()).
	MemoryLimitMB int    `json:"memory_limit_mb"`
	Workers       int    `json:"go_workers"`
	BLAS          string `json:"numpy_blas"`
	// Smoke marks a run too small to stand for the section (fewer than 3
	// iterations or a rank below 32): its figures only show that it works.
	Smoke    bool         `json:"smoke"`
	Datasets []ALSDataset `json:"datasets"`
	Runs     []*ALSRun    `json:"runs"`
	Skipped  []string     `json:"skipped,omitempty"`
}

// ALSDataset is one ratings file of the section.
type ALSDataset struct {
	Name    string `json:"name"`
	Users   int    `json:"users"`
	Items   int    `json:"items"`
	Ratings int    `json:"ratings"`
}

// ALSRun is one dataset, mode and rank.
type ALSRun struct {
	Dataset  string `json:"dataset"`
	Implicit bool   `json:"implicit"`
	Rank     int    `json:"rank"`
	// PipelineN and Pipeline1 are the pipeline's runs of N and of 1
	// iteration, Repeat of each, made in turn (alternating which goes
	// first); PerIteration holds each pair's (wall_N − wall_1)/(N−1), and
	// Pipeline the median pair's wall and CPU seconds per iteration.
	PipelineN    []Proc        `json:"pipeline_n"`
	Pipeline1    []Proc        `json:"pipeline_1"`
	PerIteration []float64     `json:"pipeline_per_iteration_sec"`
	Pipeline     IterationTime `json:"pipeline"`
	// PeakRSSMiB is the largest peak RSS of the pipeline's N-iteration
	// runs (the whole process: Prism and its workers run in it).
	PeakRSSMiB float64 `json:"pipeline_peak_rss_mib"`
	Go         ALSTool `json:"go"`
	Numpy      ALSTool `json:"numpy"`
	// PipelineObjective and PipelineMaxAbsDiff compare the pipeline's
	// final factors with the Go reference's (alsrun --compare).
	PipelineObjective  float64 `json:"pipeline_objective"`
	PipelineMaxAbsDiff float64 `json:"pipeline_max_abs_diff"`
	// VsNumpy and VsGo are the pipeline's seconds per iteration over the
	// peer's and the reference's.
	VsNumpy float64 `json:"pipeline_vs_numpy"`
	VsGo    float64 `json:"pipeline_vs_go"`
}

// ALSTool is the Go reference's or the numpy peer's runs: per iteration,
// the median over runs of each run's median over its iterations after the
// first (the first also builds the row indices).
type ALSTool struct {
	Runs      []Proc        `json:"runs"`
	Iteration IterationTime `json:"per_iteration"`
	// Iterations are the last run's times; Objective its final objective.
	Iterations []IterationTime `json:"iterations"`
	Objective  float64         `json:"objective"`

	blas string // the numpy peer's BLAS, as it printed it
}

// IterationTime is the wall and CPU seconds of one iteration.
type IterationTime struct {
	WallSec float64 `json:"wall_sec"`
	CPUSec  float64 `json:"cpu_sec"`
}

// alsOutput is what the Go reference or the numpy peer printed.
type alsOutput struct {
	Iterations []IterationTime
	// Median is the tool's own "seconds per iteration".
	Median    float64
	Objective float64
	// Compared says the pipeline lines were there.
	Compared                    bool
	PipelineObjective, MaxDelta float64
	BLAS                        string
}

// parseALSOutput reads the lines that alsrun --impl=go and als_numpy.py
// print (see alsrun's documentation); other lines are ignored.
func parseALSOutput(stdout string) (alsOutput, error) {
	var o alsOutput
	var haveMedian, haveObjective, haveDelta bool
	num := func(s string) (float64, error) { return strconv.ParseFloat(strings.TrimSpace(s), 64) }
	for _, line := range strings.Split(stdout, "\n") {
		var err error
		switch {
		case strings.HasPrefix(line, "iteration "):
			var it IterationTime
			var k int
			if _, err = fmt.Sscanf(line, "iteration %d: wall %g cpu %g", &k, &it.WallSec, &it.CPUSec); err == nil && k != len(o.Iterations)+1 {
				err = fmt.Errorf("iteration %d after %d", k, len(o.Iterations))
			}
			o.Iterations = append(o.Iterations, it)
		case strings.HasPrefix(line, "seconds per iteration: "):
			o.Median, err = num(strings.TrimPrefix(line, "seconds per iteration: "))
			haveMedian = true
		case strings.HasPrefix(line, "objective: "):
			o.Objective, err = num(strings.TrimPrefix(line, "objective: "))
			haveObjective = true
		case strings.HasPrefix(line, "pipeline objective: "):
			o.PipelineObjective, err = num(strings.TrimPrefix(line, "pipeline objective: "))
			o.Compared = true
		case strings.HasPrefix(line, "pipeline max abs diff: "):
			o.MaxDelta, err = num(strings.TrimPrefix(line, "pipeline max abs diff: "))
			haveDelta = true
		case strings.HasPrefix(line, "blas: "):
			o.BLAS = strings.TrimPrefix(line, "blas: ")
		}
		if err != nil {
			return o, fmt.Errorf("%q: %v", line, err)
		}
	}
	switch {
	case len(o.Iterations) == 0 || !haveMedian || !haveObjective:
		return o, fmt.Errorf("no iteration, seconds per iteration or objective line in %q", stdout)
	case o.Compared != haveDelta:
		return o, fmt.Errorf("a pipeline objective without a max abs diff, or the reverse, in %q", stdout)
	}
	return o, nil
}

// perIteration is the median wall and CPU time of the iterations after
// the first (of the only one if there is one).
func perIteration(its []IterationTime) IterationTime {
	if len(its) > 1 {
		its = its[1:]
	}
	var wall, cpu []float64
	for _, it := range its {
		wall, cpu = append(wall, it.WallSec), append(cpu, it.CPUSec)
	}
	return IterationTime{WallSec: medianOf(wall), CPUSec: medianOf(cpu)}
}

// pipelineIteration is one iteration's cost from a run of n iterations
// and a run of 1 (n ≥ 2): what the n−1 more iterations added, over n−1.
func pipelineIteration(runN, run1 Proc, n int) IterationTime {
	return IterationTime{WallSec: (runN.WallSec - run1.WallSec) / float64(n-1), CPUSec: (runN.CPUSec - run1.CPUSec) / float64(n-1)}
}

// medianOf is the middle of xs (the mean of the two middle values for an
// even count, as numpy.median), NaN for none.
func medianOf(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	switch {
	case n == 0:
		return math.NaN()
	case n%2 == 1:
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianTime is the median of each field.
func medianTime(ts []IterationTime) IterationTime {
	var wall, cpu []float64
	for _, t := range ts {
		wall, cpu = append(wall, t.WallSec), append(cpu, t.CPUSec)
	}
	return IterationTime{WallSec: medianOf(wall), CPUSec: medianOf(cpu)}
}

// relDiff is |a − b| relative to the larger magnitude.
func relDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / max(math.Abs(a), math.Abs(b))
}

// alsObjectiveTolerance is how far the numpy peer's objective may be from
// the Go reference's (relative): their sums round in different orders.
const alsObjectiveTolerance = 1e-6

// alsDatasets are the section's inputs (--als_datasets), by name among
// every dataset the harness knows.
func (h *harness) alsDatasets() ([]dataset, error) {
	all := h.catalogue()
	var out []dataset
	for _, name := range h.o.alsDatasets {
		k := slices.IndexFunc(all, func(d dataset) bool { return d.Name == name })
		if k < 0 {
			return nil, fmt.Errorf("--als_datasets: no dataset %q", name)
		}
		out = append(out, all[k])
	}
	return out, nil
}

// writeRatings writes m's scored entries as the section's ratings file:
// user<TAB>item<TAB>score, one line per pair, each score in the shortest
// form that reads back to the same float64.
func writeRatings(m *data.Matrix, path string) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	n := 0
	var b []byte
	for _, r := range m.Rows {
		for k, item := range r.Items {
			b = append(append(append(append(b[:0], r.User...), '\t'), item...), '\t')
			b = append(strconv.AppendFloat(b, r.Scores[k], 'g', -1, 64), '\n')
			w.Write(b)
			n++
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return n, f.Close()
}

// als runs the section; done, when not nil, is called with the section so
// far after each run (the section is long: a finished run is kept if a
// later one is stopped).
func (h *harness) als(done func(*ALSResult) error) (*ALSResult, error) {
	o := h.o
	if o.alsIterations < 2 {
		return nil, fmt.Errorf("--als_iterations=%d: want at least 2 (the pipeline's seconds per iteration are a difference of runs)", o.alsIterations)
	}
	// The numpy peer runs last in each round: check it can start before
	// minutes of pipeline runs.
	if out, err := exec.Command(o.python, "-c", "import numpy").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("the numpy peer needs numpy in --python=%s (make bench-deps installs it): %v: %s", o.python, err, strings.TrimSpace(string(out)))
	}
	sets, err := h.alsDatasets()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res := &ALSResult{Date: start.UTC().Format(time.RFC3339), LoadStart: loadAverage(), Iterations: o.alsIterations, Repeat: o.alsRepeat,
		Lambda: o.alsLambda, Alpha: o.alsAlpha, Seed: o.alsSeed, MemoryLimitMB: o.memoryLimitMB, Workers: runtime.NumCPU(),
		Smoke: o.alsIterations < 3 || slices.Min(o.alsRanks) < 32}
	fmt.Printf("ALS: %d iterations, ranks %v, λ %g, α %g, %d repeat(s)\n", o.alsIterations, o.alsRanks, o.alsLambda, o.alsAlpha, o.alsRepeat)
	for _, d := range sets {
		if err := h.generate(d); err != nil {
			return nil, err
		}
		if _, err := os.Stat(d.Source.Path); err != nil {
			msg := fmt.Sprintf("%s: skipped, %s is absent", d.Name, d.Source.Path)
			fmt.Println(msg)
			res.Skipped = append(res.Skipped, msg)
			continue
		}
		m, err := data.LoadSource(d.Source)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", d.Name, err)
		}
		ratings := filepath.Join(h.work, "als-"+d.Name+".tsv")
		n, err := writeRatings(m, ratings)
		if err != nil {
			return nil, err
		}
		res.Datasets = append(res.Datasets, ALSDataset{Name: d.Name, Users: len(m.Rows), Items: len(m.Table.Items), Ratings: n})
		fmt.Printf("%s: %d users, %d items, %d ratings\n", d.Name, len(m.Rows), len(m.Table.Items), n)
		for _, implicit := range []bool{true, false} {
			if !implicit && d.Name != alsExplicitDataset {
				continue
			}
			for _, rank := range o.alsRanks {
				init := filepath.Join(h.work, fmt.Sprintf("als-%s-rank%d.init", d.Name, rank))
				if _, _, err := h.run(h.bin("alsrun"), "--impl=init", "--ratings="+ratings, "--rank="+strconv.Itoa(rank),
					"--seed="+strconv.FormatUint(o.alsSeed, 10), "--init_output="+init); err != nil {
					return nil, err
				}
				r, err := h.alsRun(d.Name, ratings, init, implicit, rank)
				if err != nil {
					return nil, fmt.Errorf("%s rank %d: %v", d.Name, rank, err)
				}
				res.Runs = append(res.Runs, r)
				if b := r.Numpy.blas; b != "" {
					res.BLAS = b
				}
				res.TotalSec = time.Since(start).Seconds()
				if done != nil {
					if err := done(res); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	res.TotalSec = time.Since(start).Seconds()
	return res, nil
}

// alsExplicitDataset is the one dataset timed in explicit mode too (the
// product's default is implicit).
const alsExplicitDataset = "ml-100k"

// alsRun measures one dataset, mode and rank: Repeat rounds of the
// pipeline with N and with 1 iteration (alternating which goes first),
// the Go reference and the numpy peer.
func (h *harness) alsRun(name, ratings, init string, implicit bool, rank int) (*ALSRun, error) {
	o := h.o
	r := &ALSRun{Dataset: name, Implicit: implicit, Rank: rank}
	common := []string{"--rank=" + strconv.Itoa(rank), "--lambda=" + strconv.FormatFloat(o.alsLambda, 'g', -1, 64)}
	if implicit {
		common = append(common, "--implicit", "--alpha="+strconv.FormatFloat(o.alsAlpha, 'g', -1, 64))
	}
	iterations := func(n int) string { return "--iterations=" + strconv.Itoa(n) }
	seed := "--seed=" + strconv.FormatUint(o.alsSeed, 10)
	factorsN := filepath.Join(h.work, "als-factors-n")
	pipeline := func(n int, dir string) (Proc, error) {
		args := append([]string{"--impl=pipeline", "--ratings=" + ratings, iterations(n), seed, "--factors_output=" + dir,
			"--memory_limit_mb=" + strconv.Itoa(o.memoryLimitMB)}, common...)
		p, _, err := h.run(h.bin("alsrun"), args...)
		return p, err
	}
	var pipes, goRuns, numpyRuns []IterationTime
	for k := range o.alsRepeat {
		var pn, p1 Proc
		var err error
		if k%2 == 0 {
			if pn, err = pipeline(o.alsIterations, factorsN); err == nil {
				p1, err = pipeline(1, filepath.Join(h.work, "als-factors-1"))
			}
		} else if p1, err = pipeline(1, filepath.Join(h.work, "als-factors-1")); err == nil {
			pn, err = pipeline(o.alsIterations, factorsN)
		}
		if err != nil {
			return nil, err
		}
		r.PipelineN, r.Pipeline1 = append(r.PipelineN, pn), append(r.Pipeline1, p1)
		pipes = append(pipes, pipelineIteration(pn, p1, o.alsIterations))
		r.PerIteration = append(r.PerIteration, pipes[k].WallSec)
		r.PeakRSSMiB = max(r.PeakRSSMiB, pn.MaxRSSMiB)

		// The reference compares its factors with the pipeline's once.
		args := append([]string{"--impl=go", "--ratings=" + ratings, iterations(o.alsIterations), seed}, common...)
		if k == 0 {
			args = append(args, "--compare="+factorsN)
		}
		gp, gout, err := h.alsTool(h.bin("alsrun"), nil, args)
		if err != nil {
			return nil, err
		}
		if k == 0 {
			r.PipelineObjective, r.PipelineMaxAbsDiff = gout.PipelineObjective, gout.MaxDelta
		}
		r.Go.add(gp, gout)
		goRuns = append(goRuns, perIteration(gout.Iterations))

		np, nout, err := h.alsTool(h.o.python, peerEnv(), append([]string{filepath.Join(h.root, "bench/peers/als_numpy.py"),
			"--ratings=" + ratings, "--init=" + init, iterations(o.alsIterations)}, common...))
		if err != nil {
			return nil, err
		}
		r.Numpy.add(np, nout)
		numpyRuns = append(numpyRuns, perIteration(nout.Iterations))
		fmt.Printf("  als %-10s %-8s rank %-3d round %d: pipeline N=%d %.2fs, 1 %.2fs → %.3f s/it (rss %.0f MiB)  go %.3f s/it  numpy %.3f s/it  load %.1f\n",
			name, r.mode(), rank, k+1, o.alsIterations, pn.WallSec, p1.WallSec, r.PerIteration[k], pn.MaxRSSMiB,
			goRuns[k].WallSec, numpyRuns[k].WallSec, pn.Load)
	}
	r.Pipeline, r.Go.Iteration, r.Numpy.Iteration = medianTime(pipes), medianTime(goRuns), medianTime(numpyRuns)
	r.VsNumpy, r.VsGo = r.Pipeline.WallSec/r.Numpy.Iteration.WallSec, r.Pipeline.WallSec/r.Go.Iteration.WallSec
	fmt.Printf("    per iteration: pipeline %.3fs (CPU %.3fs), go %.3fs, numpy %.3fs: pipeline/numpy %.2f×, pipeline/go %.2f×; objective go %.10g, numpy %.10g (rel %.1e), pipeline %.10g, pipeline factors max |Δ| from go %.2g\n",
		r.Pipeline.WallSec, r.Pipeline.CPUSec, r.Go.Iteration.WallSec, r.Numpy.Iteration.WallSec, r.VsNumpy, r.VsGo,
		r.Go.Objective, r.Numpy.Objective, relDiff(r.Go.Objective, r.Numpy.Objective), r.PipelineObjective, r.PipelineMaxAbsDiff)
	return r, nil
}

// mode names the run's objective.
func (r *ALSRun) mode() string {
	if r.Implicit {
		return "implicit"
	}
	return "explicit"
}

// alsTool runs the Go reference or the numpy peer once and parses what it
// printed.
func (h *harness) alsTool(name string, env, args []string) (Proc, alsOutput, error) {
	p, stdout, err := h.runEnv(env, name, args...)
	if err != nil {
		return p, alsOutput{}, err
	}
	out, err := parseALSOutput(stdout)
	if err != nil {
		return p, out, fmt.Errorf("%s: %v", filepath.Base(name), err)
	}
	return p, out, nil
}

// add records one run of the tool.
func (t *ALSTool) add(p Proc, out alsOutput) {
	t.Runs, t.Iterations, t.Objective, t.blas = append(t.Runs, p), out.Iterations, out.Objective, out.BLAS
}
