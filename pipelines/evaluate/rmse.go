package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/transforms/scoring"
	"gonum.org/v1/plot/plotter"
)

var (
	alsRMSESweep = flag.String("als_rmse_sweep", "",
		"Explicit ALS sweep, e.g. 'ranks=10,20,50;lambdas=0.05,0.1;iterations=20' (an axis left out takes --als_rank, --als_lambda, --als_iterations): "+
			"each (rank, λ) trained on the training split with the scores as ratings (needs --score_field) and its held-out RMSE printed after every iteration; "+
			"results in --als_rmse_out.")
	alsRMSEOut = flag.String("als_rmse_out", "", "With --als_rmse_sweep: the path prefix of the results, <prefix>.md, <prefix>.json and <prefix>.png.")
)

// The RMSE target of the ALS work (issue 12) and the published figure the
// plot draws beside it; docs/evaluate/als.md has more.
const (
	rmseTarget  = 0.92
	surpriseSVD = 0.934 // Surprise's SVD on MovieLens 100K, 5-fold cross-validation
)

// rmseFlags checks the flags an RMSE sweep needs: ratings to predict, and
// nothing that changes them between the sides.
func rmseFlags(c Config) error {
	switch {
	case *alsRMSEOut == "":
		return fmt.Errorf("--als_rmse_sweep needs --als_rmse_out")
	case c.Spec.ScoreField == "":
		return fmt.Errorf("--als_rmse_sweep predicts ratings: set --score_field (the rating's field)")
	case c.Scoring.HalfLife > 0:
		return fmt.Errorf("--als_rmse_sweep predicts ratings: --half_life would decay them")
	}
	return nil
}

// testScoring is the scoring of the held-out events: the training rules,
// but no per-user cap, which would drop held-out ratings.
func (c Config) testScoring() scoring.Config {
	s := c.Scoring
	s.MaxItemsPerUser = 0
	return s
}

// RMSEGrid is an explicit ALS sweep (--als_rmse_sweep): every rank with
// every λ, each trained for Iterations.
type RMSEGrid struct {
	Ranks      []int     `json:"ranks"`
	Lambdas    []float64 `json:"lambdas"`
	Iterations int       `json:"iterations"`
}

// parseRMSEGrid reads "ranks=10,20;lambdas=0.05,0.1;iterations=20"; an
// axis left out takes base's value, a value listed twice runs once.
func parseRMSEGrid(s string, base als.Config) (RMSEGrid, error) {
	g := RMSEGrid{Iterations: base.Iterations}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ";") {
		key, values, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || seen[key] {
			return g, fmt.Errorf("--als_rmse_sweep: %q: want ranks=...;lambdas=...;iterations=n, each once", part)
		}
		seen[key] = true
		var err error
		switch key {
		case "ranks":
			g.Ranks, err = parseList(values, strconv.Atoi)
		case "lambdas":
			g.Lambdas, err = parseList(values, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })
		case "iterations":
			g.Iterations, err = strconv.Atoi(values)
		default:
			err = fmt.Errorf("unknown key %q (want ranks, lambdas, iterations)", key)
		}
		if err != nil {
			return g, fmt.Errorf("--als_rmse_sweep: %v", err)
		}
	}
	g.Ranks, g.Lambdas = distinct(axis(g.Ranks, base.Rank)), distinct(axis(g.Lambdas, base.Lambda))
	for _, r := range g.Ranks {
		for _, l := range g.Lambdas {
			if err := (als.Config{Rank: r, Lambda: l, Iterations: g.Iterations}).Validate(); err != nil {
				return g, fmt.Errorf("--als_rmse_sweep: %v", err)
			}
		}
	}
	return g, nil
}

