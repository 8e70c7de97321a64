package main

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/recsys/itemsim/bench/data"
	"github.com/recsys/itemsim/bench/sampling"
	"github.com/recsys/itemsim/bench/synth"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
)

// harness holds the built binaries and the pipeline runs done so far (the
// 1× point of the scaling series is the 1M dataset: it is not run twice).
type harness struct {
	o          options
	root, work string
	runs       map[string]*pipelineRun
}

// dataset is one input of the benchmark.
type dataset struct {
	Name   string
	Source data.Source
	// Synthetic sets are generated into the cache on first use: a number
	// of interactions, or (fixed-catalogue mode) of users, over Items.
	Interactions, Users, Items int
}

// pipelineRun is one run of the pipeline binary.
type pipelineRun struct {
	Proc     Proc
	Counters map[string]int64
	Output   string
	// Attempts is the number of runs made (see maxAttempts).
	Attempts int
}

func (h *harness) bin(name string) string { return filepath.Join(h.work, name) }

// build compiles the pipeline, the Go peer, the profiling command, the
// ALS section's runner and the measuring launcher.
func (h *harness) build() error {
	for name, pkg := range map[string]string{"similarity": "./pipelines/similarity", "exact": "./bench/cmd/exact",
		"profile": "./bench/cmd/profile", "rusage": "./bench/cmd/rusage", "alsrun": "./bench/cmd/bench/alsrun"} {
		cmd := exec.Command("go", "build", "-o", h.bin(name), pkg)
		cmd.Dir = h.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return nil
}

// synthetic names a bench/synth log of n interactions over items items.
func (h *harness) synthetic(name string, n, items int) dataset {
	path := filepath.Join(h.o.cache, fmt.Sprintf("synth-%d-items%d-seed%d.csv", n, items, h.o.synthSeed))
	return dataset{Name: name, Interactions: n, Items: items, Source: data.Source{Path: path, Format: "csv", Header: true,
		User: "user", Item: "productSku", Action: "type", Weights: "1:0.5,2:2,3:6"}}
}

// fixedCatalogue names a bench/synth log of exactly users users over items
// items (the sampling series).
func (h *harness) fixedCatalogue(name string, users, items int) dataset {
	d := h.synthetic(name, 0, items)
	d.Users = users
	d.Source.Path = filepath.Join(h.o.cache, fmt.Sprintf("synth-users%d-items%d-seed%d.csv", users, items, h.o.synthSeed))
	return d
}

// datasets lists the inputs of this run, smallest first (those of
// --datasets only, when set).
func (h *harness) datasets() []dataset {
	all := h.allDatasets()
	if len(h.o.datasets) == 0 {
		return all
	}
	return slices.DeleteFunc(all, func(d dataset) bool { return !slices.Contains(h.o.datasets, d.Name) })
}

// allDatasets lists the inputs of the mode (quick or full).
func (h *harness) allDatasets() []dataset {
	all := h.catalogue()
	if h.o.quick {
		return slices.DeleteFunc(all, func(d dataset) bool { return d.Name != "ml-100k" && d.Name != "synth-100k" })
	}
	return all
}

// catalogue lists every dataset the harness knows, smallest first.
func (h *harness) catalogue() []dataset {
	ml := dataset{Name: "ml-100k", Source: data.Source{Path: filepath.Join(h.o.shared, "ml-100k/u.data"), Format: "tsv",
		User: "0", Item: "1", Score: "2"}}
	rees := dataset{Name: "rees46-oct-sample", Source: data.Source{Path: filepath.Join(h.o.shared, "rees46-2019-oct-sample/2019-Oct.csv"),
		Format: "csv", Header: true, User: "user_id", Item: "product_id", Action: "event_type", Weights: "view:0.5,cart:2,purchase:6"}}
	return []dataset{ml, rees, h.synthetic("synth-100k", 100_000, 5_000),
		h.synthetic("synth-1M", 1_000_000, 20_000), h.synthetic("synth-10M", 10_000_000, 100_000)}
}

// generate writes a synthetic log into the cache unless it is there.
func (h *harness) generate(d dataset) error {
	if d.Interactions == 0 && d.Users == 0 {
		return nil
	}
	if _, err := os.Stat(d.Source.Path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(d.Source.Path), 0o755); err != nil {
		return err
	}
	fmt.Printf("generating %s\n", d.Source.Path)
	tmp := d.Source.Path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = synth.Write(f, synth.Config{Interactions: d.Interactions, Users: d.Users, Items: d.Items, Seed: h.o.synthSeed})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, d.Source.Path)
}

