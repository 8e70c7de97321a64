// Command bench measures the similarity pipeline against its peers on the
// same files and the same scoring, in one run: speed (wall and CPU time),
// peak memory, shuffle volume and accuracy against exact cosine, for every
// dataset and DIMSUM threshold, plus how the emitted pairs grow with the
// number of users on a small fixed catalogue where DIMSUM's sampling
// engages, checked against the sampling theory. It writes results.md,
// results.json and PNG plots to --out.
//
//	go run ./bench/cmd/bench --out=docs/bench                  # full run
//	go run ./bench/cmd/bench --out=docs/bench --quick          # ML-100k and 100k synthetic only
//	go run ./bench/cmd/bench --out=docs/bench --sampling_only  # the sampling series alone
//	go run ./bench/cmd/bench --out=docs/bench --als_only       # the ALS section alone
//
// The pipeline (pipelines/similarity on Prism), the exact Go peer
// (bench/cmd/exact) and the vectorised pandas peer
// (bench/peers/pandas_cosine.py, run with --python, which needs pandas,
// scipy and numpy) each run as a subprocess,
// started by a small launcher (bench/cmd/rusage), so their time and peak
// RSS are measured alike (wait4's rusage) and not inflated by the harness.
//
// The ALS section (als.go) times the ALS pipeline (transforms/als on Prism,
// run by bench/cmd/bench/alsrun), the single-process Go reference
// (model/als.Train, alsrun too) and the numpy peer
// (bench/peers/als_numpy.py) per iteration on the same ratings files.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// options are the command's flags.
type options struct {
	out, cache, shared, python string
	quick, profile, render     bool
	samplingOnly               bool
	als, alsOnly               bool
	alsDatasets                []string
	alsRanks                   []int
	alsIterations, alsRepeat   int
	alsLambda, alsAlpha        float64
	alsSeed                    uint64
	datasets                   []string
	thresholds                 []float64
	topN                       int
	memoryLimitMB              int
	repeat                     int
	paired                     int
	seed, synthSeed            uint64
	scaleItems, scaleUsers     int
	scaleFactors               []int
}

