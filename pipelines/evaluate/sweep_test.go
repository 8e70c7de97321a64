package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/recsys/itemsim/model"
)

// handConfig is the configuration of TestEvaluateByHand (handFixture,
// --split=time, k = 2) with extra flags, its work directory a new
// temporary one.
func handConfig(t *testing.T, args ...string) Config {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "events.csv")
	if err := os.WriteFile(in, []byte(handFixture), 0o644); err != nil {
		t.Fatal(err)
	}
	setFlags(t, append([]string{"--input=" + in, "--item_field=item", "--score_field=score", "--time_field=time", "--split=time", "--k=2"}, args...)...)
	c, err := configFromFlags()
	if err != nil {
		t.Fatal(err)
	}
	c.WorkDir = t.TempDir()
	return c
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGridSettings: each entry crosses its axes, the last fastest, an axis
// left out takes the base's value, a repeated setting runs once, and a
// setting the flags would reject is an error.
func TestGridSettings(t *testing.T) {
	base := handConfig(t, "--top_n=7", "--shrinkage=3")
	g := Grid{Models: []Axes{
		{Measure: []model.Measure{model.Cosine, model.Jaccard}, TopN: []int{5, 9}},
		{Measure: []model.Measure{model.Cosine}, Alpha: []float64{0.7}},
		{TopN: []int{5}}, // cosine, shrinkage 3, top 5: the first setting again
	}}
	rp3 := Grid{Models: []Axes{{Measure: []model.Measure{model.RP3Beta}, Shrinkage: []float64{0}, Beta: []float64{0.4, 0.6}}}}
	if got, err := rp3.settings(base); err != nil || len(got) != 2 || got[0].Similarity.Beta != 0.4 || got[1].Similarity.Beta != 0.6 {
		t.Errorf("rp3_beta axis: %v, %v; want betas 0.4 and 0.6", got, err)
	}
	got, err := g.settings(base)
	if err != nil {
		t.Fatal(err)
	}
	sim := func(m model.Measure, alpha float64) model.Similarity {
		return model.Similarity{Measure: m, Weighting: model.WeightNone, BM25K1: model.DefaultBM25K1, BM25B: model.DefaultBM25B, Alpha: alpha, Shrinkage: 3,
			Beta: model.DefaultRP3Beta}
	}
	want := []Setting{
		{sim(model.Cosine, 0.5), 5}, {sim(model.Cosine, 0.5), 9}, {sim(model.Jaccard, 0.5), 5}, {sim(model.Jaccard, 0.5), 9},
		{sim(model.Cosine, 0.7), 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settings\n%v\nwant\n%v", got, want)
	}
	if s := want[4].String(); s != "cosine asymmetric_alpha=0.7 shrinkage=3 top_n=7" {
		t.Errorf("String() = %q", s)
	}

	for name, bad := range map[string]Grid{
		"no models":          {},
		"alpha with jaccard": {Models: []Axes{{Measure: []model.Measure{model.Jaccard}, Alpha: []float64{0.7}}}},
		"unknown measure":    {Models: []Axes{{Measure: []model.Measure{"pearson"}}}},
		"top_n 0":            {Models: []Axes{{TopN: []int{0}}}},
	} {
		if _, err := bad.settings(base); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := (Grid{Neighbors: []int{-1}}).scoring(base); err == nil {
		t.Error("neighbors -1 accepted")
	}
	nb, norm, err := Grid{Neighbors: []int{5, 0, 5}, Normalize: []bool{true, false, true}}.scoring(base)
	if err != nil || !reflect.DeepEqual(nb, []int{5, 0}) || !reflect.DeepEqual(norm, []bool{true, false}) {
		t.Errorf("scoring options %v %v %v, want [5 0] [true false]", nb, norm, err)
	}
	nb, norm, _ = Grid{}.scoring(handConfig(t, "--neighbors=7", "--normalize=true"))
	if !reflect.DeepEqual(nb, []int{7}) || !reflect.DeepEqual(norm, []bool{true}) {
		t.Errorf("scoring options from the flags %v %v, want [7] [true]", nb, norm)
	}
	if _, err := readGrid(writeFile(t, "grid.json", `{"models": [{"shrinkage": [1]}], "neighbours": [5]}`)); err == nil {
		t.Error("readGrid accepted a misspelt key")
	}
}

// TestSweep runs a sweep on handFixture through --sweep's files and checks
// that the table is complete (every model under every scoring option,
// once) and sorted, that its rows equal direct evaluate runs with the same
// flags, and that a top-1 model equals a top-3 model scored with one
// neighbour per item (a list's first neighbour is the top-1 list).
func TestSweep(t *testing.T) {
	base := handConfig(t)
	grid := writeFile(t, "grid.json", `{"models": [{"top_n": [1, 3]}, {"measure": ["jaccard"], "top_n": [3]},
		{"user_weighting": ["idf"], "asymmetric_alpha": [0.9], "top_n": [3]}], "neighbors": [1, 0], "normalize": [false, true]}`)
	out := filepath.Join(t.TempDir(), "docs", "hand")
	if err := runSweep(context.Background(), base, grid, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var res SweepResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}

	type key struct {
		setting   string
		neighbors int
		normalize bool
	}
	rows := map[key]SweepRow{}
	for i, row := range res.Rows {
		k := key{row.Setting.String(), row.Neighbors, row.Normalize}
		if _, dup := rows[k]; dup {
			t.Errorf("row %d repeats %+v", i, k)
		}
		rows[k] = row
		if i > 0 && row.Model.NDCG > res.Rows[i-1].Model.NDCG {
			t.Errorf("row %d nDCG %v above row %d's %v", i, row.Model.NDCG, i-1, res.Rows[i-1].Model.NDCG)
		}
	}
	if len(res.Rows) != 16 || len(rows) != 16 || res.Models != 4 {
		t.Fatalf("%d rows (%d distinct) of %d models, want 16 of 4", len(res.Rows), len(rows), res.Models)
	}

	const (
		top1    = "cosine top_n=1"
		top3    = "cosine top_n=3"
		jaccard = "jaccard top_n=3"
		idf     = "cosine user_weighting=idf asymmetric_alpha=0.9 top_n=3"
	)
	for _, tc := range []struct {
		k     key
		flags []string // the setting's
	}{
		{key{top3, 1, true}, []string{"--top_n=3"}},
		{key{top1, 0, false}, []string{"--top_n=1"}},
		{key{jaccard, 0, false}, []string{"--measure=jaccard", "--top_n=3"}},
		{key{idf, 0, true}, []string{"--user_weighting=idf", "--asymmetric_alpha=0.9", "--top_n=3"}},
	} {
		k := tc.k
		row, ok := rows[k]
		if !ok {
			t.Fatalf("no row %+v", k)
		}
		// A subtest each, so that each run's flags are restored after it.
		t.Run(k.setting, func(t *testing.T) {
			c := handConfig(t, append(tc.flags, fmt.Sprintf("--neighbors=%d", k.neighbors), fmt.Sprintf("--normalize=%v", k.normalize))...)
			rep, err := Run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if row.Model != rep.Model || row.ModelItems != rep.ModelItems {
				t.Errorf("%+v: sweep %+v (%d items), direct run %+v (%d items)", k, row.Model, row.ModelItems, rep.Model, rep.ModelItems)
			}
			if want := rep.splitSummary(); res.SplitSummary != want {
				t.Errorf("sweep split %+v, direct run %+v", res.SplitSummary, want)
			}
		})
	}
	for _, norm := range []bool{false, true} {
		if a, b := rows[key{top1, 0, norm}].Model, rows[key{top3, 1, norm}].Model; a != b {
			t.Errorf("normalize %v: top 1 %+v, top 3 with one neighbour %+v", norm, a, b)
		}
	}
	// The options and the settings reach the scoring and the pipeline: on
	// this fixture, each changes the metrics.
	for _, pair := range [][2]key{{{top3, 0, false}, {top3, 1, false}}, {{top3, 0, false}, {jaccard, 0, false}}, {{top3, 0, true}, {idf, 0, true}}} {
		if a, b := rows[pair[0]].Model, rows[pair[1]].Model; a == b {
			t.Errorf("%+v and %+v both give %+v", pair[0], pair[1], a)
		}
	}

	md, err := os.ReadFile(out + ".md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(md), "\n| ") - 1; n != len(res.Rows) { // less the header
		t.Errorf("markdown has %d table rows, want %d:\n%s", n, len(res.Rows), md)
	}
	png, err := os.ReadFile(out + ".png")
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("plot: %v, %d bytes", err, len(png))
	}
}

// TestClipScoreBinary: --clip_score=1 with --score_field turns every
// training score into 1 (MovieLens' ratings as binary).
func TestClipScoreBinary(t *testing.T) {
	c := handConfig(t, "--clip_score=1")
	if _, err := Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	rows, err := readJSONL[model.Row](c.files().Train)
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	for _, r := range rows {
		for k, s := range r.Scores {
			entries++
			if s != 1 {
				t.Errorf("user %s item %s scored %v, want 1", r.User, r.Items[k], s)
			}
		}
	}
	if entries != 17 { // handFixture's training pairs
		t.Errorf("%d training entries, want 17", entries)
	}
}
