package recommend

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// alsFixture is a rank-2 model of three items with factors a (1, 0),
// b (0, 1), c (1, 1), an item d with a neighbour list and no factor, and
// the popular list e 10, a 8, d 5 (e has neither list nor factor).
func alsFixture(t testing.TB, cfg als.Config) *Model {
	t.Helper()
	m, err := BuildWithALS([]model.Neighbors{nbs("d", nb("a", .5))},
		[]model.PopularItem{{Item: "e", Users: 10}, {Item: "a", Users: 8}, {Item: "d", Users: 5}}, "v1", MaxSimilarity,
		ALS{Config: &cfg, ItemFactors: []als.FactorRow{{ID: "c", Factor: []float64{1, 1}}, {ID: "a", Factor: []float64{1, 0}}, {ID: "b", Factor: []float64{0, 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFoldInByHand checks fold-in against the normal equations solved by
// hand on alsFixture, λ = 1.
//
// Explicit, a rated 2: x = (a aᵀ + λ·1·I)⁻¹ 2a = (2/2, 0) = (1, 0), so
// c scores 1 and b 0.
//
// Implicit, α = 1, a weighted 1 (c = 2): YᵀY = [[2,1],[1,2]], plus
// (c−1) a aᵀ and λI gives A = [[4,1],[1,3]], b = c·a = (2, 0), and
// x = A⁻¹ b = [[3,−1],[−1,4]]/11 · (2, 0) = (6, −2)/11: c scores 4/11,
// b −2/11.
func TestFoldInByHand(t *testing.T) {
	type s = Scored
	for _, tc := range []struct {
		name    string
		cfg     als.Config
		items   []string
		weights []float64
		o       Options
		want    []Scored
	}{
		{"explicit", als.Config{Rank: 2, Lambda: 1, Iterations: 1}, []string{"a"}, []float64{2}, Options{N: 10},
			[]s{{"c", 1}, {"b", 0}}},
		{"explicit, include seen", als.Config{Rank: 2, Lambda: 1, Iterations: 1}, []string{"a"}, []float64{2}, Options{N: 10, IncludeSeen: true},
			[]s{{"a", 1}, {"c", 1}, {"b", 0}}}, // a tie: a before c
		{"explicit, n cuts the tie", als.Config{Rank: 2, Lambda: 1, Iterations: 1}, []string{"a"}, []float64{2}, Options{N: 1, IncludeSeen: true},
			[]s{{"a", 1}}},
		{"implicit", als.Config{Rank: 2, Lambda: 1, Implicit: true, Alpha: 1, Iterations: 1}, []string{"a"}, []float64{1}, Options{N: 10},
			[]s{{"c", 4. / 11}, {"b", -2. / 11}}},
		{"unknown and factorless items ignored", als.Config{Rank: 2, Lambda: 1, Implicit: true, Alpha: 1, Iterations: 1},
			[]string{"zz", "d", "a"}, []float64{5, 3, 1}, Options{N: 10},
			[]s{{"c", 4. / 11}, {"b", -2. / 11}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := alsFixture(t, tc.cfg)
			for range 2 { // the pooled scratch must come back clean
				got, err := m.FoldIn(tc.items, tc.weights, tc.o)
				if err != nil {
					t.Fatal(err)
				}
				if got.Fallback || got.Popular != 0 || !sameScored(got.Items, tc.want, 1e-15) {
					t.Fatalf("got %v popular=%d fallback=%v, want %v", got.Items, got.Popular, got.Fallback, tc.want)
				}
			}
		})
	}
}

// sameScored: the same items in the same order, scores within tol.
func sameScored(got, want []Scored, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k := range want {
		if got[k].Item != want[k].Item || math.Abs(got[k].Score-want[k].Score) > tol {
			return false
		}
	}
	return true
}

// TestFoldInFallback: with no request item that has a factor the answer
// is the popular list without the request's known items (Fallback); a
// list shorter than n is topped up from it when asked, skipping the
// items listed and the request's.
func TestFoldInFallback(t *testing.T) {
	m := alsFixture(t, als.Config{Rank: 2, Lambda: 1, Iterations: 1})
	type s = Scored
	for _, tc := range []struct {
		name     string
		items    []string
		o        Options
		want     []Scored
		popular  int
		fallback bool
	}{
		{"factorless item", []string{"d"}, Options{N: 10}, []s{{"e", 10}, {"a", 8}}, 2, true},
		{"unknown items", []string{"zz", "yy"}, Options{N: 2}, []s{{"e", 10}, {"a", 8}}, 2, true},
		{"empty profile", nil, Options{N: 10}, []s{{"e", 10}, {"a", 8}, {"d", 5}}, 3, true},
		{"top-up skips listed and seen", []string{"a", "d"}, Options{N: 5, TopUp: true}, []s{{"c", .5}, {"b", 0}, {"e", 10}}, 1, false},
		{"no top-up unless asked", []string{"a"}, Options{N: 5}, []s{{"c", .5}, {"b", 0}}, 0, false},
		{"n of 0", []string{"a"}, Options{}, nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			weights := make([]float64, len(tc.items))
			for k := range weights {
				weights[k] = 1 // explicit: x = (a aᵀ + I)⁻¹ a = (1/2, 0)
			}
			for range 2 {
				got, err := m.FoldIn(tc.items, weights, tc.o)
				// Cholesky rounds: 0.5 may come out 1 ulp short.
				if err != nil || !sameScored(got.Items, tc.want, 1e-15) || got.Popular != tc.popular || got.Fallback != tc.fallback {
					t.Fatalf("got %v popular=%d fallback=%v (%v), want %v popular=%d fallback=%v", got.Items, got.Popular, got.Fallback, err, tc.want, tc.popular, tc.fallback)
				}
			}
		})
	}
	if _, err := fixture(t).FoldIn([]string{"a"}, []float64{1}, Options{N: 3}); err != ErrNoFactors {
		t.Errorf("a model without factors: %v, want ErrNoFactors", err)
	}
}

// bruteFoldIn is an independent fold-in: the normal equations written out
// densely (every item's outer product weighted by its confidence, for
// implicit mode) and inverted with gonum's general inverse, every item
// scored, sorted by score then id.
func bruteFoldIn(cfg als.Config, ids []string, ys [][]float64, profile map[string]float64, o Options) []Scored {
	r := cfg.Rank
	a, b := mat.NewDense(r, r, nil), mat.NewVecDense(r, nil)
	n := 0
	for k, id := range ids {
		w, rated := profile[id]
		y := mat.NewVecDense(r, ys[k])
		switch {
		case cfg.Implicit: // every item, confidence 1 + α·w and preference 1 when rated, else 1 and 0
			c := 1.0
			if rated {
				c += cfg.Alpha * w
				b.AddScaledVec(b, c, y)
			}
			var outer mat.Dense
			outer.Outer(c, y, y)
			a.Add(a, &outer)
		case rated:
			n++
			var outer mat.Dense
			outer.Outer(1, y, y)
			a.Add(a, &outer)
			b.AddScaledVec(b, w, y)
		}
	}
	ridge := cfg.Lambda
	if !cfg.Implicit {
		ridge *= float64(n)
	}
	for i := range r {
		a.Set(i, i, a.At(i, i)+ridge)
	}
	var inv mat.Dense
	if err := inv.Inverse(a); err != nil {
		panic(err)
	}
	var x mat.VecDense
	x.MulVec(&inv, b)
	var out []Scored
	for k, id := range ids {
		if _, rated := profile[id]; rated && !o.IncludeSeen {
			continue
		}
		out = append(out, Scored{id, mat.Dot(&x, mat.NewVecDense(r, ys[k]))})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Item < out[j].Item
	})
	return out[:min(len(out), o.N)]
}

// TestFoldInMatchesBruteForce compares fold-in with bruteFoldIn on random
// factors and profiles, both modes, scores within 1e-9 relative.
func TestFoldInMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 60 {
		cfg := als.Config{Rank: 1 + rng.IntN(10), Lambda: 0.01 + rng.Float64(), Implicit: trial%2 == 0, Alpha: 10 * rng.Float64(), Iterations: 1}
		nItems := 5 + rng.IntN(40)
		ids := make([]string, nItems)
		ys := make([][]float64, nItems)
		var rows []als.FactorRow
		for k := range ids {
			ids[k] = fmt.Sprintf("i%03d", k)
			ys[k] = make([]float64, cfg.Rank)
			for j := range ys[k] {
				ys[k][j] = rng.NormFloat64()
			}
			rows = append(rows, als.FactorRow{ID: ids[k], Factor: ys[k]})
		}
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		m, err := BuildWithALS(nil, nil, "", MaxSimilarity, ALS{Config: &cfg, ItemFactors: rows})
		if err != nil {
			t.Fatal(err)
		}
		profile := map[string]float64{}
		var items []string
		var weights []float64
		for range 1 + rng.IntN(8) {
			id := ids[rng.IntN(nItems)]
			if _, dup := profile[id]; dup {
				continue
			}
			w := 0.5 + 4*rng.Float64()
			profile[id] = w
			items, weights = append(items, id), append(weights, w)
		}
		items = append(items, "unknown")
		weights = append(weights, 3)
		o := Options{N: 1 + rng.IntN(nItems), IncludeSeen: rng.IntN(3) == 0}
		got, err := m.FoldIn(items, weights, o)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteFoldIn(cfg, ids, ys, profile, o)
		if len(got.Items) != len(want) {
			t.Fatalf("trial %d: %d items, want %d", trial, len(got.Items), len(want))
		}
		for k := range want {
			g, w := got.Items[k], want[k]
			if g.Item != w.Item || math.Abs(g.Score-w.Score) > 1e-9*math.Max(1, math.Abs(w.Score)) {
				t.Fatalf("trial %d (%+v, %v): item %d is %v, want %v\n got %v\nwant %v", trial, cfg, profile, k, g, w, got.Items, want)
			}
		}
	}
}

// TestFoldInReproducesTraining: folding a training user's own ratings in
// against the trained item factors solves what the training's user
// half-step solves, bit for bit: the same Gram matrix (als.GramOf over
// every item factor), the same rows in the same (item) order, the same
// settings. The reference calls als.Solver directly on the trained
// factors and scores with the same matrix-vector product (so equal
// factors give equal bits), within 1e-12 of als.Dot's scores.
func TestFoldInReproducesTraining(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var ratings []als.Rating
	for u := range 30 {
		for _, i := range rng.Perm(25)[:3+rng.IntN(8)] {
			ratings = append(ratings, als.Rating{User: fmt.Sprintf("u%02d", u), Item: fmt.Sprintf("item%d", i), Value: float64(1 + rng.IntN(5))})
		}
	}
	for _, cfg := range []als.Config{
		{Rank: 6, Lambda: 0.1, Iterations: 3, Seed: 1},
		{Rank: 6, Lambda: 0.1, Implicit: true, Alpha: 2, Iterations: 3, Seed: 1},
	} {
		f, err := als.Train(cfg, ratings, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]als.FactorRow, len(f.Items))
		for k, id := range f.Items {
			rows[k] = als.FactorRow{ID: id, Factor: f.Item(k)}
		}
		m, err := BuildWithALS(nil, nil, "", MaxSimilarity, ALS{Config: &cfg, ItemFactors: rows})
		if err != nil {
			t.Fatal(err)
		}
		if m.Factors() != len(f.Items) {
			t.Fatalf("%d factors, want %d", m.Factors(), len(f.Items))
		}
		pos := map[string]int{}
		for k, id := range f.Items {
			pos[id] = k
		}
		gram := als.GramOf(f.Items, f.ItemFactors, cfg.Rank, 2).Matrix()
		solver := als.NewSolver(cfg.Rank)
		for _, user := range []string{"u00", "u07", "u29"} {
			var items []string
			var vals []float64
			for _, r := range ratings {
				if r.User == user {
					items, vals = append(items, r.Item), append(vals, r.Value)
				}
			}
			// The training solves in item order; the request comes in any.
			order := make([]int, len(items))
			for k := range order {
				order[k] = k
			}
			sort.Slice(order, func(i, j int) bool { return items[order[i]] < items[order[j]] })
			var ys, rs []float64
			for _, k := range order {
				ys = append(ys, f.Item(pos[items[k]])...)
				rs = append(rs, vals[k])
			}
			x := make([]float64, cfg.Rank)
			if cfg.Implicit {
				err = solver.Implicit(gram, ys, rs, cfg.Alpha, cfg.Lambda, x)
			} else {
				err = solver.Explicit(ys, rs, cfg.Lambda, x)
			}
			if err != nil {
				t.Fatal(err)
			}
			scores := make([]float64, len(f.Items))
			blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: len(f.Items), Cols: cfg.Rank, Stride: cfg.Rank, Data: f.ItemFactors},
				blas64.Vector{N: cfg.Rank, Inc: 1, Data: x}, 0, blas64.Vector{N: len(f.Items), Inc: 1, Data: scores})
			want := map[string]float64{}
			for k, id := range f.Items {
				if d := als.Dot(x, f.Item(k)); math.Abs(scores[k]-d) > 1e-12*math.Max(1, math.Abs(d)) {
					t.Fatalf("%s: the product scores %s %v, als.Dot %v", user, id, scores[k], d)
				}
				if !slices.Contains(items, id) {
					want[id] = scores[k]
				}
			}
			got, err := m.FoldIn(items, vals, Options{N: len(f.Items)})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Items) != len(want) {
				t.Fatalf("%s implicit=%v: %d items, want %d", user, cfg.Implicit, len(got.Items), len(want))
			}
			for k, s := range got.Items {
				if w, ok := want[s.Item]; !ok || s.Score != w {
					t.Fatalf("%s implicit=%v: %v scores %v, the training's solve %v", user, cfg.Implicit, s.Item, s.Score, w)
				}
				if k > 0 && model.Order(got.Items[k-1].Score, got.Items[k-1].Item, s.Score, s.Item) >= 0 {
					t.Fatalf("%s: %v before %v", user, got.Items[k-1], s)
				}
			}
		}
	}
}

