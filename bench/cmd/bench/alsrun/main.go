// Command alsrun is the Go side of the benchmark's ALS section: it
// factorises a ratings file (one "user<TAB>item<TAB>score" per line, no
// header, one line per pair, as the harness writes it) either with the
// blocked Beam pipeline (transforms/als) on Prism or with the
// single-process reference (model/als.Train), so that the harness measures
// each as its own process.
//
//	alsrun --impl=pipeline --ratings=r.tsv --rank=32 --implicit --iterations=10 \
//	  --factors_output=/tmp/f --memory_limit_mb=3072
//	alsrun --impl=go --ratings=r.tsv --rank=32 --implicit --iterations=10 --compare=/tmp/f
//
// The pipeline reads the file with the jobs' reader and scoring
// (transforms/interactions, transforms/scoring: a score field, summed per
// pair, not clipped), factorises it with als.Factorize and writes each
// side's factors as the job's JSONL (users.jsonl, items.jsonl in
// --factors_output); it prints "wall time: ..." as the jobs do. The
// harness times it from outside: per iteration, the difference between a
// run of N iterations and one of 1, over N−1.
//
// The reference reads the same file with the same code (bench/data),
// trains on --workers goroutines and prints, as the numpy peer
// (bench/peers/als_numpy.py) does, "iteration I: wall W cpu C" after each
// iteration (this process's CPU, every thread), "seconds per iteration: S"
// (the median wall time of the iterations after the first) and
// "objective: V" (the function the mode minimises, at the final factors).
// With --compare=DIR it also reads the pipeline's factors from DIR and
// prints "pipeline objective: V" and "pipeline max abs diff: D" (the
// largest difference from its own factors, which the pipeline is meant to
// equal bit for bit).
//
// --impl=init writes the items' starting factors, as model/als and the
// pipeline draw them (als.InitFactor), for the numpy peer's --init: raw
// little-endian float64s, --rank per item, items in ascending id order.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/recsys/itemsim/bench/data"
	als "github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/runners"
	tals "github.com/recsys/itemsim/transforms/als"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/scoring"
	"github.com/recsys/itemsim/transforms/textsink"
)

var (
	impl     = flag.String("impl", "", "pipeline (transforms/als on the runner, Prism by default), go (model/als.Train) or init (--init_output).")
	ratings  = flag.String("ratings", "", "Ratings file: user<TAB>item<TAB>score lines, no header (required).")
	rank     = flag.Int("rank", 32, "Factors per user and item.")
	lambda   = flag.Float64("lambda", 0.1, "Regularisation (times each row's rating count in explicit mode).")
	implicit = flag.Bool("implicit", false, "Hu, Koren & Volinsky's implicit-feedback ALS (else explicit ALS-WR).")
	alpha    = flag.Float64("alpha", 2, "Implicit mode's confidence slope: c = 1 + alpha·score.")
	iters    = flag.Int("iterations", 10, "Iterations (users, then items).")
	seed     = flag.Uint64("seed", 1, "Seed of the starting factors.")
	blocks   = flag.Int("blocks", 0, "The pipeline's blocks per side (0: what suits the runner, as the job picks: transforms/als.BlocksFor).")
	factors  = flag.String("factors_output", "", "Directory of the pipeline's users.jsonl and items.jsonl (required with --impl=pipeline).")
	workers  = flag.Int("workers", runtime.NumCPU(), "The reference's goroutines.")
	compare  = flag.String("compare", "", "Directory of a pipeline run's factors to compare the reference's with (optional).")
	initOut  = flag.String("init_output", "", "File of the items' starting factors (--impl=init).")
)

func main() {
	flag.Parse()
	beam.Init()
	if err := runners.Prepare(); err != nil {
		fail(err)
	}
	cfg := als.Config{Rank: *rank, Lambda: *lambda, Implicit: *implicit, Alpha: *alpha, Iterations: *iters, Seed: *seed}
	if err := cfg.Validate(); err != nil {
		fail(err)
	}
	if *ratings == "" {
		fail(fmt.Errorf("--ratings is required"))
	}
	var err error
	switch *impl {
	case "pipeline":
		if *factors == "" {
			fail(fmt.Errorf("--impl=pipeline needs --factors_output"))
		}
		start := time.Now()
		b := *blocks
		if b == 0 {
			b = tals.BlocksFor(runners.Current())
		}
		err = runPipeline(context.Background(), tals.Config{Config: cfg, Blocks: b}, *ratings, *factors)
		fmt.Printf("wall time: %s\n", time.Since(start).Round(time.Millisecond))
	case "go":
		err = runReference(cfg, *ratings, *workers, *compare)
	case "init":
		err = writeInit(*ratings, cfg, *initOut)
	default:
		err = fmt.Errorf("--impl=%q: want pipeline or go", *impl)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "alsrun:", err)
	os.Exit(1)
}