func main() {
	o, err := parseFlags()
	if err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var o options
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	flag.StringVar(&o.out, "out", "docs/bench", "Directory of results.md, results.json and the plots.")
	flag.StringVar(&o.cache, "cache", filepath.Join(cacheDir, "itemsim-bench"), "Directory of the generated synthetic logs (kept between runs, never committed).")
	flag.StringVar(&o.shared, "shared", "../shared/datasets", "Directory of the shared datasets (ml-100k/u.data, rees46-2019-oct-sample/2019-Oct.csv), relative to the module root.")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "Python with pandas, scipy and numpy, for the pandas peer.")
	flag.BoolVar(&o.quick, "quick", false, "ML-100k and the 100k synthetic set only, no user-scaling series and no profile.")
	flag.BoolVar(&o.render, "render", false, "Only rewrite results.md and the plots from --out's results.json (after a change of the report).")
	flag.BoolVar(&o.samplingOnly, "sampling_only", false, "Run only the sampling series and put it into --out's results.json (the other sections are kept).")
	datasets := flag.String("datasets", "", "Comma-separated dataset names to run (default: every dataset of the mode), e.g. synth-1M,synth-10M.")
	flag.BoolVar(&o.profile, "profile", true, "Profile the pipeline in-process on the 1M synthetic set in exact mode (off with --quick or --datasets unless set).")
	thresholds := flag.String("thresholds", "0,0.5,0.2,0.1,0.05", "DIMSUM thresholds; 0 (exact) is always run first.")
	flag.IntVar(&o.topN, "top_n", 10, "Neighbours per item.")
	flag.IntVar(&o.repeat, "repeat", 3, "Runs of each timed command on the datasets (not the scaling series); wall and CPU are the median run's, peak RSS the largest.")
	flag.IntVar(&o.paired, "paired", 5, "Runs of the pipeline in exact mode and of the pandas peer in turn on synth-1M, for the speed target's ratio (0: none).")
	flag.IntVar(&o.memoryLimitMB, "memory_limit_mb", 3072, "The pipeline's --memory_limit_mb (its soft memory limit, 0: none).")
	flag.Uint64Var(&o.seed, "seed", 42, "DIMSUM sampling seed.")
	flag.Uint64Var(&o.synthSeed, "synth_seed", 1, "Seed of the synthetic logs.")
	flag.IntVar(&o.scaleItems, "scale_items", 500, "Catalogue of the sampling series.")
	flag.IntVar(&o.scaleUsers, "scale_users", 100_000, "Users of the 1× point of the sampling series (about 1M interactions).")
	factors := flag.String("scale_factors", "1,2,4,8", "User multipliers of the sampling series (none with --quick or --datasets unless set).")
	flag.BoolVar(&o.als, "als", true, "Run the ALS section (off with --quick or --datasets unless set).")
	flag.BoolVar(&o.alsOnly, "als_only", false, "Run only the ALS section and put it into --out's results.json (the other sections are kept).")
	alsDatasets := flag.String("als_datasets", "ml-100k,synth-1M,synth-10M", "Datasets of the ALS section (implicit mode; ml-100k in explicit mode too).")
	alsRanks := flag.String("als_ranks", "32,64", "Ranks of the ALS section.")
	flag.IntVar(&o.alsIterations, "als_iterations", 10, "Iterations N of every ALS run (the pipeline also runs 1: its seconds per iteration are the difference over N−1).")
	flag.IntVar(&o.alsRepeat, "als_repeat", 3, "Rounds of the ALS section's runs per dataset and rank; the figures are the rounds' medians.")
	flag.Float64Var(&o.alsLambda, "als_lambda", 0.1, "λ of the ALS runs.")
	flag.Float64Var(&o.alsAlpha, "als_alpha", 2, "α of the ALS runs (implicit mode).")
	flag.Uint64Var(&o.alsSeed, "als_seed", 1, "Seed of the ALS runs' starting factors.")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range strings.Split(*datasets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.datasets = append(o.datasets, s)
		}
	}
	partial := o.quick || len(o.datasets) > 0
	if (partial || o.samplingOnly) && !set["profile"] {
		o.profile = false
	}
	if (partial || o.samplingOnly) && !set["als"] {
		o.als = false
	}
	if o.alsRepeat < 1 {
		return o, fmt.Errorf("--als_repeat=%d: want at least 1", o.alsRepeat)
	}
	for _, s := range strings.Split(*alsDatasets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.alsDatasets = append(o.alsDatasets, s)
		}
	}
	for _, s := range strings.Split(*alsRanks, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || r < 1 {
			return o, fmt.Errorf("--als_ranks: %q is not a positive integer", s)
		}
		o.alsRanks = append(o.alsRanks, r)
	}
	o.thresholds = []float64{0}
	for _, s := range strings.Split(*thresholds, ",") {
		t, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || t < 0 || t > 1 {
			return o, fmt.Errorf("--thresholds: %q is not in [0, 1]", s)
		}
		if t > 0 {
			o.thresholds = append(o.thresholds, t)
		}
	}
	if !partial || o.samplingOnly || set["scale_factors"] {
		for _, s := range strings.Split(*factors, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			f, err := strconv.Atoi(s)
			if err != nil || f < 1 {
				return o, fmt.Errorf("--scale_factors: %q is not a positive integer", s)
			}
			o.scaleFactors = append(o.scaleFactors, f)
		}
	}
	return o, nil
}

