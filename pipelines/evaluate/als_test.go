package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/recsys/itemsim/internal/testlogs"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
)

// handFactors are rank-2 factors for handFixture's users and items, chosen
// so that every score x_uᵀy_i is a small integer, with ties:
//
//	items a (1,0), b (0,1), c (1,1), d (2,0), e (0,2), f (1,-1)
//
//	user  x        a  b  c  d  e  f   candidates (not trained on)   top 2  test  hit
//	u1    (1, 0)   1  0  1  2  0  1   d 2, e 0, f 1                 d f    f     at 2
//	u2    (0, 1)   0  1  1  0  2 -1   c 1, e 2, f -1                e c    e     at 1
//	u3    (1, 1)   1  1  2  2  2  0   a 1, d 2, e 2, f 0            d e    d     at 1 (d and e tie: d's id is smaller)
//	u4    (-1, 0) -1  0 -1 -2  0 -1   b 0 (g has no factor)         b      b g   at 1
//	u5    (0, -1)  0 -1 -1  0 -2  1   a 0, b -1, c -1, d 0          a d    d     at 2 (a and d tie)
//	u6    (1, 1)   (no test item)
//
// Per user at k = 2, with L = log2(3) (precision, recall, nDCG, AP):
// u1 1/2, 1, 1/L, 1/2; u2 and u3 1/2, 1, 1, 1; u4 1/2, 1/2, 1/(1+1/L), 1/2;
// u5 1/2, 1, 1/L, 1/2. Means: precision 1/2, recall 4.5/5,
// nDCG (2/L + 2 + 1/(1+1/L))/5, MAP 3.5/5; the lists cover all 6 items.
//
// Without u5's factor, u5 gets the popular list (a b c f d e less e and f:
// a b), no hit: precision 2/5, recall 3.5/5, nDCG (1/L + 2 + 1/(1+1/L))/5,
// MAP 3/5, one fallback user, and still all 6 items covered.
func handFactors(withU5 bool) *als.Factors {
	f := &als.Factors{Rank: 2, Items: []string{"a", "b", "c", "d", "e", "f"},
		ItemFactors: []float64{1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 1, -1}}
	for _, u := range []struct {
		id   string
		x, y float64
	}{{"u1", 1, 0}, {"u2", 0, 1}, {"u3", 1, 1}, {"u4", -1, 0}, {"u5", 0, -1}, {"u6", 1, 1}} {
		if u.id == "u5" && !withU5 {
			continue
		}
		f.Users = append(f.Users, u.id)
		f.UserFactors = append(f.UserFactors, u.x, u.y)
	}
	return f
}

