package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/recsys/itemsim/bench/sampling"
	"github.com/recsys/itemsim/model"
)

// Results is everything one run measured; results.json is this value.
type Results struct {
	Date       string    `json:"date"`
	Machine    Machine   `json:"machine"`
	Quick      bool      `json:"quick"`
	Thresholds []float64 `json:"thresholds"`
	TopN       int       `json:"top_n"`
	// Repeat is the number of runs of each timed command on the datasets.
	Repeat int `json:"repeat"`
	// MemoryLimitMB is the pipeline's --memory_limit_mb.
	MemoryLimitMB int    `json:"memory_limit_mb"`
	Seed          uint64 `json:"seed"`
	SynthSeed     uint64 `json:"synth_seed"`
	// Selected lists the datasets a --datasets run was limited to (none:
	// every dataset of the mode).
	Selected []string         `json:"selected,omitempty"`
	Datasets []*DatasetResult `json:"datasets"`
	Skipped  []string         `json:"skipped,omitempty"`
	Scaling  *ScalingResult   `json:"scaling,omitempty"`
	Profile  *ProfileResult   `json:"profile,omitempty"`
	ALS      *ALSResult       `json:"als,omitempty"`
	Targets  []Target         `json:"targets"`
	Plots    []string         `json:"plots"`
	TotalSec float64          `json:"total_sec"`
}

// Machine describes where the figures were taken.
type Machine struct {
	CPUModel  string  `json:"cpu_model"`
	NumCPU    int     `json:"nproc"`
	MemGiB    float64 `json:"mem_gib"`
	Go        string  `json:"go"`
	LoadStart float64 `json:"load_average_start"`
	LoadAfter float64 `json:"load_average_end"`
}

// DatasetResult holds one input's figures.
type DatasetResult struct {
	Name  string   `json:"name"`
	Path  string   `json:"path"`
	Flags []string `json:"flags"`
	// Interactions is the generated size of a synthetic set (0 otherwise).
	Interactions int   `json:"interactions,omitempty"`
	Users        int   `json:"users"`
	Items        int   `json:"items"`
	Entries      int   `json:"entries"`
	NaivePairs   int64 `json:"naive_pairs"`
	BadRows      int   `json:"bad_rows"`
	// Pandas is the vectorised peer (bench/peers/pandas_cosine.py), BLAS
	// the kernel numpy ran in it (threadpoolctl).
	Pandas  Proc   `json:"pandas"`
	BLAS    string `json:"pandas_blas"`
	GoExact Proc   `json:"go_exact"`
	// The exact outputs of the pipeline and of the Go peer against the
	// pandas peer's.
	PipelineVsPandas Comparison         `json:"pipeline_exact_vs_pandas"`
	GoExactVsPandas  Comparison         `json:"go_exact_vs_pandas"`
	Runs             []*ThresholdResult `json:"runs"`
	// Paired is the head-to-head series against the pandas peer (the
	// speed target's dataset only).
	Paired *PairedResult `json:"paired,omitempty"`
}

// PairedResult is the pipeline at one threshold and the pandas peer run
// in turn: run k of each are neighbours in time.
type PairedResult struct {
	Threshold    float64   `json:"threshold"`
	PipelineWall []float64 `json:"pipeline_wall_sec"`
	PandasWall   []float64 `json:"pandas_wall_sec"`
	PipelineRSS  []float64 `json:"pipeline_rss_mib"`
	PandasRSS    []float64 `json:"pandas_rss_mib"`
	// Load is the 1-minute load average before each pair.
	Load        []float64 `json:"load_average"`
	Ratios      []float64 `json:"ratios"`
	MedianRatio float64   `json:"median_ratio"`
}