// maxAttempts bounds the runs of one pipeline configuration: Prism can
// lose a bundle's counter updates (two bundles of a step reporting a
// counter it has not seen yet), so a run whose DIMSUM counters disagree
// with the library's sampling is repeated.
const maxAttempts = 3

// pipeline runs the pipeline binary on d at threshold t (once per input
// and threshold), until its sampling counters equal want (the library's
// sampling of the same rows) or maxAttempts runs were made.
func (h *harness) pipeline(d dataset, t float64, want sampling.Counts, repeat int) (*pipelineRun, error) {
	key := d.Source.Path + "@" + strconv.FormatFloat(t, 'g', -1, 64)
	if r, ok := h.runs[key]; ok {
		return r, nil
	}
	out := filepath.Join(h.work, fmt.Sprintf("%s-%d-t%g.jsonl", d.Name, len(h.runs), t))
	args := h.pipelineArgs(d, t, out)
	var r *pipelineRun
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		p, stdout, err := h.run(h.bin("similarity"), args...)
		if err != nil {
			return nil, err
		}
		r = &pipelineRun{Proc: p, Counters: parseCounters(stdout), Output: out, Attempts: attempt}
		fmt.Printf("  pipeline  %-18s t=%-5g wall %7.2fs  cpu %7.2fs  rss %7.0f MiB  load %.1f  pairs %d\n",
			d.Name, t, p.WallSec, p.CPUSec, p.MaxRSSMiB, p.Load, r.Counters["dimsum/pairs_emitted"])
		if r.samplingAgrees(want) {
			break
		}
		fmt.Printf("    counters disagree with the library's sampling (%d pairs): lost counter updates\n", want.PairsEmitted)
	}
	if repeat > 1 {
		p, err := median(r.Proc, repeat, func() (Proc, error) {
			p, _, err := h.run(h.bin("similarity"), args...)
			return p, err
		})
		if err != nil {
			return nil, err
		}
		r.Proc = p
		fmt.Printf("    median of %d runs: wall %7.2fs  cpu %7.2fs  (largest rss %7.0f MiB)\n", repeat, p.WallSec, p.CPUSec, p.MaxRSSMiB)
	}
	h.runs[key] = r
	return r, nil
}

// pipelineArgs are the pipeline's flags for d at threshold t.
func (h *harness) pipelineArgs(d dataset, t float64, out string) []string {
	return append(d.Source.Args(), "--top_n="+strconv.Itoa(h.o.topN), "--threshold="+strconv.FormatFloat(t, 'g', -1, 64),
		"--seed="+strconv.FormatUint(h.o.seed, 10), "--memory_limit_mb="+strconv.Itoa(h.o.memoryLimitMB), "--output="+out)
}

// median completes first with further runs of the same command (again) up
// to n in all, and returns the run with the median wall time, carrying the
// largest peak RSS of them all: a single run's time on 2 shared cores varies
// by tens of percent.
func median(first Proc, n int, again func() (Proc, error)) (Proc, error) {
	runs := []Proc{first}
	for len(runs) < n {
		p, err := again()
		if err != nil {
			return Proc{}, err
		}
		runs = append(runs, p)
	}
	slices.SortFunc(runs, func(a, b Proc) int { return cmp.Compare(a.WallSec, b.WallSec) })
	m := runs[len(runs)/2]
	for _, r := range runs {
		m.MaxRSSMiB = max(m.MaxRSSMiB, r.MaxRSSMiB)
	}
	return m, nil
}

