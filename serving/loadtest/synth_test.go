package main

import (
	"encoding/json"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/recommend"
)

// TestSynthALS: the synthetic run's files match its manifest, load into a
// model with every part (as the server loads them), and its neighbour
// lists are the factors' best positive cosines, recomputed here.
func TestSynthALS(t *testing.T) {
	dir := t.TempDir()
	c := synthALS{Items: 40, Users: 7, Rank: 4, TopN: 5, Implicit: true, Seed: 3}
	sims, err := c.write(dir)
	if err != nil {
		t.Fatal(err)
	}
	manifest := publish.DefaultPath(sims)
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := publish.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.ALS == nil || m.ALS.Rank != 4 || !m.ALS.Implicit || m.Users == nil || m.ItemFactors == nil || m.Popular == nil {
		t.Fatalf("manifest %+v", m)
	}
	for _, f := range []publish.File{m.Similarities, *m.Popular, *m.Users, *m.ItemFactors} {
		path := publish.Resolve(manifest, f.Path)
		r, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := publish.Describe(path, r)
		r.Close()
		if err != nil || f.Check(got) != nil {
			t.Errorf("%s does not match the manifest: %v %v", path, err, f.Check(got))
		}
	}
	open := func(path string) *os.File {
		f, err := os.Open(filepath.Join(dir, path))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	lists, err := recommend.ReadNeighbors(open(synthSimilaritiesFile))
	if err != nil {
		t.Fatal(err)
	}
	pop, err := recommend.ReadPopular(open(synthPopularFile))
	if err != nil {
		t.Fatal(err)
	}
	users, err := recommend.ReadUserLists(open(synthUsersFile))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := recommend.ReadFactors(open(synthFactorsFile))
	if err != nil {
		t.Fatal(err)
	}
	model, err := recommend.BuildWithALS(lists, pop, m.Version, recommend.MaxSimilarity, recommend.ALS{Config: m.ALS, ItemFactors: rows, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	if model.Factors() != 40 || model.Users() != 7 || model.Popular() != 40 || model.Items() != 40 {
		t.Errorf("factors %d users %d popular %d items %d; want 40, 7, 40, 40", model.Factors(), model.Users(), model.Popular(), model.Items())
	}
	if res, err := model.FoldIn([]string{"1", "2"}, []float64{1, 2}, recommend.Options{N: 3}); err != nil || len(res.Items) != 3 || res.Fallback {
		t.Errorf("fold-in: %+v %v", res, err)
	}
	// Item 1's best neighbour is the largest positive cosine, by brute force.
	cos := func(a, b als.FactorRow) float64 {
		return als.Dot(a.Factor, b.Factor) / math.Sqrt(als.Dot(a.Factor, a.Factor)*als.Dot(b.Factor, b.Factor))
	}
	best, bestID := 0.0, ""
	for _, r := range rows[1:] {
		if s := cos(rows[0], r); s > best {
			best, bestID = s, r.ID
		}
	}
	if got, _ := model.Similar("1", 1); bestID == "" || len(got) != 1 || got[0].Item != bestID || math.Abs(got[0].Score-best) > 1e-12 {
		t.Errorf("item 1's best neighbour %v, want %s %v", got, bestID, best)
	}
	if _, err := (synthALS{Items: 1, Users: 1, Rank: 1, TopN: 1}).write(t.TempDir()); err == nil {
		t.Error("a one-item catalogue was written")
	}
}

// TestRequests: the POST mixes write "POST path body" lines whose bodies
// ask for the model, n and --items items; the users mix GETs escaped
// user paths.
func TestRequests(t *testing.T) {
	items := []string{"a", "b&c", "d"}
	for _, tc := range []struct{ mix, model string }{{mixALS, "als"}, {mixKNN, ""}} {
		lines := requests(tc.mix, items, nil, 4)
		if len(lines) != *distinct {
			t.Fatalf("%s: %d lines, want %d", tc.mix, len(lines), *distinct)
		}
		for _, line := range lines[:20] {
			body, ok := strings.CutPrefix(line, "POST /v1/recommendations ")
			var req struct {
				Model string
				N     int
				Items []struct{ Item, Action string }
			}
			if err := json.Unmarshal([]byte(body), &req); !ok || err != nil || req.Model != tc.model || req.N != *topN || len(req.Items) != 4 {
				t.Fatalf("%s: line %q (%v)", tc.mix, line, err)
			}
		}
	}
	for _, line := range requests(mixUsers, items, []string{"u 1/x"}, 0)[:3] {
		if want := "/v1/users/" + url.PathEscape("u 1/x") + "/recommendations?n=10"; line != want {
			t.Errorf("users line %q, want %q", line, want)
		}
	}
	if _, err := parseMix("make,als,knn,users"); err != nil {
		t.Error(err)
	}
	if _, err := parseMix("make,svd"); err == nil || !strings.Contains(err.Error(), `"svd"`) {
		t.Errorf("parseMix(make,svd): %v", err)
	}
}