// ThresholdResult holds one pipeline run's figures.
type ThresholdResult struct {
	Threshold float64 `json:"threshold"`
	Pipeline  Proc    `json:"pipeline"`
	// Attempts counts the pipeline runs: a run whose counters lost updates
	// is repeated (up to maxAttempts); the figures are the last run's.
	Attempts       int   `json:"attempts"`
	PairsEmitted   int64 `json:"pairs_emitted"`
	DistinctPairs  int64 `json:"distinct_pairs"`
	PartialRows    int64 `json:"partial_rows"`
	PartialBytes   int64 `json:"partial_bytes"`
	EntriesKept    int64 `json:"entries_kept"`
	EntriesDropped int64 `json:"entries_dropped"`
	// ExpectedPairs ± PairsSD is the theory's emitted pair count; TheoryOK
	// says the library's count (InProcess, the pipeline's code on the
	// pipeline's rows) is within max(1%, 3 sd) of it. The pipeline's own
	// counters can lose updates (see CountersMatch).
	ExpectedPairs float64 `json:"expected_pairs"`
	PairsSD       float64 `json:"pairs_sd"`
	TheoryOK      bool    `json:"theory_ok"`
	// Overlap is the mean top-N overlap with the exact run's output.
	Overlap float64 `json:"top_n_overlap"`
	// StrongPairs have an exact cosine of at least the threshold; MAE and
	// Within20 (the share within 20% relative error) are over them.
	StrongPairs int64    `json:"strong_pairs,omitempty"`
	MAE         *float64 `json:"mae,omitempty"`
	Within20    *float64 `json:"within_20pct,omitempty"`
	// InProcess are the counters of the same library code run in-process;
	// CountersMatch says they equal the pipeline's, CrossCheckMismatches
	// counts the items whose in-process top N differs from the output file.
	InProcess            sampling.Counts `json:"in_process"`
	CountersMatch        bool            `json:"in_process_counters_match"`
	CrossCheckMismatches int             `json:"cross_check_mismatched_items"`

	output map[string][]model.Neighbor // the run's file, read back
}

// ScalingResult is the user-scaling series on a fixed catalogue, where
// DIMSUM's sampling engages.
type ScalingResult struct {
	Items int `json:"items"`
	// BaseUsers are the users of the 1× point (bench/synth's
	// fixed-catalogue mode).
	BaseUsers  int          `json:"base_users"`
	Thresholds []float64    `json:"thresholds"`
	Points     []ScalePoint `json:"points"`
	// Date, LoadStart and TotalSec describe the run that measured the
	// series (it can run alone: --sampling_only).
	Date      string  `json:"date"`
	LoadStart float64 `json:"load_average_start"`
	TotalSec  float64 `json:"total_sec"`
}

// ScalePoint is one size of the series.
type ScalePoint struct {
	Factor       int        `json:"factor"`
	Interactions int        `json:"interactions"`
	Users        int        `json:"users"`
	Entries      int        `json:"entries"`
	NaivePairs   int64      `json:"naive_pairs"`
	Runs         []ScaleRun `json:"runs"`
}

// ScaleRun is one threshold at one size.
type ScaleRun struct {
	Threshold float64 `json:"threshold"`
	Pipeline  Proc    `json:"pipeline"`
	Attempts  int     `json:"attempts"`
	// CountersAgree says the pipeline's sampling counters equal the
	// library's; when not, its counters lost updates and its shuffle
	// figures are lower bounds.
	CountersAgree bool `json:"counters_agree"`
	// PairsEmitted, PartialBytes and DistinctPairs are the pipeline's
	// counters; InProcess is the library's sampling of the same rows
	// (sampling.Estimate), which does not depend on counters.
	PairsEmitted  int64           `json:"pairs_emitted"`
	PartialBytes  int64           `json:"partial_bytes"`
	DistinctPairs int64           `json:"distinct_pairs"`
	InProcess     sampling.Counts `json:"in_process"`
	ExpectedPairs float64         `json:"expected_pairs"`
	PairsSD       float64         `json:"pairs_sd"`
	TheoryOK      bool            `json:"theory_ok"`
	// Overlap is the mean top-N overlap with the exact run at this size.
	Overlap float64 `json:"top_n_overlap"`
}

// ProfileResult is the in-process CPU profile of one pipeline run.
type ProfileResult struct {
	Dataset   string  `json:"dataset"`
	Threshold float64 `json:"threshold"`
	Run       Proc    `json:"run"`
	Top       string  `json:"pprof_top"`
	TopCum    string  `json:"pprof_top_cum"`
	// Components is each component's share of the profile's CPU samples
	// (see attribute), and Seconds the CPU time they stand for.
	Components map[string]float64 `json:"components,omitempty"`
	Seconds    float64            `json:"profiled_cpu_sec,omitempty"`
}

// Target is one of issue #6's targets and what was measured.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	// Met is nil when the run did not measure it.
	Met *bool `json:"met"`
}

// machine describes this machine from /proc and the Go runtime.
func machine() Machine {
	m := Machine{NumCPU: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, LoadStart: loadAverage()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kib float64
			if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %g kB", &kib); err == nil {
				m.MemGiB = kib / (1 << 20)
				break
			}
		}
		f.Close()
	}
	return m
}