// TestAppendFoldIn: AppendFoldIn answers what Profile then FoldIn answer,
// events of several actions on one item aggregated and clipped, unknown
// items skipped, a bad event an error; with a recycled dst it allocates
// little.
func TestAppendFoldIn(t *testing.T) {
	m := alsFixture(t, als.Config{Rank: 2, Lambda: 1, Implicit: true, Alpha: 1, Iterations: 1})
	p, err := NewProfiler("browsed:0.5,basket:2,purchased:6", "sum", -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, events := range [][]Event{
		{{Item: "a", Action: "browsed"}, {Item: "a", Action: "browsed"}}, // a weighs 1: the hand case
		{{Item: "b", Action: "purchased"}, {Item: "a", Action: "basket"}, {Item: "b", Action: "basket"}, {Item: "zz", Action: "basket"}},
		{{Item: "c", Weight: 2.5}, {Item: "d", Action: "browsed"}},
		{{Item: "zz", Action: "browsed"}},
		{{Item: "a", Weight: 0}},
		nil,
	} {
		items, weights, err := p.Profile(slices.Clone(events))
		if err != nil {
			t.Fatal(err)
		}
		o := Options{N: 3, TopUp: true}
		want, err := m.FoldIn(items, weights, o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.AppendFoldIn(make([]Scored, 2, 4), p, events, o)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: AppendFoldIn %+v %v, Profile+FoldIn %+v", events, got, err, want)
		}
	}
	if got, _ := m.AppendFoldIn(nil, p, []Event{{Item: "a", Action: "browsed"}, {Item: "a", Action: "browsed"}}, Options{N: 1}); !sameScored(got.Items, []Scored{{"c", 4. / 11}}, 1e-15) {
		t.Errorf("the hand case: %v", got.Items)
	}
	if _, err := m.AppendFoldIn(nil, p, []Event{{Item: "a", Action: "viewed"}}, Options{N: 3}); err == nil || !strings.Contains(err.Error(), `unknown action "viewed"`) {
		t.Errorf("an unknown action: %v", err)
	}
	if _, err := fixture(t).AppendFoldIn(nil, p, nil, Options{N: 3}); err != ErrNoFactors {
		t.Errorf("a model without factors: %v, want ErrNoFactors", err)
	}
	if raceEnabled {
		return
	}
	events := []Event{{Item: "a", Action: "browsed"}, {Item: "b", Action: "purchased"}}
	dst := make([]Scored, 0, 10)
	// The Cholesky factorisation allocates its matrix headers; the rest
	// is pooled.
	if n := testing.AllocsPerRun(200, func() { m.AppendFoldIn(dst, p, events, Options{N: 3}) }); n > 8 {
		t.Errorf("%v allocations per fold-in, want at most 8", n)
	}
}

// TestUserLists: a user's stored list is served best first (sorted on
// load, ties by item), cut at n and never topped up; a user without one
// gets the popular list with Fallback.
func TestUserLists(t *testing.T) {
	m, err := BuildWithALS(nil, []model.PopularItem{{Item: "p", Users: 9}, {Item: "x", Users: 3}}, "v", MaxSimilarity, ALS{Users: []model.UserList{
		{User: "u1", Items: []model.Neighbor{nb("x", 0.5), nb("z", 2), nb("y", 0.5), nb("w", -1)}},
		{User: "u2", Items: nil},
	}})
	if err != nil {
		t.Fatal(err)
	}
	type s = Scored
	for _, tc := range []struct {
		user     string
		n        int
		want     []Scored
		fallback bool
	}{
		{"u1", 10, []s{{"z", 2}, {"x", .5}, {"y", .5}, {"w", -1}}, false},
		{"u1", 2, []s{{"z", 2}, {"x", .5}}, false},
		{"u2", 10, nil, false},
		{"nobody", 1, []s{{"p", 9}}, true},
		{"nobody", 10, []s{{"p", 9}, {"x", 3}}, true},
	} {
		got := m.AppendUser(make([]Scored, 1, 4), tc.user, tc.n)
		popular := 0
		if tc.fallback {
			popular = len(tc.want)
		}
		if len(got.Items) != len(tc.want) || len(tc.want) > 0 && !reflect.DeepEqual(got.Items, tc.want) || got.Fallback != tc.fallback || got.Popular != popular {
			t.Errorf("AppendUser(%s, %d) = %+v, want %v fallback=%v", tc.user, tc.n, got, tc.want, tc.fallback)
		}
	}
	if m.Users() != 2 || m.Factors() != 0 || m.Items() != 0 {
		t.Errorf("Users, Factors, Items = %d, %d, %d; want 2, 0, 0", m.Users(), m.Factors(), m.Items())
	}
}

func TestBuildWithALSRejects(t *testing.T) {
	cfg := &als.Config{Rank: 2, Lambda: 0.1, Iterations: 1}
	row := func(id string, f ...float64) als.FactorRow { return als.FactorRow{ID: id, Factor: f} }
	for _, tc := range []struct {
		name string
		a    ALS
		want string
	}{
		{"no settings", ALS{ItemFactors: []als.FactorRow{row("a", 1, 2)}}, "without the ALS settings"},
		{"bad settings", ALS{Config: &als.Config{Rank: 0, Iterations: 1}, ItemFactors: []als.FactorRow{row("a")}}, "--rank=0"},
		{"short factor", ALS{Config: cfg, ItemFactors: []als.FactorRow{row("a", 1)}}, `item "a": factor of 1 numbers, want the rank, 2`},
		{"NaN", ALS{Config: cfg, ItemFactors: []als.FactorRow{row("a", 1, math.NaN())}}, `item "a": factor holds NaN`},
		{"Inf", ALS{Config: cfg, ItemFactors: []als.FactorRow{row("a", math.Inf(-1), 1)}}, `item "a": factor holds -Inf`},
		{"factor twice", ALS{Config: cfg, ItemFactors: []als.FactorRow{row("a", 1, 2), row("b", 0, 1), row("a", 1, 2)}}, `item "a" has two factors`},
		{"no id", ALS{Config: cfg, ItemFactors: []als.FactorRow{row("", 1, 2)}}, "no id"},
		{"user twice", ALS{Users: []model.UserList{{User: "u"}, {User: "u"}}}, `user "u" has two lists`},
		{"no user", ALS{Users: []model.UserList{{Items: []model.Neighbor{nb("a", 1)}}}}, "no user"},
		{"item twice in a list", ALS{Users: []model.UserList{{User: "u", Items: []model.Neighbor{nb("a", 1), nb("b", 2), nb("a", 0)}}}}, `user "u" lists item "a" twice`},
		{"NaN score", ALS{Users: []model.UserList{{User: "u", Items: []model.Neighbor{nb("a", math.NaN())}}}}, `user "u": item "a" has score NaN`},
	} {
		if _, err := BuildWithALS(nil, nil, "", MaxSimilarity, tc.a); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// BenchmarkFoldIn folds in a request of 10 items (3 actions, profiled as
// the server does) against 3,706 items (MovieLens 1M's catalogue) with
// synthetic rank-64 factors, top 10, and reports the 99th percentile of
// single fold-ins beside the mean.
func BenchmarkFoldIn(b *testing.B) {
	const nItems, rank, perRequest = 3706, 64, 10
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([]als.FactorRow, nItems)
	for k := range rows {
		f := make([]float64, rank)
		for j := range f {
			f[j] = rng.NormFloat64() / math.Sqrt(rank)
		}
		rows[k] = als.FactorRow{ID: fmt.Sprint(1 + k), Factor: f}
	}
	p, err := NewProfiler("browsed:0.5,basket:2,purchased:6", "sum", -1)
	if err != nil {
		b.Fatal(err)
	}
	actions := []string{"browsed", "basket", "purchased"}
	requests := make([][]Event, 1000)
	for k := range requests {
		for j := range perRequest {
			requests[k] = append(requests[k], Event{Item: rows[rng.IntN(nItems)].ID, Action: actions[j%3]})
		}
	}
	for _, implicit := range []bool{true, false} {
		cfg := als.Config{Rank: rank, Lambda: 0.1, Implicit: implicit, Alpha: 10, Iterations: 10}
		m, err := BuildWithALS(nil, nil, "bench", MaxSimilarity, ALS{Config: &cfg, ItemFactors: rows})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("implicit=%v", implicit), func(b *testing.B) {
			dst := make([]Scored, 0, 10)
			var lat []time.Duration
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				res, err := m.AppendFoldIn(dst, p, requests[i%len(requests)], Options{N: 10})
				lat = append(lat, time.Since(t0))
				if err != nil || len(res.Items) != 10 {
					b.Fatal(res, err)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// TestReadALSFiles reads the ALS job's JSONL files as the contract writes
// them (model.UserList, als.FactorRow), blank lines skipped, and names the
// line of a malformed or id-less row.
func TestReadALSFiles(t *testing.T) {
	users, err := ReadUserLists(strings.NewReader(`{"user":"u1","items":[{"item":"b","score":0.75},{"item":"a","score":-0.5}]}` + "\n\n" + `{"user":"u2","items":[]}` + "\n"))
	want := []model.UserList{{User: "u1", Items: []model.Neighbor{nb("b", .75), nb("a", -.5)}}, {User: "u2", Items: []model.Neighbor{}}}
	if err != nil || !reflect.DeepEqual(users, want) {
		t.Errorf("ReadUserLists = %+v, %v; want %+v", users, err, want)
	}
	rows, err := ReadFactors(strings.NewReader(`{"id":"a","factor":[0.5,-1e-3]}` + "\n" + `{"id":"b","factor":[2,0]}`))
	if wantRows := []als.FactorRow{{ID: "a", Factor: []float64{.5, -1e-3}}, {ID: "b", Factor: []float64{2, 0}}}; err != nil || !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("ReadFactors = %+v, %v; want %+v", rows, err, wantRows)
	}
	for _, tc := range []struct {
		read func(string) error
		text string
		want string
	}{
		{func(s string) error { _, err := ReadUserLists(strings.NewReader(s)); return err }, `{"user":"u","items":[]}` + "\n" + `{"items":[]}`, "line 2: no user"},
		{func(s string) error { _, err := ReadUserLists(strings.NewReader(s)); return err }, `{"user":"u","items":{}}`, "line 1: json"},
		{func(s string) error { _, err := ReadFactors(strings.NewReader(s)); return err }, `{"factor":[1]}`, "line 1: no id"},
		{func(s string) error { _, err := ReadFactors(strings.NewReader(s)); return err }, "\n" + `{"id":"a","factor":[1,"x"]}`, "line 2: json"},
	} {
		if err := tc.read(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

// TestFoldInSingular: with λ = 0 an explicit fold-in of one item at rank
// 2 has singular normal equations, an ErrSolve; the scratch stays clean.
func TestFoldInSingular(t *testing.T) {
	m := alsFixture(t, als.Config{Rank: 2, Lambda: 0, Iterations: 1})
	if _, err := m.FoldIn([]string{"a"}, []float64{1}, Options{N: 3}); !errors.Is(err, ErrSolve) || !strings.Contains(err.Error(), "singular") {
		t.Fatalf("error %v, want ErrSolve", err)
	}
	// a and b determine x = (2, 1) exactly: c scores 3.
	got, err := m.FoldIn([]string{"a", "b"}, []float64{2, 1}, Options{N: 3})
	if err != nil || !sameScored(got.Items, []Scored{{"c", 3}}, 1e-15) {
		t.Errorf("after the failure: %v, %v; want c 3", got.Items, err)
	}
}

// TestFoldInConcurrent: fold-ins from several goroutines, sharing the
// model's pooled solvers and scratch, answer what they answer one at a
// time.
func TestFoldInConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cfg := als.Config{Rank: 8, Lambda: 0.1, Implicit: true, Alpha: 5, Iterations: 1}
	var rows []als.FactorRow
	for k := range 200 {
		f := make([]float64, cfg.Rank)
		for j := range f {
			f[j] = rng.NormFloat64()
		}
		rows = append(rows, als.FactorRow{ID: fmt.Sprintf("i%03d", k), Factor: f})
	}
	m, err := BuildWithALS(nil, []model.PopularItem{{Item: "i000", Users: 3}}, "", MaxSimilarity, ALS{Config: &cfg, ItemFactors: rows})
	if err != nil {
		t.Fatal(err)
	}
	type request struct {
		items   []string
		weights []float64
		want    Result
	}
	reqs := make([]request, 50)
	for k := range reqs {
		for range rng.IntN(6) {
			reqs[k].items = append(reqs[k].items, rows[rng.IntN(len(rows))].ID)
			reqs[k].weights = append(reqs[k].weights, 1+rng.Float64())
		}
		if reqs[k].want, err = m.FoldIn(reqs[k].items, reqs[k].weights, Options{N: 5}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				r := reqs[(g*31+i)%len(reqs)]
				if got, err := m.FoldIn(r.items, r.weights, Options{N: 5}); err != nil || !reflect.DeepEqual(got, r.want) {
					t.Errorf("concurrent fold-in of %v: %+v %v, want %+v", r.items, got, err, r.want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
