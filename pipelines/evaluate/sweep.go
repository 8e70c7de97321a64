package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/recsys/itemsim/model"
)

// Grid is a sweep's settings, read from JSON (--sweep):
//
//	{"models": [{"measure": ["cosine", "jaccard"], "shrinkage": [0, 20]},
//	            {"measure": ["cosine"], "asymmetric_alpha": [0.3, 0.7]}],
//	 "neighbors": [10, 50, 0], "normalize": [false, true]}
//
// Each entry of Models crosses its axes into model settings, and an axis
// it leaves out takes the flags' value; a setting listed twice runs once.
// Every model setting runs the pipeline once, and is measured under every
// pair of Neighbors (recommend.Options.Neighbors, 0: whole lists) and
// Normalize, in plain Go on the same outputs; either left out takes the
// flags' value.
type Grid struct {
	Models    []Axes `json:"models"`
	Neighbors []int  `json:"neighbors"`
	Normalize []bool `json:"normalize"`
}

// Axes are the values of the model settings that one entry of a grid
// crosses, named as the flags.
type Axes struct {
	Measure   []model.Measure       `json:"measure"`
	Weighting []model.UserWeighting `json:"user_weighting"`
	Alpha     []float64             `json:"asymmetric_alpha"`
	Shrinkage []float64             `json:"shrinkage"`
	BM25K1    []float64             `json:"bm25_k1"`
	BM25B     []float64             `json:"bm25_b"`
	Beta      []float64             `json:"rp3_beta"`
	TopN      []int                 `json:"top_n"`
}

// Setting is one model of a sweep: what the pipeline is run with.
type Setting struct {
	Similarity model.Similarity `json:"similarity"`
	TopN       int              `json:"top_n"`
}