// parseList parses comma-separated values.
func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for v := range strings.SplitSeq(s, ",") {
		x, err := parse(strings.TrimSpace(v))
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// RMSERun is one setting of an RMSE sweep.
type RMSERun struct {
	Rank   int     `json:"rank"`
	Lambda float64 `json:"lambda"`
	// RMSE is the held-out RMSE after each iteration.
	RMSE []float64 `json:"rmse"`
}

// best is the run's lowest RMSE and its iteration (1-based).
func (r RMSERun) best() (rmse float64, iteration int) {
	rmse = math.Inf(1)
	for i, v := range r.RMSE {
		if v < rmse {
			rmse, iteration = v, i+1
		}
	}
	return rmse, iteration
}

// RMSEResult is an RMSE sweep's outcome: Runs in the grid's order, ranks
// outermost.
type RMSEResult struct {
	// Base is the evaluation's configuration: input, split, scoring.
	Base Config   `json:"base"`
	Grid RMSEGrid `json:"grid"`
	Seed uint64   `json:"seed"`
	// TrainRatings and TestRatings are the (user, item) ratings of either
	// side; RMSE is over Predicted of the test ones, those whose user and
	// item are in training.
	TrainRatings int       `json:"train_ratings"`
	TestRatings  int       `json:"test_ratings"`
	Predicted    int       `json:"predicted"`
	Runs         []RMSERun `json:"runs"`
}

// RMSESweep splits and scores the input with the pipeline (c.TestRows
// set), then trains explicit ALS-WR for every setting of g with c.ALS's
// seed and measures the held-out RMSE after every iteration. Training is
// model/als's Train, the single-process reference of the ALS job, in
// process (see trainALS). progress, if not nil, gets a line per iteration.
func RMSESweep(ctx context.Context, c Config, g RMSEGrid, progress io.Writer) (RMSEResult, error) {
	if !c.TestRows {
		return RMSEResult{}, fmt.Errorf("RMSESweep: the configuration does not score the test events (Config.TestRows)")
	}
	if err := runPipeline(ctx, c); err != nil {
		return RMSEResult{}, err
	}
	return rmseSweep(c, g, progress)
}

// rmseSweep is RMSESweep on the pipeline's outputs in c's work directory.
func rmseSweep(c Config, g RMSEGrid, progress io.Writer) (RMSEResult, error) {
	f := c.files()
	trainRows, err := readJSONL[model.Row](f.Train)
	if err != nil {
		return RMSEResult{}, err
	}
	testRows, err := readJSONL[model.Row](f.Test)
	if err != nil {
		return RMSEResult{}, err
	}
	train, test := ratings(trainRows), ratings(testRows)
	res := RMSEResult{Base: c, Grid: g, Seed: c.ALS.Seed, TrainRatings: len(train), TestRatings: len(test)}
	res.Base.WorkDir = ""
	for _, rank := range g.Ranks {
		for _, lambda := range g.Lambdas {
			run := RMSERun{Rank: rank, Lambda: lambda}
			start := time.Now()
			cfg := als.Config{Rank: rank, Lambda: lambda, Iterations: g.Iterations, Seed: c.ALS.Seed}
			_, err := trainALS(cfg, trainRows, func(it int, f *als.Factors) {
				rmse, n := als.RMSE(f, test)
				run.RMSE = append(run.RMSE, rmse)
				res.Predicted = n
				if progress != nil {
					fmt.Fprintf(progress, "rank %d lambda %g iteration %d: held-out RMSE %.4f\n", rank, lambda, it, rmse)
				}
			})
			if err != nil {
				return res, fmt.Errorf("rank %d lambda %g: %v", rank, lambda, err)
			}
			if progress != nil {
				best, at := run.best()
				fmt.Fprintf(progress, "rank %d lambda %g: best %.4f at iteration %d, %d iterations in %s\n", rank, lambda, best, at,
					g.Iterations, time.Since(start).Round(time.Millisecond))
			}
			res.Runs = append(res.Runs, run)
		}
	}
	return res, nil
}

// runRMSESweep is the --als_rmse_sweep mode: the sweep of spec over c,
// written to out.md, out.json and out.png, its progress and table printed
// to w.
func runRMSESweep(ctx context.Context, c Config, spec, out string, w io.Writer) error {
	g, err := parseRMSEGrid(spec, c.ALS)
	if err != nil {
		return err
	}
	res, err := RMSESweep(ctx, c, g, w)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	var md bytes.Buffer
	res.writeMarkdown(&md, filepath.Base(out)+".png")
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{out + ".md", md.Bytes()}, {out + ".json", append(b, '\n')}} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			return err
		}
	}
	if err := res.plot(out + ".png"); err != nil {
		return err
	}
	res.writeTable(w)
	fmt.Fprintf(w, "rmse sweep: %s.md, %s.json, %s.png\n", out, out, out)
	return nil
}