// samplingAgrees says the run's DIMSUM counters equal want's (distinct
// pairs only when want has them: sampling.Count does not sum pairs).
func (r *pipelineRun) samplingAgrees(want sampling.Counts) bool {
	c := r.Counters
	return c["dimsum/pairs_emitted"] == want.PairsEmitted && c["dimsum/entries_kept"] == want.EntriesKept &&
		c["dimsum/entries_dropped"] == want.EntriesDropped &&
		(want.DistinctPairs == 0 || c["dimsum/distinct_pairs"] == want.DistinctPairs)
}

// peer runs the pandas or Go exact peer on d; it returns the median run,
// the output file and the last run's standard output.
func (h *harness) peer(d dataset, name string) (Proc, string, string, error) {
	out := filepath.Join(h.work, d.Name+"-"+name+".jsonl")
	var stdout string
	once := func() (Proc, error) {
		p, s, err := h.runPeer(d, name, out)
		stdout = s
		return p, err
	}
	first, err := once()
	if err != nil {
		return Proc{}, out, "", err
	}
	p, err := median(first, h.o.repeat, once)
	if err == nil {
		fmt.Printf("  %-9s %-18s       wall %7.2fs  cpu %7.2fs  rss %7.0f MiB  load %.1f (median of %d)\n", name, d.Name, p.WallSec, p.CPUSec, p.MaxRSSMiB, p.Load, h.o.repeat)
	}
	return p, out, stdout, err
}

// runPeer runs the pandas or Go exact peer on d once, writing out. The
// pandas peer runs without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which
// this machine sets for old OpenBLAS builds and which pin a current numpy
// to a slower kernel (it prints the kernel it then runs).
func (h *harness) runPeer(d dataset, name, out string) (Proc, string, error) {
	args := append(d.Source.Args(), "--top_n="+strconv.Itoa(h.o.topN), "--output="+out)
	if name == "pandas" {
		return h.runEnv(peerEnv(), h.o.python, append([]string{filepath.Join(h.root, "bench/peers/pandas_cosine.py")}, args...)...)
	}
	return h.run(h.bin("exact"), args...)
}

// peerEnv is the Python peers' environment: the harness's without
// OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (see runPeer).
func peerEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "OPENBLAS_CORETYPE=") || strings.HasPrefix(kv, "OPENBLAS_L2_SIZE=")
	})
}

// The speed target's dataset and threshold (exact mode), measured head
// to head.
const (
	pairedDataset   = "synth-1M"
	pairedThreshold = 0
)

// paired runs the pipeline at threshold t and the pandas peer on d in turn,
// n times each, alternating which goes first, and keeps each pair's ratio:
// wall times on this VM drift by tens of percent within minutes, and a
// ratio of neighbouring runs cancels the drift that medians taken minutes
// apart do not.
func (h *harness) paired(d dataset, t float64, n int) (*PairedResult, error) {
	r := &PairedResult{Threshold: t}
	out := filepath.Join(h.work, d.Name+"-paired.jsonl")
	pipe := func() (Proc, error) {
		p, _, err := h.run(h.bin("similarity"), h.pipelineArgs(d, t, out)...)
		return p, err
	}
	peer := func() (Proc, error) {
		p, _, err := h.runPeer(d, "pandas", out)
		return p, err
	}
	for k := range n {
		r.Load = append(r.Load, loadAverage())
		first, second := pipe, peer
		if k%2 == 1 {
			first, second = peer, pipe
		}
		a, err := first()
		if err != nil {
			return nil, err
		}
		b, err := second()
		if err != nil {
			return nil, err
		}
		if k%2 == 1 {
			a, b = b, a
		}
		r.PipelineWall, r.PandasWall = append(r.PipelineWall, a.WallSec), append(r.PandasWall, b.WallSec)
		r.PipelineRSS, r.PandasRSS = append(r.PipelineRSS, a.MaxRSSMiB), append(r.PandasRSS, b.MaxRSSMiB)
		r.Ratios = append(r.Ratios, a.WallSec/b.WallSec)
		fmt.Printf("  paired    %-18s t=%-5g pipeline %6.2fs  pandas %6.2fs  ratio %.2f  load %.1f\n", d.Name, t, a.WallSec, b.WallSec, a.WallSec/b.WallSec, r.Load[k])
	}
	sorted := slices.Sorted(slices.Values(r.Ratios))
	r.MedianRatio = sorted[len(sorted)/2]
	fmt.Printf("    median ratio of %d pairs: %.2f\n", n, r.MedianRatio)
	return r, nil
}