// readGrid reads a grid file; an unknown key is an error, so that a
// misspelt axis does not silently take the flags' value.
func readGrid(path string) (Grid, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Grid{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var g Grid
	if err := dec.Decode(&g); err != nil {
		return Grid{}, fmt.Errorf("%s: %v", path, err)
	}
	return g, nil
}

// axis is the values of one axis, or the base's value when none are given.
func axis[T any](values []T, base T) []T {
	if len(values) == 0 {
		return []T{base}
	}
	return values
}

// settings expands the grid over the base configuration, in the grid's
// order (the last axis fastest), each setting once; a setting the flags
// would reject is an error naming it.
func (g Grid) settings(base Config) ([]Setting, error) {
	if len(g.Models) == 0 {
		return nil, fmt.Errorf("the grid has no models")
	}
	b := base.DIMSUM.Similarity
	var out []Setting
	for _, a := range g.Models {
		for _, m := range axis(a.Measure, b.Measure) {
			for _, w := range axis(a.Weighting, b.Weighting) {
				for _, alpha := range axis(a.Alpha, b.Alpha) {
					for _, shrink := range axis(a.Shrinkage, b.Shrinkage) {
						for _, k1 := range axis(a.BM25K1, b.BM25K1) {
							for _, bb := range axis(a.BM25B, b.BM25B) {
								for _, beta := range axis(a.Beta, b.Beta) {
									for _, n := range axis(a.TopN, base.TopN) {
										s := Setting{Similarity: model.Similarity{Measure: m, Weighting: w, BM25K1: k1, BM25B: bb, Alpha: alpha, Shrinkage: shrink,
											Beta: beta}, TopN: n}
										if slices.Contains(out, s) {
											continue
										}
										c := base.with(s)
										if err := c.DIMSUM.Validate(); err != nil {
											return nil, fmt.Errorf("grid setting %s: %v", s, err)
										}
										if n < 1 {
											return nil, fmt.Errorf("grid setting %s: top_n must be at least 1", s)
										}
										out = append(out, s)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return out, nil
}

// scoring is the grid's scoring options, each with the base's value when
// the grid gives none.
func (g Grid) scoring(base Config) (neighbors []int, normalize []bool, err error) {
	neighbors, normalize = axis(g.Neighbors, base.Neighbors), axis(g.Normalize, base.Normalize)
	for _, n := range neighbors {
		if n < 0 {
			return nil, nil, fmt.Errorf("grid neighbors %d: want >= 0 (0: every neighbour)", n)
		}
	}
	return distinct(neighbors), distinct(normalize), nil
}

// distinct is vs without its repeats, in order.
func distinct[T comparable](vs []T) []T {
	var out []T
	for _, v := range vs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// with is c with a sweep's model setting.
func (c Config) with(s Setting) Config {
	c.DIMSUM.Similarity = s.Similarity
	c.TopN = s.TopN
	return c
}

// String names a setting as model.Similarity does, e.g.
// "cosine user_weighting=idf shrinkage=10 top_n=100".
func (s Setting) String() string { return fmt.Sprintf("%s top_n=%d", s.Similarity, s.TopN) }

// SweepRow is one model setting measured under one pair of scoring
// options.
type SweepRow struct {
	Setting   Setting `json:"setting"`
	Neighbors int     `json:"neighbors"`
	Normalize bool    `json:"normalize"`
	Model     Metrics `json:"model"`
	// ModelItems are the items with a neighbour list.
	ModelItems int `json:"model_items"`
}

// SweepResult is a sweep's outcome: its split and baseline, and Rows,
// best nDCG first, ties in the grid's order.
type SweepResult struct {
	// Base is the configuration the grid's settings vary.
	Base Config `json:"base"`
	SplitSummary
	Models int        `json:"models"`
	Rows   []SweepRow `json:"rows"`
}

// SplitSummary is what every model of a sweep shares: the split's counts
// and the popularity baseline, which depend on the split alone.
type SplitSummary struct {
	Users          int     `json:"users"`
	TestUsers      int     `json:"test_users"`
	TrainPairs     int     `json:"train_pairs"`
	TestPairs      int     `json:"test_pairs"`
	CatalogueItems int     `json:"catalogue_items"`
	K              int     `json:"k"`
	Popular        Metrics `json:"popular"`
}

// Sweep runs the pipeline once per model setting of g in its own
// directory under base.WorkDir (removed once measured) and measures it
// under each of g's scoring options. progress, if not nil, gets a line per
// model.
func Sweep(ctx context.Context, base Config, g Grid, progress io.Writer) (SweepResult, error) {
	settings, err := g.settings(base)
	if err != nil {
		return SweepResult{}, err
	}
	neighbors, normalize, err := g.scoring(base)
	if err != nil {
		return SweepResult{}, err
	}
	res := SweepResult{Base: base, Models: len(settings)}
	res.Base.WorkDir = ""
	for k, s := range settings {
		start := time.Now()
		c := base.with(s)
		c.WorkDir = filepath.Join(base.WorkDir, fmt.Sprintf("model-%03d", k))
		if err := os.MkdirAll(c.WorkDir, 0o755); err != nil {
			return res, err
		}
		if err := runPipeline(ctx, c); err != nil {
			return res, fmt.Errorf("%s: %v", s, err)
		}
		o, err := load(c)
		if err != nil {
			return res, fmt.Errorf("%s: %v", s, err)
		}
		rows, rep := o.sweep(c, s, neighbors, normalize)
		if err := res.addSplit(k, rep); err != nil {
			return res, fmt.Errorf("%s: %v", s, err)
		}
		res.Rows = append(res.Rows, rows...)
		if err := os.RemoveAll(c.WorkDir); err != nil {
			return res, err
		}
		if progress != nil {
			best := slices.MaxFunc(rows, func(a, b SweepRow) int { return cmp.Compare(a.Model.NDCG, b.Model.NDCG) })
			fmt.Fprintf(progress, "model %d/%d %s: best nDCG@%d %.4f (neighbours %d, normalize %v) in %s\n", k+1, len(settings), s,
				base.K, best.Model.NDCG, best.Neighbors, best.Normalize, time.Since(start).Round(time.Millisecond))
		}
	}
	// Stable: equal nDCGs keep the grid's order.
	slices.SortStableFunc(res.Rows, func(a, b SweepRow) int { return cmp.Compare(b.Model.NDCG, a.Model.NDCG) })
	return res, nil
}

// sweep measures one model's outputs under every pair of scoring options,
// neighbours outermost; rep is the last report, for its split's counts.
func (o *outputs) sweep(c Config, s Setting, neighbors []int, normalize []bool) (rows []SweepRow, rep Report) {
	for _, n := range neighbors {
		for _, norm := range normalize {
			c.Neighbors, c.Normalize = n, norm
			rep = o.measure(c)
			rows = append(rows, SweepRow{Setting: s, Neighbors: n, Normalize: norm, Model: rep.Model, ModelItems: rep.ModelItems})
		}
	}
	return rows, rep
}

// addSplit records the split's counts and the baseline from model k's
// report, or checks them against the first model's: every model is
// trained and tested on the same split.
func (r *SweepResult) addSplit(k int, rep Report) error {
	got := rep.splitSummary()
	if k == 0 {
		r.SplitSummary = got
	} else if got != r.SplitSummary {
		return fmt.Errorf("split or baseline %+v differs from the first model's %+v", got, r.SplitSummary)
	}
	return nil
}

// splitSummary is the part of r that depends on the split alone.
func (r Report) splitSummary() SplitSummary {
	return SplitSummary{Users: r.Users, TestUsers: r.TestUsers, TrainPairs: r.TrainPairs, TestPairs: r.TestPairs,
		CatalogueItems: r.CatalogueItems, K: r.K, Popular: r.Popular}
}

// runSweep is the --sweep mode: the sweep of the grid file over base,
// written to out.md, out.json and out.png.
func runSweep(ctx context.Context, base Config, gridPath, out string) error {
	g, err := readGrid(gridPath)
	if err != nil {
		return err
	}
	res, err := Sweep(ctx, base, g, os.Stdout)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	var md bytes.Buffer
	res.writeMarkdown(&md, filepath.Base(out)+".png")
	b, err := json.Marshal(res) // compact: hundreds of rows; the .md is for reading
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
	res.writeTop(os.Stdout, 10)
	fmt.Printf("sweep: %s.md, %s.json, %s.png\n", out, out, out)
	return nil
}

// writeMarkdown writes the split, the baseline and every row.
func (r SweepResult) writeMarkdown(w io.Writer, png string) {
	c := r.Base
	fmt.Fprintf(w, "# Sweep of %s\n\n", c.Input)
	fmt.Fprintf(w, "Split %s (test fraction %g, seed %d): %d users, %d with a test item; %d training and %d test (user, item) pairs; %d catalogue items. "+
		"%d models, each measured under %d scoring options (neighbours used per training item, normalisation). Metrics at k = %d, sorted by nDCG@%d.\n\n",
		c.Split.Mode, c.Split.TestFraction, c.Split.Seed, r.Users, r.TestUsers, r.TrainPairs, r.TestPairs, r.CatalogueItems,
		r.Models, len(r.Rows)/max(r.Models, 1), r.K, r.K)
	fmt.Fprintf(w, "Popularity baseline: %s.\n\n", r.popular())
	fmt.Fprintf(w, "![nDCG@%d against neighbours](%s)\n\n", r.K, png)
	r.writeTable(w, len(r.Rows))
}

// writeTop writes the first n rows as the markdown table.
func (r SweepResult) writeTop(w io.Writer, n int) {
	fmt.Fprintf(w, "popular: %s\n", r.popular())
	r.writeTable(w, n)
}

// popular is the baseline's metrics in a line.
func (r SweepResult) popular() string {
	m, k := r.Popular, r.K
	return fmt.Sprintf("P@%d %.4f, R@%d %.4f, nDCG@%d %.4f, MAP@%d %.4f, coverage %.4f", k, m.Precision, k, m.Recall, k, m.NDCG, k, m.MAP, m.Coverage)
}

// writeTable writes the first n rows as a markdown table.
func (r SweepResult) writeTable(w io.Writer, n int) {
	k := r.K
	fmt.Fprintf(w, "| # | measure | user weighting | α | shrinkage | top_n | neighbours | normalize | P@%d | R@%d | nDCG@%d | MAP@%d | coverage |\n", k, k, k, k)
	fmt.Fprintln(w, "|---:|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
	for i, row := range r.Rows[:min(n, len(r.Rows))] {
		s := row.Setting.Similarity
		weighting := string(s.Weighting)
		if s.Weighting == model.WeightBM25 {
			weighting = fmt.Sprintf("bm25 (k1 %g, b %g)", s.BM25K1, s.BM25B)
		}
		measure := string(s.Measure)
		if s.Measure == model.RP3Beta {
			measure = fmt.Sprintf("rp3beta (β %g)", s.Beta)
		}
		nb := "all"
		if row.Neighbors > 0 {
			nb = fmt.Sprint(row.Neighbors)
		}
		m := row.Model
		fmt.Fprintf(w, "| %d | %s | %s | %g | %g | %d | %s | %v | %.4f | %.4f | %.4f | %.4f | %.4f |\n", i+1, measure, weighting,
			s.Alpha, s.Shrinkage, row.Setting.TopN, nb, row.Normalize, m.Precision, m.Recall, m.NDCG, m.MAP, m.Coverage)
	}
}
