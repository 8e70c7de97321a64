package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/recommend"
)

// alsModel: neighbour lists as testModel's (a lists b .5, c .25; b lists
// a .5), popular p 9, a 8; rank-2 explicit factors a (1, 0), b (0, 1),
// c (1, 1) trained with λ = 3; user lists u1: c 0.75, b 0.5 and u2: a 1.
//
// Folding in a with weight w solves (a aᵀ + 3·1·I) x = w·a, x = (w/4, 0)
// (exact: the Cholesky factor of diag(4, 3) has 2 for its first entry), so
// c scores w/4 and b 0.
func alsModel(t testing.TB, version string) *recommend.Model {
	t.Helper()
	cfg := als.Config{Rank: 2, Lambda: 3, Iterations: 5}
	m, err := recommend.BuildWithALS([]model.Neighbors{nbs("a", nb("b", .5), nb("c", .25)), nbs("b", nb("a", .5))},
		[]model.PopularItem{{Item: "p", Users: 9}, {Item: "a", Users: 8}}, version, recommend.MaxSimilarity,
		recommend.ALS{Config: &cfg,
			ItemFactors: []als.FactorRow{{ID: "a", Factor: []float64{1, 0}}, {ID: "b", Factor: []float64{0, 1}}, {ID: "c", Factor: []float64{1, 1}}},
			Users:       []model.UserList{{User: "u1", Items: []model.Neighbor{nb("c", .75), nb("b", .5)}}, {User: "u2", Items: []model.Neighbor{nb("a", 1)}}}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestALSRoutes: GET /v1/users/{user}/recommendations answers stored
// lists, the popular list for a user without one; POST
// /v1/recommendations folds in with "model":"als" and scores neighbours
// by default or with "model":"itemknn"; bad input is a 400, an ALS
// request to a model without its part a 409 saying what to load.
func TestALSRoutes(t *testing.T) {
	s := newTestServer(t, alsModel(t, "v1"))
	plain := newTestServer(t, testModel(t, "knn"))
	tests := []struct {
		name   string
		s      *server
		method string
		target string
		body   string
		code   int
		want   string // the body, or a substring of an error
	}{
		{"user list", s, "GET", "/v1/users/u1/recommendations", "", 200,
			`{"result":[{"item":"c","score":0.75},{"item":"b","score":0.5}],"version":"v1"}`},
		{"user list, n", s, "GET", "/v1/users/u1/recommendations?n=1", "", 200,
			`{"result":[{"item":"c","score":0.75}],"version":"v1"}`},
		{"user list, escaped id", s, "GET", "/v1/users/%75%32/recommendations", "", 200,
			`{"result":[{"item":"a","score":1}],"version":"v1"}`},
		{"unknown user: popular", s, "GET", "/v1/users/nobody/recommendations?n=5", "", 200,
			`{"result":[{"item":"p","score":9},{"item":"a","score":8}],"fallback":true,"popular":2,"version":"v1"}`},
		{"user n=0", s, "GET", "/v1/users/u1/recommendations?n=0", "", 400, "n must be"},
		{"user n=101", s, "GET", "/v1/users/u1/recommendations?n=101", "", 400, "n must be"},
		{"user n not a number", s, "GET", "/v1/users/u1/recommendations?n=ten", "", 400, "n must be"},
		{"user unknown parameter", s, "GET", "/v1/users/u1/recommendations?k=2", "", 400, `unknown parameter \"k\"`},
		{"user POST", s, "POST", "/v1/users/u1/recommendations", "", 405, "use GET"},
		{"user lists not loaded", plain, "GET", "/v1/users/u1/recommendations", "", 409, `the served model \"knn\" has no user lists`},

		// a purchased (6): c 6/4, b 0, then the popular p (a is seen).
		{"fold-in", s, "POST", "/v1/recommendations", `{"model":"als","items":[{"item":"a","action":"purchased"}]}`, 200,
			`{"result":[{"item":"c","score":1.5},{"item":"b","score":0},{"item":"p","score":9}],"popular":1,"version":"v1"}`},
		{"fold-in, n and unknown items", s, "POST", "/v1/recommendations", `{"model":"als","items":[{"item":"zz","weight":3},{"item":"a","weight":2}],"n":1}`, 200,
			`{"result":[{"item":"c","score":0.5}],"version":"v1"}`},
		{"fold-in, include_seen", s, "POST", "/v1/recommendations", `{"model":"als","items":[{"item":"a","weight":4}],"n":2,"include_seen":true}`, 200,
			`{"result":[{"item":"a","score":1},{"item":"c","score":1}],"version":"v1"}`},
		{"fold-in, no item with a factor: popular", s, "POST", "/v1/recommendations", `{"model":"als","items":[{"item":"zz","action":"browsed"}]}`, 200,
			`{"result":[{"item":"p","score":9},{"item":"a","score":8}],"fallback":true,"popular":2,"version":"v1"}`},
		{"itemknn by name", s, "POST", "/v1/recommendations", `{"model":"itemknn","items":[{"item":"a","action":"browsed"}]}`, 200,
			`{"result":[{"item":"b","score":0.25},{"item":"c","score":0.125},{"item":"p","score":9}],"popular":1,"version":"v1"}`},
		{"itemknn by default", s, "POST", "/v1/recommendations", `{"items":[{"item":"a","action":"browsed"}]}`, 200,
			`{"result":[{"item":"b","score":0.25},{"item":"c","score":0.125},{"item":"p","score":9}],"popular":1,"version":"v1"}`},
		{"unknown model", s, "POST", "/v1/recommendations", `{"model":"svd","items":[]}`, 400, `model \"svd\": want itemknn (the default) or als`},
		{"fold-in with neighbors", s, "POST", "/v1/recommendations", `{"model":"als","items":[],"neighbors":5}`, 400, "apply to model itemknn, not als"},
		{"fold-in with normalize", s, "POST", "/v1/recommendations", `{"model":"als","items":[],"normalize":false}`, 400, "apply to model itemknn, not als"},
		{"fold-in n=0", s, "POST", "/v1/recommendations", `{"model":"als","items":[],"n":0}`, 400, "n must be"},
		{"fold-in unknown action", s, "POST", "/v1/recommendations", `{"model":"als","items":[{"item":"a","action":"viewed"}]}`, 400, "unknown action"},
		{"fold-in no item", s, "POST", "/v1/recommendations", `{"model":"als","items":[{"weight":1}]}`, 400, "items[0]: no item"},
		{"fold-in without factors", plain, "POST", "/v1/recommendations", `{"model":"als","items":[{"item":"a","weight":1}]}`, 409,
			`model als: the served model \"knn\" has no item factors; serve an ALS run's manifest`},
		{"readyz", s, "GET", "/readyz", "", 200, `{"factors":3,"items":2,"status":"ready","users":2,"version":"v1"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(tc.s, tc.method, tc.target, tc.body)
			body := strings.TrimSuffix(w.Body.String(), "\n")
			if w.Code != tc.code {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.target, w.Code, body, tc.code)
			}
			if tc.code == 200 {
				if body != tc.want {
					t.Errorf("body\n %s\nwant\n %s", body, tc.want)
				}
				return
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(body, tc.want) || e.Error == "" {
				t.Errorf("body %s: want a JSON error containing %q", body, tc.want)
			}
		})
	}

	// Before the first model: a bad fold-in is still a 400, a good one 503.
	empty := newTestServer(t, nil)
	for body, code := range map[string]int{
		`{"model":"als","items":[{"item":"a","action":"viewed"}]}`:  400,
		`{"model":"als","items":[{"item":"a","action":"browsed"}]}`: 503,
	} {
		if w := do(empty, "POST", "/v1/recommendations", body); w.Code != code {
			t.Errorf("no model, %s: %d, want %d", body, w.Code, code)
		}
	}
	if w := do(empty, "GET", "/v1/users/u1/recommendations", ""); w.Code != 503 {
		t.Errorf("no model, user list: %d, want 503", w.Code)
	}
}

// TestALSMetrics: fold-ins count under their own route, apart from
// neighbour-scored POSTs, and user lists under theirs; the model's users
// and factors are gauges.
func TestALSMetrics(t *testing.T) {
	s := newTestServer(t, alsModel(t, "v1"))
	do(s, "POST", "/v1/recommendations", `{"model":"als","items":[{"item":"a","weight":1}]}`)
	do(s, "POST", "/v1/recommendations", `{"model":"als","items":[],"n":0}`)
	do(s, "POST", "/v1/recommendations", `{"items":[{"item":"a","weight":1}]}`)
	do(s, "POST", "/v1/recommendations", `{"model":"x"}`)
	do(s, "GET", "/v1/users/u1/recommendations", "")
	do(s, "GET", "/v1/users/zz/recommendations", "")
	body := do(s, "GET", "/metrics", "").Body.String()
	for _, want := range []string{
		`recsys_http_requests_total{route="/v1/recommendations model=als",code="200"} 1`,
		`recsys_http_requests_total{route="/v1/recommendations model=als",code="400"} 1`,
		`recsys_http_request_duration_seconds_count{route="/v1/recommendations model=als"} 2`,
		`recsys_http_requests_total{route="/v1/recommendations",code="200"} 1`,
		`recsys_http_requests_total{route="/v1/recommendations",code="400"} 1`,
		`recsys_http_requests_total{route="/v1/users/{user}/recommendations",code="200"} 2`,
		`recsys_model_users 2`,
		`recsys_model_factors 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
}

// alsRun is generation g of an ALS publication: item "a" has the one
// neighbour "n<g>", the popular list is "p<g>", user u's list is the
// item "l<g>", and item f<g>'s factor is (1, 0) beside a's (0, 1)
// (explicit, λ = 1), so each part of a served model shows its
// generation. Ids grow with g, so every generation changes every size.
func alsRun(g int) (users, factors string) {
	x := strings.Repeat("x", g)
	users = fmt.Sprintf(`{"user":"u","items":[{"item":"l%s","score":0.5}]}`+"\n", x)
	factors = fmt.Sprintf(`{"id":"a","factor":[0,1]}`+"\n"+`{"id":"f%s","factor":[1,0]}`+"\n", x)
	return users, factors
}

// publishALSRun publishes generation g into dir as the ALS job does: the
// similarities, popular, user-list and item-factor files, each by its own
// rename, then the manifest naming them (steps limits how many of the
// five land).
func publishALSRun(t *testing.T, dir string, g, steps int) {
	t.Helper()
	sims, pop := filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "p.json")
	users, factors := filepath.Join(dir, "users.jsonl"), filepath.Join(dir, "items.jsonl")
	u, f := alsRun(g)
	for k, step := range []func(){
		func() { replaceFile(t, sims, genSims(g)) },
		func() { replaceFile(t, pop, genPopular(g)) },
		func() { replaceFile(t, users, u) },
		func() { replaceFile(t, factors, f) },
		func() {
			manifest := publish.DefaultPath(sims)
			describe := func(path string) *publish.File {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				d, err := publish.Describe(publish.Rel(manifest, path), strings.NewReader(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				return &d
			}
			m := publish.Manifest{Version: fmt.Sprintf("als-%d", g), Similarities: *describe(sims), Popular: describe(pop),
				Users: describe(users), ItemFactors: describe(factors), ALS: &als.Config{Rank: 2, Lambda: 1, Iterations: 3}}
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			replaceFile(t, manifest, string(b)+"\n")
		},
	} {
		if k < steps {
			step()
		}
	}
}

// alsGenerations reads back which generation each part of s's model came
// from: the neighbour list, the popular list (via the itemknn fallback),
// user u's list and the item fold-in ranks first.
func alsGenerations(t *testing.T, s *server) (sims, pop, users, factors int) {
	t.Helper()
	sims, pop = generationOf(t, s.model.Load())
	var res struct{ Result []recommend.Scored }
	w := do(s, "GET", "/v1/users/u/recommendations", "")
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 200 || len(res.Result) != 1 {
		t.Fatalf("user list: %d %s", w.Code, w.Body)
	}
	users = len(res.Result[0].Item) - 1
	// Folding in a alone gives x = (0, 1/2): f<g> scores 0.
	w = do(s, "POST", "/v1/recommendations", `{"model":"als","items":[{"item":"a","weight":1}],"n":1}`)
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 200 || len(res.Result) != 1 {
		t.Fatalf("fold-in: %d %s", w.Code, w.Body)
	}
	return sims, pop, users, len(res.Result[0].Item) - 1
}

// TestALSReload: an ALS run is served from files that match its manifest,
// every part of one run: until the manifest of run 2 lands, each of its
// renames leaves a mismatch and run 1 stays served; then run 2 is served
// whole. A run published whole during a read is read again. A user-list
// or factor file damaged after its manifest is refused, the served model
// staying.
func TestALSReload(t *testing.T) {
	quickRetries(t)
	dir := t.TempDir()
	sims := filepath.Join(dir, "s.jsonl")
	publishALSRun(t, dir, 1, 5)
	src := fileSource{similarities: sims, popular: filepath.Join(dir, "p.json")}
	s := newTestServer(t, nil)
	r := &reloader{src: &src, srv: s}
	ctx := context.Background()
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	want := func(when string, g int) {
		t.Helper()
		if a, b, c, d := alsGenerations(t, s); a != g || b != g || c != g || d != g || s.model.Load().Version() != fmt.Sprintf("als-%d", g) {
			t.Fatalf("%s: generations %d %d %d %d, version %q; want all %d", when, a, b, c, d, s.model.Load().Version(), g)
		}
	}
	want("run 1", 1)
	run1 := s.model.Load()
	for steps := 1; steps < 5; steps++ {
		publishALSRun(t, dir, 2, steps)
		if err := r.check(ctx); !errors.Is(err, publish.ErrMismatch) || s.model.Load() != run1 {
			t.Fatalf("run 2 after %d of its 5 renames: error %v, model %q; want a mismatch and run 1 served", steps, err, s.model.Load().Version())
		}
	}
	publishALSRun(t, dir, 2, 5)
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	want("run 2 published", 2)

	// Run 4 lands whole after run 3's similarities are read.
	calls := 0
	src.between = func() {
		if calls++; calls == 1 {
			publishALSRun(t, dir, 4, 5)
		}
	}
	publishALSRun(t, dir, 3, 5)
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	want("run 4 published during the read of run 3", 4)
	wantReads(t, "run 4 published during the read of run 3", calls, 2)
	src.between = nil

	run4 := s.model.Load()
	for _, file := range []string{"users.jsonl", "items.jsonl"} {
		path := filepath.Join(dir, file)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		replaceFile(t, path, strings.Replace(string(b), "x", "y", 1))
		// The manifest is restamped so that the reloader looks again.
		manifest := publish.DefaultPath(sims)
		mb, err := os.ReadFile(manifest)
		if err != nil {
			t.Fatal(err)
		}
		replaceFile(t, manifest, string(mb)+"\n")
		if err := r.check(ctx); !errors.Is(err, publish.ErrMismatch) || !strings.Contains(err.Error(), path) || s.model.Load() != run4 {
			t.Errorf("%s damaged: error %v; want a mismatch naming it, run 4 served", file, err)
		}
		replaceFile(t, path, string(b))
	}
}

// TestALSManifestRejects: an ALS manifest whose factors do not fit its
// settings is refused with the builder's error, the served model staying.
func TestALSManifestRejects(t *testing.T) {
	quickRetries(t)
	dir := t.TempDir()
	publishALSRun(t, dir, 1, 5)
	sims := filepath.Join(dir, "s.jsonl")
	s := newTestServer(t, nil)
	r := &reloader{src: fileSource{similarities: sims}, srv: s}
	ctx := context.Background()
	// Without --popular the manifest's popular file is served.
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	good := s.model.Load()
	manifest := publish.DefaultPath(sims)
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, manifest, strings.Replace(string(b), `"rank":2`, `"rank":3`, 1))
	if err := r.check(ctx); err == nil || !strings.Contains(err.Error(), `item "a": factor of 2 numbers, want the rank, 3`) || s.model.Load() != good {
		t.Errorf("factors of the wrong rank: %v; want the builder's error, the model kept", err)
	}
}