func run(o options) error {
	if o.render {
		return render(o.out)
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(o.shared) {
		o.shared = filepath.Join(root, o.shared)
	}
	work, err := os.MkdirTemp("", "itemsim-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	h := &harness{o: o, root: root, work: work, runs: map[string]*pipelineRun{}}
	if err := h.build(); err != nil {
		return err
	}
	if o.samplingOnly {
		return samplingOnly(h)
	}
	if o.alsOnly {
		return alsOnly(h)
	}
	res := &Results{Machine: machine(), Date: time.Now().UTC().Format(time.RFC3339), Quick: o.quick, Selected: o.datasets,
		Thresholds: o.thresholds, TopN: o.topN, Seed: o.seed, SynthSeed: o.synthSeed, MemoryLimitMB: o.memoryLimitMB, Repeat: o.repeat}
	start := time.Now()
	for _, d := range h.datasets() {
		if err := h.generate(d); err != nil {
			return err
		}
		if _, err := os.Stat(d.Source.Path); err != nil {
			msg := fmt.Sprintf("%s: skipped, %s is absent", d.Name, d.Source.Path)
			fmt.Println(msg)
			res.Skipped = append(res.Skipped, msg)
			continue
		}
		dr, err := h.dataset(d)
		if err != nil {
			return fmt.Errorf("%s: %v", d.Name, err)
		}
		res.Datasets = append(res.Datasets, dr)
	}
	if len(o.scaleFactors) > 0 {
		if res.Scaling, err = h.scaling(nil); err != nil {
			return err
		}
	}
	if o.als {
		if res.ALS, err = h.als(nil); err != nil {
			return err
		}
	}
	if o.profile {
		if res.Profile, err = h.cpuProfile(); err != nil {
			return err
		}
	}
	res.Targets = targets(res)
	res.Machine.LoadAfter = loadAverage()
	res.TotalSec = time.Since(start).Seconds()
	return write(o.out, res)
}

// render rewrites the report of dir/results.json.
func render(dir string) error {
	res, err := load(dir)
	if err != nil {
		return err
	}
	res.Targets = targets(res)
	return write(dir, res)
}

// load reads dir/results.json.
func load(dir string) (*Results, error) {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return nil, err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "results.json"), err)
	}
	return &res, nil
}

// samplingOnly runs the sampling series and replaces it in --out's
// results.json (a fresh report when there is none), keeping the rest.
func samplingOnly(h *harness) error {
	res, err := load(h.o.out)
	if errors.Is(err, fs.ErrNotExist) {
		res, err = &Results{Machine: machine(), Date: time.Now().UTC().Format(time.RFC3339), TopN: h.o.topN, Seed: h.o.seed,
			SynthSeed: h.o.synthSeed, MemoryLimitMB: h.o.memoryLimitMB}, nil
	}
	if err != nil {
		return err
	}
	if res.TopN != h.o.topN || res.Seed != h.o.seed {
		return fmt.Errorf("%s/results.json has --top_n=%d --seed=%d: run with the same", h.o.out, res.TopN, res.Seed)
	}
	// The report is written after every point: the series is long, and a
	// point measured is kept if a later one is stopped.
	_, err = h.scaling(func(sr *ScalingResult) error {
		res.Scaling, res.Targets = sr, targets(res)
		return write(h.o.out, res)
	})
	return err
}

// alsOnly runs the ALS section and replaces it in --out's results.json (a
// fresh report when there is none), keeping the rest; the report is
// written after every run, as samplingOnly's.
func alsOnly(h *harness) error {
	res, err := load(h.o.out)
	if errors.Is(err, fs.ErrNotExist) {
		res, err = &Results{Machine: machine(), Date: time.Now().UTC().Format(time.RFC3339), TopN: h.o.topN, Seed: h.o.seed,
			SynthSeed: h.o.synthSeed, MemoryLimitMB: h.o.memoryLimitMB}, nil
	}
	if err != nil {
		return err
	}
	_, err = h.als(func(a *ALSResult) error {
		res.ALS, res.Targets = a, targets(res)
		return write(h.o.out, res)
	})
	return err
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run from inside the itemsim module")
	}
	return filepath.Dir(mod), nil
}