// dataset measures the pipeline at every threshold and the peers on d.
func (h *harness) dataset(d dataset) (*DatasetResult, error) {
	fmt.Printf("%s: %s\n", d.Name, d.Source.Path)
	m, err := data.LoadSource(d.Source)
	if err != nil {
		return nil, err
	}
	dr := &DatasetResult{Name: d.Name, Path: d.Source.Path, Flags: d.Source.Args(), Interactions: d.Interactions, Users: len(m.Rows),
		Items: len(m.Table.Items), Entries: m.Entries(), NaivePairs: m.NaivePairs(), BadRows: m.Bad}

	// Exact cosines of the pairs any threshold's accuracy is measured on.
	minT := 1.0
	for _, t := range h.o.thresholds[1:] {
		minT = math.Min(minT, t)
	}
	strong := make([]dimsum.Row, len(m.Table.Items))
	sampling.Estimate(m, 0, h.o.seed, func(i int32, row dimsum.Row) {
		for k, j := range row.J {
			if row.S[k] >= minT {
				strong[i].J = append(strong[i].J, j)
				strong[i].S = append(strong[i].S, row.S[k])
			}
		}
	})

	pandasOut, stdout := "", ""
	if dr.Pandas, pandasOut, stdout, err = h.peer(d, "pandas"); err != nil {
		return nil, err
	}
	for _, line := range strings.Split(stdout, "\n") {
		if v, ok := strings.CutPrefix(line, "blas: "); ok {
			dr.BLAS = v
		}
	}
	var goOut string
	if dr.GoExact, goOut, _, err = h.peer(d, "go-exact"); err != nil {
		return nil, err
	}
	var exact map[string][]model.Neighbor
	for _, t := range h.o.thresholds {
		tr, err := h.evaluate(d, m, t, exact, strong)
		if err != nil {
			return nil, err
		}
		if t == 0 {
			exact = tr.output
		}
		dr.Runs = append(dr.Runs, tr)
	}
	pandas, err := readOutput(pandasOut)
	if err != nil {
		return nil, err
	}
	goExact, err := readOutput(goOut)
	if err != nil {
		return nil, err
	}
	dr.PipelineVsPandas = compare(pandas, exact)
	dr.GoExactVsPandas = compare(pandas, goExact)
	fmt.Printf("  exact vs pandas: pipeline max |Δ| %.3g (%d id mismatches), go-exact max |Δ| %.3g (%d); BLAS %s\n",
		dr.PipelineVsPandas.MaxAbsDiff, dr.PipelineVsPandas.Mismatches, dr.GoExactVsPandas.MaxAbsDiff, dr.GoExactVsPandas.Mismatches, dr.BLAS)
	if d.Name == pairedDataset && h.o.paired > 0 {
		if dr.Paired, err = h.paired(d, pairedThreshold, h.o.paired); err != nil {
			return nil, err
		}
	}
	return dr, nil
}