func (d *DatasetResult) run(t float64) *ThresholdResult {
	for _, r := range d.Runs {
		if r.Threshold == t {
			return r
		}
	}
	return nil
}

func (r *Results) dataset(name string) *DatasetResult {
	for _, d := range r.Datasets {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// targets checks the targets (issues #6 and #15) against the measured
// figures; every ratio comes from this one run.
func targets(r *Results) []Target {
	var out []Target
	add := func(name, goal, measured string, met *bool) {
		out = append(out, Target{Name: name, Goal: goal, Measured: measured, Met: met})
	}
	yes := func(b bool) *bool { return &b }
	for _, name := range []string{"ml-100k", "synth-100k"} {
		d := r.dataset(name)
		if d == nil {
			add("exact = pandas peer on "+name, "max abs diff ≤ 1e-9, same ids up to exact ties", "not measured", nil)
			continue
		}
		c := d.PipelineVsPandas
		add("exact = pandas peer on "+name, "max abs diff ≤ 1e-9, same ids up to exact ties",
			fmt.Sprintf("max abs diff %.2g, %d of %d items differ beyond ties", c.MaxAbsDiff, c.Mismatches, c.Items),
			yes(c.MaxAbsDiff <= 1e-9 && c.Mismatches == 0))
	}
	for _, name := range []string{"synth-1M", "synth-10M"} {
		d := r.dataset(name)
		if d == nil || d.run(0) == nil {
			add(name+" exact: pipeline vs pandas", "wall ≤ 1.0× the pandas peer", "not measured", nil)
			continue
		}
		t := d.run(0)
		ratio := t.Pipeline.WallSec / d.Pandas.WallSec
		// CPU time is reported beside: on a loaded machine it moves less
		// than wall time (it is not the target).
		medians := fmt.Sprintf("%.2f× (%.1fs vs %.1fs, loads %.1f and %.1f; CPU %.2f×, %.1fs vs %.1fs)", ratio, t.Pipeline.WallSec,
			d.Pandas.WallSec, t.Pipeline.Load, d.Pandas.Load, t.Pipeline.CPUSec/d.Pandas.CPUSec, t.Pipeline.CPUSec, d.Pandas.CPUSec)
		if pr := d.Paired; pr != nil && pr.Threshold == 0 {
			add(name+" exact: pipeline vs pandas", "wall ≤ 1.0× the pandas peer",
				fmt.Sprintf("%.2f×, median of %d paired runs' ratios (%.2f–%.2f); median runs: %s", pr.MedianRatio, len(pr.Ratios),
					slices.Min(pr.Ratios), slices.Max(pr.Ratios), medians),
				yes(pr.MedianRatio <= 1))
		} else {
			add(name+" exact: pipeline vs pandas", "wall ≤ 1.0× the pandas peer", medians, yes(ratio <= 1))
		}
		if name == "synth-10M" {
			add(name+" exact: peak RSS vs pandas", "≤ 1.5× the pandas peer",
				fmt.Sprintf("%.2f× (%.0f MiB vs %.0f MiB)", t.Pipeline.MaxRSSMiB/d.Pandas.MaxRSSMiB, t.Pipeline.MaxRSSMiB, d.Pandas.MaxRSSMiB),
				yes(t.Pipeline.MaxRSSMiB <= 1.5*d.Pandas.MaxRSSMiB))
		}
	}
	if d := r.dataset("synth-1M"); d != nil && d.run(0.1) != nil {
		t := d.run(0.1)
		dropped := fmt.Sprintf("%d of %d entries dropped", t.InProcess.EntriesDropped, t.InProcess.EntriesDropped+t.InProcess.EntriesKept)
		add("1M t=0.1: pipeline vs Go exact", "wall ≤ 5× the single-process Go limit",
			fmt.Sprintf("%.2f× (%.1fs vs %.1fs; %s)", t.Pipeline.WallSec/d.GoExact.WallSec, t.Pipeline.WallSec, d.GoExact.WallSec, dropped),
			yes(t.Pipeline.WallSec <= 5*d.GoExact.WallSec))
		add("1M t=0.1: top-10 overlap", "≥ 0.95", fmt.Sprintf("%.4f (%s)", t.Overlap, dropped), yes(t.Overlap >= 0.95))
		if t.Within20 != nil {
			add("1M t=0.1: pairs with cos ≥ 0.1 within 20%", "≥ 95%",
				fmt.Sprintf("%.2f%% of %d pairs", 100**t.Within20, t.StrongPairs), yes(*t.Within20 >= 0.95))
		}
	}
	out = append(out, alsTargets(r.ALS)...)
	d1, d10 := r.dataset("synth-1M"), r.dataset("synth-10M")
	if d10 == nil || d1 == nil {
		return out
	}
	for _, t := range []float64{0, 0.1} {
		a, b := d1.run(t), d10.run(t)
		if a == nil || b == nil {
			continue
		}
		add(fmt.Sprintf("10M t=%g: peak RSS", t), "≤ 6 GiB", fmt.Sprintf("%.2f GiB", b.Pipeline.MaxRSSMiB/1024),
			yes(b.Pipeline.MaxRSSMiB <= 6*1024))
		add(fmt.Sprintf("10M t=%g: wall vs 1M", t), "≤ 12×",
			fmt.Sprintf("%.1f× (%.1fs vs %.1fs)", b.Pipeline.WallSec/a.Pipeline.WallSec, b.Pipeline.WallSec, a.Pipeline.WallSec),
			yes(b.Pipeline.WallSec <= 12*a.Pipeline.WallSec))
	}
	return out
}

// alsTargets checks issue #12's performance targets and the section's
// agreement checks against the ALS section (none when it did not run).
func alsTargets(a *ALSResult) []Target {
	if a == nil {
		return nil
	}
	var out []Target
	yes := func(b bool) *bool { return &b }
	smoke := ""
	if a.Smoke {
		smoke = " (smoke run)"
	}
	var maxDiff, maxRel float64
	for _, r := range a.Runs {
		maxDiff, maxRel = max(maxDiff, r.PipelineMaxAbsDiff), max(maxRel, relDiff(r.Go.Objective, r.Numpy.Objective))
	}
	if len(a.Runs) > 0 {
		out = append(out, Target{Name: "ALS: pipeline factors = Go reference", Goal: "max abs diff ≤ 1e-9 in every run",
			Measured: fmt.Sprintf("%.2g over %d runs%s", maxDiff, len(a.Runs), smoke), Met: yes(maxDiff <= 1e-9)},
			Target{Name: "ALS: numpy peer's objective = Go reference's", Goal: fmt.Sprintf("relative difference ≤ %g in every run", alsObjectiveTolerance),
				Measured: fmt.Sprintf("%.2g at most over %d runs%s", maxRel, len(a.Runs), smoke), Met: yes(maxRel <= alsObjectiveTolerance)})
	}
	for _, rank := range []int{32, 64} {
		name := fmt.Sprintf("ALS synth-1M implicit rank %d: pipeline vs numpy per iteration", rank)
		r := a.run("synth-1M", true, rank)
		if r == nil {
			out = append(out, Target{Name: name, Goal: "≤ 1.0× the numpy peer", Measured: "not measured"})
			continue
		}
		out = append(out, Target{Name: name, Goal: "≤ 1.0× the numpy peer", Measured: fmt.Sprintf("%.2f× (%.3fs vs %.3fs; CPU %.3fs vs %.3fs)%s",
			r.VsNumpy, r.Pipeline.WallSec, r.Numpy.Iteration.WallSec, r.Pipeline.CPUSec, r.Numpy.Iteration.CPUSec, smoke), Met: yes(r.VsNumpy <= 1)})
	}
	name := "ALS synth-10M implicit rank 32, 10 iterations: pipeline peak RSS"
	switch r := a.run("synth-10M", true, 32); {
	case r == nil:
		out = append(out, Target{Name: name, Goal: "≤ 6 GiB", Measured: "not measured"})
	case a.Iterations != 10:
		out = append(out, Target{Name: name, Goal: "≤ 6 GiB", Measured: fmt.Sprintf("%.2f GiB, but with %d iterations", r.PeakRSSMiB/1024, a.Iterations)})
	default:
		out = append(out, Target{Name: name, Goal: "≤ 6 GiB", Measured: fmt.Sprintf("%.2f GiB%s", r.PeakRSSMiB/1024, smoke), Met: yes(r.PeakRSSMiB <= 6*1024)})
	}
	return out
}

// run is the section's run of a dataset, mode and rank, or nil.
func (a *ALSResult) run(dataset string, implicit bool, rank int) *ALSRun {
	for _, r := range a.Runs {
		if r.Dataset == dataset && r.Implicit == implicit && r.Rank == rank {
			return r
		}
	}
	return nil
}