// source is how the pipeline and the reference read a ratings file.
func source(path string) data.Source {
	return data.Source{Path: path, Format: "tsv", User: "0", Item: "1", Score: "2"}
}

// runPipeline factorises the ratings at path on the runner and writes the
// factors into dir.
func runPipeline(ctx context.Context, c tals.Config, path, dir string) error {
	spec, rules, err := source(path).Config()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p, s := beam.NewPipelineWithRoot()
	in, err := interactions.Read(s, path, spec)
	if err != nil {
		return err
	}
	f := tals.Factorize(s, scoring.PerUser(s, in.Batches, scoring.Config{Rules: rules}), c)
	textsink.WriteJSON(s.Scope("Users"), filepath.Join(dir, "users.jsonl"), tals.FactorRows(s, f.Users))
	textsink.WriteJSON(s.Scope("Items"), filepath.Join(dir, "items.jsonl"), tals.FactorRows(s, f.Items))
	if err := beamx.Run(ctx, p); err != nil {
		return fmt.Errorf("pipeline failed: %v", err)
	}
	return nil
}

// readRatings reads a ratings file as the pipeline does.
func readRatings(path string) ([]als.Rating, error) {
	m, err := data.LoadSource(source(path))
	if err != nil {
		return nil, err
	}
	if m.Bad > 0 {
		return nil, fmt.Errorf("%s: %d bad lines", path, m.Bad)
	}
	var rs []als.Rating
	for _, r := range m.Rows {
		for k, item := range r.Items {
			rs = append(rs, als.Rating{User: r.User, Item: item, Value: r.Scores[k]})
		}
	}
	return rs, nil
}

// runReference trains with als.Train and prints each iteration's times and
// the objective; with a compare directory, the pipeline's factors' too.
func runReference(cfg als.Config, path string, workers int, compare string) error {
	rs, err := readRatings(path)
	if err != nil {
		return err
	}
	var walls []float64
	wall, cpu := time.Now(), cpuTime()
	f, err := als.Train(cfg, rs, workers, func(it int, _ *als.Factors) {
		w, c := time.Since(wall).Seconds(), cpuTime()-cpu
		walls = append(walls, w)
		fmt.Printf("iteration %d: wall %.6f cpu %.6f\n", it, w, c)
		wall, cpu = time.Now(), cpuTime()
	})
	if err != nil {
		return err
	}
	if len(walls) > 1 {
		walls = walls[1:] // the first includes indexing the ratings
	}
	fmt.Printf("seconds per iteration: %.6f\n", median(walls))
	obj, err := objective(cfg, f, rs)
	if err != nil {
		return err
	}
	fmt.Printf("objective: %v\n", obj)
	if compare == "" {
		return nil
	}
	pf, err := readFactors(compare, cfg.Rank)
	if err != nil {
		return err
	}
	if obj, err = objective(cfg, pf, rs); err != nil {
		return fmt.Errorf("the pipeline's factors: %v", err)
	}
	d, err := maxAbsDiff(f, pf)
	if err != nil {
		return err
	}
	fmt.Printf("pipeline objective: %v\npipeline max abs diff: %v\n", obj, d)
	return nil
}

// writeInit writes the starting factors of the items of the ratings at
// path (see the command's documentation) to out.
func writeInit(path string, cfg als.Config, out string) error {
	if out == "" {
		return fmt.Errorf("--impl=init needs --init_output")
	}
	rs, err := readRatings(path)
	if err != nil {
		return err
	}
	items := make([]string, len(rs))
	for k, r := range rs {
		items[k] = r.Item
	}
	items = slices.Compact(slices.Sorted(slices.Values(items)))
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	y := make([]float64, cfg.Rank)
	b := make([]byte, 8*cfg.Rank)
	for _, id := range items {
		als.InitFactor(cfg.Seed, "item", id, y)
		for k, v := range y {
			binary.LittleEndian.PutUint64(b[8*k:], math.Float64bits(v))
		}
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuTime is this process's user and system time so far, in seconds.
func cpuTime() float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return math.NaN()
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()).Seconds()
}