// writeMarkdown writes the protocol, the plot's link and the table.
func (r RMSEResult) writeMarkdown(w io.Writer, png string) {
	c := r.Base
	fmt.Fprintf(w, "# Explicit ALS RMSE sweep of %s\n\n", c.Input)
	fmt.Fprintf(w, "Split %s (test fraction %g, seed %d): %d training ratings, %d held out, %d of them predicted (user and item in training). "+
		"Explicit ALS-WR (λ scaled by each row's rating count), initial factors seed %d; %d ranks × %d λ, %d iterations each. "+
		"Target RMSE ≤ %g; Surprise's SVD reaches %g (ML-100K, 5-fold).\n\n",
		c.Split.Mode, c.Split.TestFraction, c.Split.Seed, r.TrainRatings, r.TestRatings, r.Predicted, r.Seed,
		len(r.Grid.Ranks), len(r.Grid.Lambdas), r.Grid.Iterations, rmseTarget, surpriseSVD)
	fmt.Fprintf(w, "![held-out RMSE against iterations](%s)\n\n", png)
	r.writeTable(w)
}

// writeTable writes a markdown row per run: the RMSE after every
// iteration, then the best and its iteration.
func (r RMSEResult) writeTable(w io.Writer) {
	fmt.Fprint(w, "| rank | λ |")
	for it := 1; it <= r.Grid.Iterations; it++ {
		fmt.Fprintf(w, " %d |", it)
	}
	fmt.Fprintln(w, " best (iteration) |")
	fmt.Fprint(w, "|---:|---:|", strings.Repeat("---:|", r.Grid.Iterations), "---:|\n")
	for _, run := range r.Runs {
		fmt.Fprintf(w, "| %d | %g |", run.Rank, run.Lambda)
		for _, v := range run.RMSE {
			fmt.Fprintf(w, " %.4f |", v)
		}
		best, at := run.best()
		fmt.Fprintf(w, " %.4f (%d) |\n", best, at)
	}
}

// plot draws the held-out RMSE against iterations, a panel per λ and a
// line per rank, with the target and Surprise's SVD dashed. The y axis
// spans the RMSEs from the third iteration on: the first ones, from
// nearly random factors, are several times larger and would flatten the
// rest (their lines leave the plot at the top).
func (r RMSEResult) plot(path string) error {
	lo, hi := min(rmseTarget, surpriseSVD), max(rmseTarget, surpriseSVD)
	for _, run := range r.Runs {
		for i, v := range run.RMSE {
			if i >= 2 || len(run.RMSE) <= 2 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	n := float64(r.Grid.Iterations)
	var panels []panel
	for _, lambda := range r.Grid.Lambdas {
		p := panel{title: fmt.Sprintf("λ %g", lambda), xLabel: "iteration", yLabel: "held-out RMSE",
			yMin: lo - 0.01*(hi-lo), yMax: hi + 0.01*(hi-lo)}
		for k, rank := range r.Grid.Ranks {
			for _, run := range r.Runs {
				if run.Rank == rank && run.Lambda == lambda {
					xys := make(plotter.XYs, len(run.RMSE))
					for i, v := range run.RMSE {
						xys[i] = plotter.XY{X: float64(i + 1), Y: v}
					}
					p.lines = append(p.lines, series{name: fmt.Sprintf("rank %d", rank), xys: xys, colour: k})
				}
			}
		}
		p.lines = append(p.lines,
			series{name: fmt.Sprintf("target %g", rmseTarget), dashes: dashed, xys: plotter.XYs{{X: 1, Y: rmseTarget}, {X: n, Y: rmseTarget}}},
			series{name: fmt.Sprintf("Surprise SVD %g", surpriseSVD), dashes: dotted, xys: plotter.XYs{{X: 1, Y: surpriseSVD}, {X: n, Y: surpriseSVD}}})
		panels = append(panels, p)
	}
	return drawPanels(path, panels)
}