// evaluate runs the pipeline on d at threshold t and turns the run into
// its figures: counters, the theory's expectation of the emitted pairs,
// overlap with the exact run, and the accuracy of every estimate from the
// same library code run in-process, whose top N must equal the pipeline's
// file. exact is the exact run's output (nil when t is 0).
func (h *harness) evaluate(d dataset, m *data.Matrix, t float64, exact map[string][]model.Neighbor, strong []dimsum.Row) (*ThresholdResult, error) {
	lists := make([][]model.Candidate, len(m.Table.Items))
	var acc accuracy
	in := sampling.Estimate(m, t, h.o.seed, func(i int32, row dimsum.Row) {
		for k, j := range row.J {
			if s := row.S[k]; s > 0 {
				lists[i] = model.Insert(lists[i], model.Candidate{ID: j, Score: s}, h.o.topN)
				lists[j] = model.Insert(lists[j], model.Candidate{ID: i, Score: s}, h.o.topN)
			}
		}
		if t > 0 {
			acc.add(strong[i], row, t)
		}
	})
	r, err := h.pipeline(d, t, in, h.o.repeat)
	if err != nil {
		return nil, err
	}
	out, err := readOutput(r.Output)
	if err != nil {
		return nil, err
	}
	if exact == nil {
		exact = out
	}
	c := r.Counters
	tr := &ThresholdResult{Threshold: t, Pipeline: r.Proc, Attempts: r.Attempts, PairsEmitted: c["dimsum/pairs_emitted"],
		DistinctPairs: c["dimsum/distinct_pairs"], PartialRows: c["dimsum/partial_rows"], PartialBytes: c["dimsum/partial_bytes"],
		EntriesKept: c["dimsum/entries_kept"], EntriesDropped: c["dimsum/entries_dropped"],
		Overlap: overlap(exact, out, h.o.topN), InProcess: in, CountersMatch: r.samplingAgrees(in), output: out}
	tr.CrossCheckMismatches = crossCheck(lists, m.Table.Items, out)
	if t > 0 {
		tr.StrongPairs = acc.n
		if acc.n > 0 {
			mae, within := acc.absErr/float64(acc.n), float64(acc.within)/float64(acc.n)
			tr.MAE, tr.Within20 = &mae, &within
		}
	}
	mo := sampling.PairMoments(m, t)
	tr.ExpectedPairs, tr.PairsSD = mo.Mean, math.Sqrt(mo.Var)
	tr.TheoryOK = withinTheory(in.PairsEmitted, mo)
	fmt.Printf("    overlap %.4f  pairs in-process %d (expected %.0f ± %.0f, ok %v)  counters match: %v  top-N in-process = file: %d items differ\n",
		tr.Overlap, in.PairsEmitted, tr.ExpectedPairs, tr.PairsSD, tr.TheoryOK, tr.CountersMatch, tr.CrossCheckMismatches)
	return tr, nil
}

// withinTheory says an emitted pair count is within max(1%, 3 sd) of its
// expectation.
func withinTheory(emitted int64, mo sampling.Moments) bool {
	return math.Abs(float64(emitted)-mo.Mean) <= max(0.01*mo.Mean, 3*math.Sqrt(mo.Var))
}