// median is the middle of xs (the mean of the two middle values for an
// even count), as numpy.median.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// readFactors reads a pipeline run's users.jsonl and items.jsonl from dir
// into Factors, ids ascending.
func readFactors(dir string, rank int) (*als.Factors, error) {
	f := &als.Factors{Rank: rank}
	for _, side := range []struct {
		file string
		ids  *[]string
		xs   *[]float64
	}{{"users.jsonl", &f.Users, &f.UserFactors}, {"items.jsonl", &f.Items, &f.ItemFactors}} {
		path := filepath.Join(dir, side.file)
		r, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		rows, err := recommend.ReadFactors(r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		slices.SortFunc(rows, func(a, b als.FactorRow) int { return strings.Compare(a.ID, b.ID) })
		for _, row := range rows {
			if len(row.Factor) != rank {
				return nil, fmt.Errorf("%s: %q has %d factors, want %d", path, row.ID, len(row.Factor), rank)
			}
			*side.ids = append(*side.ids, row.ID)
			*side.xs = append(*side.xs, row.Factor...)
		}
	}
	return f, nil
}

// maxAbsDiff is the largest difference between two factorisations of the
// same ids.
func maxAbsDiff(a, b *als.Factors) (float64, error) {
	if a.Rank != b.Rank || !slices.Equal(a.Users, b.Users) || !slices.Equal(a.Items, b.Items) {
		return 0, fmt.Errorf("the factorisations differ in rank or ids (%d/%d users, %d/%d items)", len(a.Users), len(b.Users), len(a.Items), len(b.Items))
	}
	var d float64
	for k, v := range a.UserFactors {
		d = max(d, math.Abs(v-b.UserFactors[k]))
	}
	for k, v := range a.ItemFactors {
		d = max(d, math.Abs(v-b.ItemFactors[k]))
	}
	return d, nil
}

// objective is the function cfg's ALS minimises, at f, over ratings (each
// of whose users and items f has). Explicit ALS-WR: Σ over ratings of
// (r − xᵀy)² + λ(Σ_u n_u|x_u|² + Σ_i n_i|y_i|²). Implicit: Σ over every
// (user, item) pair of c(p − xᵀy)² + λ(Σ|x_u|² + Σ|y_i|²), with p = 1 and
// c = 1 + α·r on a rated pair, p = 0 and c = 1 elsewhere; the sum over
// every pair is Σ_u x_uᵀ(YᵀY)x_u, then each rated pair's (xᵀy)² is
// replaced by its c(1 − xᵀy)².
func objective(cfg als.Config, f *als.Factors, ratings []als.Rating) (float64, error) {
	users, items := positions(f.Users), positions(f.Items)
	nu, ni := make([]float64, len(f.Users)), make([]float64, len(f.Items))
	var loss float64
	for _, r := range ratings {
		u, ok1 := users[r.User]
		i, ok2 := items[r.Item]
		if !ok1 || !ok2 {
			return 0, fmt.Errorf("no factor for user %q or item %q", r.User, r.Item)
		}
		s := als.Dot(f.User(u), f.Item(i))
		if cfg.Implicit {
			c := 1 + cfg.Alpha*r.Value
			loss += c*(1-s)*(1-s) - s*s
		} else {
			loss += (r.Value - s) * (r.Value - s)
		}
		nu[u]++
		ni[i]++
	}
	if cfg.Implicit {
		g := als.GramOf(f.Items, f.ItemFactors, f.Rank, runtime.NumCPU()).Matrix()
		gx := make([]float64, f.Rank)
		for u := range f.Users {
			x := f.User(u)
			for k := range gx {
				gx[k] = als.Dot(g[k*f.Rank:(k+1)*f.Rank], x)
			}
			loss += als.Dot(x, gx)
		}
	}
	// Implicit mode weighs every row's regulariser 1, explicit mode by its
	// rating count.
	reg := func(n []float64, x func(int) []float64) {
		for k := range n {
			w := n[k]
			if cfg.Implicit {
				w = 1
			}
			v := x(k)
			loss += cfg.Lambda * w * als.Dot(v, v)
		}
	}
	reg(nu, f.User)
	reg(ni, f.Item)
	return loss, nil
}

// positions maps each id to its index.
func positions(ids []string) map[string]int {
	m := make(map[string]int, len(ids))
	for k, id := range ids {
		m[id] = k
	}
	return m
}