// TestALSRankingByHand measures handFactors on handFixture's split (the
// pipeline's, as TestEvaluateByHand checks it) and compares the lists and
// the metrics with the hand computation above.
func TestALSRankingByHand(t *testing.T) {
	c := handConfig(t, "--models=itemknn,popular")
	if err := runPipeline(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	o, err := load(c)
	if err != nil {
		t.Fatal(err)
	}
	f := handFactors(true)
	for _, tc := range []struct {
		user string
		seen []string
		want []string
	}{
		{"u1", []string{"a", "b", "c"}, []string{"d", "f"}},
		{"u3", []string{"b", "c"}, []string{"d", "e"}},
		{"u4", []string{"a", "c", "d", "e", "f"}, []string{"b"}},
		{"u5", []string{"e", "f"}, []string{"a", "d"}},
		{"u5", []string{"e", "f"}, []string{"a", "d", "b", "c"}}, // n = 4: b before c on a tie
	} {
		k, _ := slices.BinarySearch(f.Users, tc.user)
		if got := topItems(f, k, tc.seen, len(tc.want)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: top %d %v, want %v", tc.user, len(tc.want), got, tc.want)
		}
	}

	l3 := math.Log2(3)
	for _, tc := range []struct {
		name    string
		factors *als.Factors
		want    Metrics
	}{
		{"all users", handFactors(true), Metrics{Precision: 1. / 2, Recall: 4.5 / 5, NDCG: (2/l3 + 2 + 1/(1+1/l3)) / 5, MAP: 3.5 / 5,
			Coverage: 1, Users: 5}},
		{"u5 without a factor", handFactors(false), Metrics{Precision: 2. / 5, Recall: 3.5 / 5, NDCG: (1/l3 + 2 + 1/(1+1/l3)) / 5, MAP: 3. / 5,
			Coverage: 1, Users: 5, FallbackUsers: 1}},
	} {
		o.factors = tc.factors
		rep := o.measure(c)
		if rep.ALS == nil {
			t.Fatalf("%s: no ALS metrics", tc.name)
		}
		checkMetrics(t, tc.name, *rep.ALS, tc.want)
	}
	o.factors = nil
	if rep := o.measure(c); rep.ALS != nil {
		t.Errorf("without factors: ALS metrics %+v", *rep.ALS)
	}
}

// checkMetrics compares the counts exactly and the metrics within 1e-12.
func checkMetrics(t *testing.T, name string, got, want Metrics) {
	t.Helper()
	g := []float64{got.Precision, got.Recall, got.NDCG, got.MAP, got.Coverage}
	w := []float64{want.Precision, want.Recall, want.NDCG, want.MAP, want.Coverage}
	for i, metric := range []string{"precision", "recall", "ndcg", "map", "coverage"} {
		if math.Abs(g[i]-w[i]) > 1e-12 {
			t.Errorf("%s: %s = %.15g, want %.15g", name, metric, g[i], w[i])
		}
	}
	if got.Users != want.Users || got.FallbackUsers != want.FallbackUsers {
		t.Errorf("%s: %d users, %d fallback; want %d, %d", name, got.Users, got.FallbackUsers, want.Users, want.FallbackUsers)
	}
}

// handRatings is handFixture's training matrix (summed scores, 0: not
// trained on; see handCosines) and its held-out pairs, each scored 1.
var (
	handUsers  = []string{"u1", "u2", "u3", "u4", "u5", "u6"}
	handItems  = []string{"a", "b", "c", "d", "e", "f"}
	handMatrix = [][]float64{
		{2, 1, 1, 0, 0, 0},
		{1, 2, 0, 1, 0, 0},
		{0, 1, 2, 0, 0, 0},
		{1, 0, 1, 2, 1, 1},
		{0, 0, 0, 0, 2, 1},
		{1, 0, 0, 0, 0, 1},
	}
	// handTest holds g too, which no training row has.
	handTest = map[string][]string{"u1": {"f"}, "u2": {"e"}, "u3": {"d"}, "u4": {"b", "g"}, "u5": {"d"}}
)

// rank1 is ALS at rank 1 written out over the dense matrix r (users ×
// items, 0: unrated), one scalar at a time from the objective's
// stationary point: implicit, x_u = Σ_i c·p·y_i / (Σ_i c·y_i² + λ) over
// every item, c = 1 + α·r, p = [r > 0]; explicit, over the rated items
// only, x_u = Σ r·y_i / (Σ y_i² + λ·n_u). Items likewise from the users;
// the starts are als.InitFactor's.
func rank1(users, items []string, r [][]float64, cfg als.Config) (x, y []float64) {
	x, y = make([]float64, len(users)), make([]float64, len(items))
	for u, id := range users {
		als.InitFactor(cfg.Seed, "user", id, x[u:u+1])
	}
	for i, id := range items {
		als.InitFactor(cfg.Seed, "item", id, y[i:i+1])
	}
	solve := func(dst, other []float64, rating func(k, j int) float64) {
		for k := range dst {
			var num, den, n float64
			for j, o := range other {
				v := rating(k, j)
				switch {
				case cfg.Implicit:
					c, p := 1+cfg.Alpha*v, 0.0
					if v > 0 {
						p = 1
					}
					num, den = num+c*p*o, den+c*o*o
				case v != 0:
					num, den, n = num+v*o, den+o*o, n+1
				}
			}
			if cfg.Implicit {
				dst[k] = num / (den + cfg.Lambda)
			} else {
				dst[k] = num / (den + cfg.Lambda*n)
			}
		}
	}
	for range cfg.Iterations {
		solve(x, y, func(u, i int) float64 { return r[u][i] })
		solve(y, x, func(i, u int) float64 { return r[u][i] })
	}
	return x, y
}

// TestALSTrainedByHand runs the evaluation with rank-1 implicit ALS on
// handFixture: the factors trained on the pipeline's training rows equal
// rank1's, and the ALS metrics equal those of rank1's factors ranked by
// hand (score descending, ties by item, training items removed, g never:
// it has no factor). The table prints the --models in their order.
func TestALSTrainedByHand(t *testing.T) {
	c := handConfig(t, "--als_rank=1", "--als_lambda=0.5", "--als_alpha=2", "--als_iterations=3", "--als_seed=7")
	want := als.Config{Implicit: true, Rank: 1, Lambda: 0.5, Alpha: 2, Iterations: 3, Seed: 7}
	if c.ALS != want || !slices.Equal(c.Models, []string{"itemknn", "als", "popular"}) {
		t.Fatalf("ALS %+v and models %v from the flags, want %+v and the three", c.ALS, c.Models, want)
	}
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	x, y := rank1(handUsers, handItems, handMatrix, c.ALS)

	o, err := load(c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := trainALS(c.ALS, o.rowList, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Users, handUsers) || !slices.Equal(f.Items, handItems) {
		t.Fatalf("trained on users %v and items %v", f.Users, f.Items)
	}
	for _, side := range []struct {
		name      string
		got, want []float64
	}{{"user", f.UserFactors, x}, {"item", f.ItemFactors, y}} {
		for k := range side.want {
			if math.Abs(side.got[k]-side.want[k]) > 1e-12*math.Max(1, math.Abs(side.want[k])) {
				t.Errorf("%s factor %d = %.15g, want %.15g", side.name, k, side.got[k], side.want[k])
			}
		}
	}

	var sum Metrics
	for u, user := range handUsers {
		test := handTest[user]
		if len(test) == 0 {
			continue
		}
		var cands []int
		for i := range handItems {
			if handMatrix[u][i] == 0 {
				cands = append(cands, i)
			}
		}
		slices.SortFunc(cands, func(i, j int) int {
			si, sj := x[u]*y[i], x[u]*y[j]
			switch {
			case si != sj && si > sj:
				return -1
			case si != sj:
				return 1
			}
			return strings.Compare(handItems[i], handItems[j])
		})
		var recs []string
		for _, i := range cands[:min(2, len(cands))] {
			recs = append(recs, handItems[i])
		}
		rel := map[string]bool{}
		for _, it := range test {
			rel[it] = true
		}
		p, r, n, ap := UserMetrics(recs, rel, 2)
		sum.Precision, sum.Recall, sum.NDCG, sum.MAP = sum.Precision+p, sum.Recall+r, sum.NDCG+n, sum.MAP+ap
		sum.Users++
	}
	n := float64(sum.Users)
	wantM := Metrics{Precision: sum.Precision / n, Recall: sum.Recall / n, NDCG: sum.NDCG / n, MAP: sum.MAP / n, Users: sum.Users}
	if rep.ALS == nil {
		t.Fatal("no ALS metrics")
	}
	wantM.Coverage = rep.ALS.Coverage // the lists are checked through the other metrics
	checkMetrics(t, "rank 1", *rep.ALS, wantM)

	var out bytes.Buffer
	printReport(&out, rep)
	if !strings.Contains(out.String(), "\nmetric") || !slices.Equal(strings.Fields(strings.SplitAfter(out.String(), "\nmetric")[1])[:3], []string{"itemknn", "als", "popular"}) {
		t.Errorf("table header: want metric itemknn als popular:\n%s", out.String())
	}
	b, err := json.Marshal(rep)
	if err != nil || !bytes.Contains(b, []byte(`"als":{"precision"`)) {
		t.Errorf("report JSON has no als metrics (%v): %s", err, b)
	}

	// Without als in --models, ALS is not trained and the table follows
	// the flag's order.
	c2 := handConfig(t, "--models=popular,itemknn")
	rep2, err := Run(context.Background(), c2)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	printReport(&out, rep2)
	if rep2.ALS != nil || !strings.Contains(out.String(), "\nmetric            popular    itemknn\n") {
		t.Errorf("--models=popular,itemknn: ALS %v, table:\n%s", rep2.ALS, out.String())
	}
}

func TestParseModels(t *testing.T) {
	if got, err := parseModels("als, popular"); err != nil || !slices.Equal(got, []string{"als", "popular"}) {
		t.Errorf("parseModels: %v, %v", got, err)
	}
	for _, bad := range []string{"", "als,als", "knn", "als,"} {
		if _, err := parseModels(bad); err == nil {
			t.Errorf("parseModels(%q) accepted", bad)
		}
	}
}

func TestParseRMSEGrid(t *testing.T) {
	base := als.Config{Rank: 8, Lambda: 0.3, Iterations: 4}
	for _, tc := range []struct {
		spec string
		want RMSEGrid
	}{
		{"ranks=10,20,10;lambdas=0.05,0.1;iterations=20", RMSEGrid{Ranks: []int{10, 20}, Lambdas: []float64{0.05, 0.1}, Iterations: 20}},
		{"lambdas=0.2", RMSEGrid{Ranks: []int{8}, Lambdas: []float64{0.2}, Iterations: 4}},
	} {
		got, err := parseRMSEGrid(tc.spec, base)
		if err != nil || !slices.Equal(got.Ranks, tc.want.Ranks) || !slices.Equal(got.Lambdas, tc.want.Lambdas) || got.Iterations != tc.want.Iterations {
			t.Errorf("%q: %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	for _, bad := range []string{"ranks=0", "lambdas=-1", "iterations=0", "ranks=a", "rank=10", "ranks=1;ranks=2", "ranks"} {
		if _, err := parseRMSEGrid(bad, base); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRMSESweep runs --als_rmse_sweep on handFixture: one progress line
// per iteration per (rank, λ), the held-out ratings are the test pairs'
// scores, the rank-1 runs' RMSE equal explicit rank1's on the five test
// pairs whose item was trained on, and the table and the PNG have a row
// and a panel per setting and λ.
func TestRMSESweep(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rmse", "hand")
	const spec = "ranks=1,2;lambdas=0.1,0.5;iterations=3"
	c := handConfig(t, "--als_rmse_sweep="+spec, "--als_rmse_out="+out, "--als_seed=7")
	if !c.TestRows {
		t.Fatal("--als_rmse_sweep did not ask for the test rows")
	}
	var progress bytes.Buffer
	if err := runRMSESweep(context.Background(), c, spec, out, &progress); err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^rank (\d+) lambda ([0-9.]+) iteration (\d+): held-out RMSE (\d+\.\d{4})$`)
	seen := map[string]int{}
	for _, m := range line.FindAllStringSubmatch(progress.String(), -1) {
		seen[m[1]+" "+m[2]+" "+m[3]]++
	}
	for _, rank := range []string{"1", "2"} {
		for _, lambda := range []string{"0.1", "0.5"} {
			for it := 1; it <= 3; it++ {
				if k := fmt.Sprintf("%s %s %d", rank, lambda, it); seen[k] != 1 {
					t.Errorf("rank %s lambda %s iteration %d printed %d times", rank, lambda, it, seen[k])
				}
			}
		}
	}
	if len(seen) != 12 {
		t.Errorf("%d distinct progress lines, want 12:\n%s", len(seen), progress.String())
	}

	b, err := os.ReadFile(out + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var res RMSEResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.TrainRatings != 17 || res.TestRatings != 6 || res.Predicted != 5 || len(res.Runs) != 4 {
		t.Fatalf("%d training, %d test, %d predicted ratings, %d runs; want 17, 6, 5, 4", res.TrainRatings, res.TestRatings, res.Predicted, len(res.Runs))
	}
	testRows, err := readJSONL[model.Row](c.files().Test)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(testRows, func(a, b model.Row) int { return strings.Compare(a.User, b.User) })
	wantRows := []model.Row{{User: "u1", Items: []string{"f"}, Scores: []float64{1}}, {User: "u2", Items: []string{"e"}, Scores: []float64{1}},
		{User: "u3", Items: []string{"d"}, Scores: []float64{1}}, {User: "u4", Items: []string{"b", "g"}, Scores: []float64{1, 1}},
		{User: "u5", Items: []string{"d"}, Scores: []float64{1}}}
	if !reflect.DeepEqual(testRows, wantRows) {
		t.Errorf("test rows %+v, want %+v", testRows, wantRows)
	}
	for _, run := range res.Runs {
		if len(run.RMSE) != 3 {
			t.Errorf("rank %d λ %g: %d RMSEs, want 3", run.Rank, run.Lambda, len(run.RMSE))
		}
		if run.Rank != 1 {
			continue
		}
		for it := 1; it <= 3; it++ {
			x, y := rank1(handUsers, handItems, handMatrix, als.Config{Rank: 1, Lambda: run.Lambda, Iterations: it, Seed: 7})
			var sum float64
			for u, user := range handUsers {
				for _, item := range handTest[user] {
					if i := slices.Index(handItems, item); i >= 0 {
						sum += (1 - x[u]*y[i]) * (1 - x[u]*y[i])
					}
				}
			}
			if want := math.Sqrt(sum / 5); math.Abs(run.RMSE[it-1]-want) > 1e-12 {
				t.Errorf("rank 1 λ %g iteration %d: RMSE %.15g, want %.15g", run.Lambda, it, run.RMSE[it-1], want)
			}
		}
	}

	md, err := os.ReadFile(out + ".md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(md), "\n| ") - 1; n != 4 { // less the header
		t.Errorf("markdown has %d table rows, want 4:\n%s", n, md)
	}
	pf, err := os.Open(out + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatal(err)
	}
	// Two λ panels of 4.5 in and the 2.2 in legend, 4 in high, at
	// vgimg's 96 dpi: 11.2·96 = 1075.2 and 4·96 = 384 pixels.
	if got := img.Bounds().Size(); got.X != 1075 || got.Y != 384 {
		t.Errorf("PNG is %v, want 1075×384", got)
	}
}

// The ML-100K figures docs/evaluate/als.md reports, which
// TestMovieLensALS reproduces within figureTolerance: the default implicit
// ALS under the evaluate protocol, and explicit ALS at rmseRank,
// rmseLambda after rmseIterations (a row of the documented sweep).
const (
	docNDCG, docPrecision, docRecall, docMAP = 0.4793, 0.4200, 0.2241, 0.1482
	rmseRank, rmseLambda, rmseIterations     = 50, 0.12, 20
	docRMSE                                  = 0.9294
	figureTolerance                          = 5e-4
	ndcgTarget                               = 0.44
)

// TestMovieLensALS: on MovieLens 100K under the evaluate protocol (ratings
// as scores, random split, seed 42), the default implicit ALS reaches the
// nDCG@10 target, 0.44, and explicit ALS-WR beats Surprise's SVD (0.934);
// both give the documented figures within figureTolerance (the runs are
// deterministic; the tolerance covers the 4 decimals documented and a
// change of summation order in model/als, not a change of the model).
// The RMSE target, 0.92, is not met on this split (0.9289 at best; it is
// on seeds 1 to 3, see docs/evaluate/als.md), so it is not asserted.
// Skipped without the dataset.
func TestMovieLensALS(t *testing.T) {
	path := testlogs.MovieLensPath()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("MovieLens 100K not found (../shared/datasets/ml-100k/u.data): %v", err)
	}
	setFlags(t, "--input="+path, "--format=tsv", "--header=false", "--user_field=0", "--item_field=1", "--score_field=2")
	c, err := configFromFlags()
	if err != nil {
		t.Fatal(err)
	}
	c.WorkDir, c.TestRows = t.TempDir(), true // one pipeline run for both
	if c.ALS != DefaultALS {
		t.Fatalf("ALS %+v, want the defaults %+v", c.ALS, DefaultALS)
	}
	if err := runPipeline(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	rep, err := evaluate(c)
	if err != nil {
		t.Fatal(err)
	}
	m := rep.ALS
	t.Logf("implicit ALS %+v: P@10 %.4f R@10 %.4f nDCG@10 %.4f MAP %.4f coverage %.4f (item-kNN nDCG@10 %.4f, popular %.4f)",
		c.ALS, m.Precision, m.Recall, m.NDCG, m.MAP, m.Coverage, rep.Model.NDCG, rep.Popular.NDCG)
	if m.NDCG < ndcgTarget {
		t.Errorf("nDCG@10 %.4f, want >= %g", m.NDCG, ndcgTarget)
	}
	for _, f := range []struct {
		name      string
		got, want float64
	}{{"nDCG@10", m.NDCG, docNDCG}, {"P@10", m.Precision, docPrecision}, {"R@10", m.Recall, docRecall}, {"MAP", m.MAP, docMAP}} {
		if math.Abs(f.got-f.want) > figureTolerance {
			t.Errorf("%s %.4f, documented %.4f", f.name, f.got, f.want)
		}
	}

	res, err := rmseSweep(c, RMSEGrid{Ranks: []int{rmseRank}, Lambdas: []float64{rmseLambda}, Iterations: rmseIterations}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rmse := res.Runs[0].RMSE
	t.Logf("explicit ALS rank %d λ %g: held-out RMSE %.4f after %d iterations over %d of %d ratings", rmseRank, rmseLambda, rmse[len(rmse)-1],
		len(rmse), res.Predicted, res.TestRatings)
	if last := rmse[len(rmse)-1]; last > surpriseSVD || math.Abs(last-docRMSE) > figureTolerance {
		t.Errorf("RMSE %.4f, want <= %g and the documented %.4f", last, surpriseSVD, docRMSE)
	}
}