// scaling runs the sampling series: a fixed catalogue (--scale_items), 1×,
// 2×, ... the users (bench/synth's fixed-catalogue mode, so each point's
// users are the previous point's plus more who behave alike), thresholds
// 0, 0.5 and 0.1. Its figures come from one run per point and threshold.
// done, when not nil, is called with the series so far after each point.
func (h *harness) scaling(done func(*ScalingResult) error) (*ScalingResult, error) {
	start := time.Now()
	sr := &ScalingResult{Items: h.o.scaleItems, BaseUsers: h.o.scaleUsers, Thresholds: []float64{0, 0.5, 0.1},
		Date: start.UTC().Format(time.RFC3339), LoadStart: loadAverage()}
	fmt.Printf("sampling series, %d items, %d users at 1×\n", h.o.scaleItems, h.o.scaleUsers)
	for _, f := range h.o.scaleFactors {
		d := h.fixedCatalogue(fmt.Sprintf("users-%dx", f), f*h.o.scaleUsers, h.o.scaleItems)
		if err := h.generate(d); err != nil {
			return nil, err
		}
		rows, err := countRows(d.Source.Path)
		if err != nil {
			return nil, err
		}
		m, err := data.LoadSource(d.Source)
		if err != nil {
			return nil, err
		}
		pt := ScalePoint{Factor: f, Interactions: rows, Users: len(m.Rows), Entries: m.Entries(), NaivePairs: m.NaivePairs()}
		fmt.Printf("%s: %d interactions, %d users, %d entries\n", d.Name, rows, pt.Users, pt.Entries)
		var exact map[string][]model.Neighbor
		for _, t := range sr.Thresholds {
			in := sampling.Estimate(m, t, h.o.seed, func(int32, dimsum.Row) {})
			r, err := h.pipeline(d, t, in, 1)
			if err != nil {
				return nil, err
			}
			out, err := readOutput(r.Output)
			if err != nil {
				return nil, err
			}
			if t == 0 {
				exact = out
			}
			mo := sampling.PairMoments(m, t)
			run := ScaleRun{Threshold: t, Pipeline: r.Proc, Attempts: r.Attempts, CountersAgree: r.samplingAgrees(in),
				PairsEmitted: r.Counters["dimsum/pairs_emitted"], PartialBytes: r.Counters["dimsum/partial_bytes"],
				DistinctPairs: r.Counters["dimsum/distinct_pairs"], InProcess: in, ExpectedPairs: mo.Mean,
				PairsSD: math.Sqrt(mo.Var), TheoryOK: withinTheory(in.PairsEmitted, mo), Overlap: overlap(exact, out, h.o.topN)}
			fmt.Printf("    dropped %d of %d entries (%.1f%%), pairs %d (expected %.0f ± %.0f), distinct %d, shuffle %.1f MB, overlap %.4f\n",
				in.EntriesDropped, in.EntriesDropped+in.EntriesKept, 100*float64(in.EntriesDropped)/float64(in.EntriesDropped+in.EntriesKept),
				in.PairsEmitted, mo.Mean, math.Sqrt(mo.Var), in.DistinctPairs, float64(run.PartialBytes)/1e6, run.Overlap)
			pt.Runs = append(pt.Runs, run)
		}
		sr.Points = append(sr.Points, pt)
		sr.TotalSec = time.Since(start).Seconds()
		if done != nil {
			if err := done(sr); err != nil {
				return nil, err
			}
		}
	}
	return sr, nil
}

// countRows counts the data lines of a file with a header line.
func countRows(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	lines := 0
	for {
		n, err := f.Read(buf)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		if err == io.EOF {
			return lines - 1, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// cpuProfile runs the pipeline in-process on the 1M synthetic set in
// exact mode (the speed targets' mode) under pprof and keeps
// `go tool pprof -top`.
func (h *harness) cpuProfile() (*ProfileResult, error) {
	d := h.synthetic("synth-1M", 1_000_000, 20_000)
	if err := h.generate(d); err != nil {
		return nil, err
	}
	prof := filepath.Join(h.work, "cpu.prof")
	args := append(d.Source.Args(), "--threshold=0", "--top_n="+strconv.Itoa(h.o.topN),
		"--cpuprofile="+prof, "--output="+filepath.Join(h.work, "profile.jsonl"))
	p, _, err := h.run(h.bin("profile"), args...)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", h.bin("profile"), prof)
	cmd.Dir = h.root
	top, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %v", err)
	}
	fmt.Printf("profile (%s, exact, in-process):\n%s\n", d.Name, top)
	// The job's own functions by cumulative time: what is left is Beam and
	// Prism.
	cum := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=25", "-show=recsys/itemsim", h.bin("profile"), prof)
	cum.Dir = h.root
	topCum, err := cum.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -cum: %v", err)
	}
	shares, sec, err := attribute(prof)
	if err != nil {
		return nil, err
	}
	return &ProfileResult{Dataset: d.Name, Threshold: 0, Run: p, Top: strings.TrimSpace(string(top)),
		TopCum: strings.TrimSpace(string(topCum)), Components: shares, Seconds: sec}, nil
}
