package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/datastoreio"
)

const (
	testProject   = "test-project"
	testNamespace = "ns"
	testKind      = "Sim"
)

// testRetry retries the test sinks' commits quickly.
var testRetry = datastoreio.Retry{MaxAttempts: 5, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, ThrottleDelay: time.Millisecond}

// writeVersion writes lists as version v with the pipeline's Datastore
// sink, which lays them out and flips the pointer as in production.
func writeVersion(t *testing.T, addr, v string, lists []model.Neighbors) {
	t.Helper()
	cfg := datastoreio.Config{Project: testProject, Endpoint: addr, Namespace: testNamespace, Kind: testKind, Version: v, Retry: testRetry}
	p, s := beam.NewPipelineWithRoot()
	datastoreio.Write(s, cfg, beam.CreateList(s, lists))
	if err := ptest.Run(p); err != nil {
		t.Fatalf("writing version %s: %v", v, err)
	}
}

// TestDatastoreSource loads the live version through the real client from
// the in-process server, follows the pointer to a new version, and is not
// ready while nothing is published.
func TestDatastoreSource(t *testing.T) {
	srv, err := datastoretest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	testDatastoreSource(t, srv.Addr)
}

// TestDatastoreSourceEmulator is TestDatastoreSource against the real Cloud
// Datastore emulator.
func TestDatastoreSourceEmulator(t *testing.T) {
	testDatastoreSource(t, datastoretest.StartEmulator(t).Host)
}

// datastoreReloader is a test server and the reloader that feeds it from
// the Datastore layout client reads.
func datastoreReloader(t *testing.T, client *datastore.Client) (*server, *reloader) {
	t.Helper()
	src, err := newDatastoreSource(client, testNamespace, testKind, "")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, nil)
	return s, &reloader{src: src, srv: s}
}

// testDatastoreSource runs the serving's Datastore source against the
// empty Datastore at addr.
func testDatastoreSource(t *testing.T, addr string) {
	ctx := context.Background()
	client := datastoretest.Client(t, testProject, addr)
	s, r := datastoreReloader(t, client)

	if err := r.check(ctx); !errors.Is(err, simstore.ErrNoVersion) {
		t.Fatalf("nothing published: error %v, want ErrNoVersion", err)
	}
	if w := do(s, "GET", "/readyz", ""); w.Code != 503 {
		t.Fatalf("/readyz with nothing published: %d", w.Code)
	}

	v1 := []model.Neighbors{nbs("a", nb("b", .5), nb("c", .25)), nbs("b", nb("a", .5)), nbs("c", nb("a", .25))}
	writeVersion(t, addr, "v1", v1)
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m := s.model.Load()
	if m.Version() != "v1" || m.Items() != 3 {
		t.Fatalf("loaded version %q with %d items, want v1 with 3", m.Version(), m.Items())
	}
	for _, l := range v1 {
		got, _ := m.Similar(l.Item, 10)
		var want []recommend.Scored
		for _, n := range l.Neighbors {
			want = append(want, recommend.Scored{Item: n.Item, Score: n.Score})
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("v1 %s: %v, want %v", l.Item, got, want)
		}
	}

	writeVersion(t, addr, "v2", []model.Neighbors{nbs("a", nb("d", .9)), nbs("d", nb("a", .9))})
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m = s.model.Load()
	if got, _ := m.Similar("a", 10); m.Version() != "v2" || !reflect.DeepEqual(got, []recommend.Scored{{Item: "d", Score: .9}}) {
		t.Errorf("after v2 was published: version %q, a's neighbours %v", m.Version(), got)
	}
	if _, found := m.Similar("b", 10); found {
		t.Error("v2 serves v1's item b: the versions are mixed")
	}
}

// alsVersion is what one version of the ALS job holds. A nil cfg is a
// similarity-only version: items and popular list alone.
type alsVersion struct {
	lists   []model.Neighbors
	popular []model.PopularItem
	users   []model.UserList
	cfg     *als.Config
	factors []als.FactorRow
}

// explicitALS is alsModel's run (see its golden fold-in): rank-2 explicit
// factors a (1, 0), b (0, 1), c (1, 1) trained with λ = 3, user lists u1:
// c 0.75, b 0.5 and u2: a 1.
var explicitALS = alsVersion{
	lists:   []model.Neighbors{nbs("a", nb("b", .5), nb("c", .25)), nbs("b", nb("a", .5))},
	popular: []model.PopularItem{{Item: "p", Users: 9}, {Item: "a", Users: 8}},
	users:   []model.UserList{{User: "u1", Items: []model.Neighbor{nb("c", .75), nb("b", .5)}}, {User: "u2", Items: []model.Neighbor{nb("a", 1)}}},
	cfg:     &als.Config{Rank: 2, Lambda: 3, Iterations: 5},
	factors: []als.FactorRow{{ID: "a", Factor: []float64{1, 0}}, {ID: "b", Factor: []float64{0, 1}}, {ID: "c", Factor: []float64{1, 1}}},
}

// implicitALS is an implicit rank-3 run with factors of no pattern, out
// of key order (Datastore returns them in key order), and no user u2.
var implicitALS = alsVersion{
	lists:   []model.Neighbors{nbs("a", nb("d", .9), nb("e", .4)), nbs("d", nb("a", .9))},
	popular: []model.PopularItem{{Item: "q", Users: 5}, {Item: "d", Users: 3}},
	users:   []model.UserList{{User: "u3", Items: []model.Neighbor{nb("f", .7), nb("c", .1)}}, {User: "u1", Items: []model.Neighbor{nb("e", .31), nb("a", .2)}}},
	cfg:     &als.Config{Rank: 3, Lambda: 0.1, Implicit: true, Alpha: 2, Iterations: 5, Seed: 7},
	factors: []als.FactorRow{
		{ID: "e", Factor: []float64{0.31, -0.12, 0.8}},
		{ID: "a", Factor: []float64{0.5, 0.25, -0.1}},
		{ID: "c", Factor: []float64{-0.2, 0.9, 0.35}},
		{ID: "f", Factor: []float64{0.05, 0.4, 0.6}},
		{ID: "b", Factor: []float64{0.7, -0.3, 0.15}},
		{ID: "d", Factor: []float64{0.12, 0.6, -0.45}},
	},
}

// alsGeneration is alsRun's generation g (see alsGenerations) as a
// Datastore version.
func alsGeneration(g int) alsVersion {
	x := strings.Repeat("x", g)
	return alsVersion{
		lists:   []model.Neighbors{nbs("a", nb("n"+x, .5))},
		popular: []model.PopularItem{{Item: "p" + x, Users: 7}},
		users:   []model.UserList{{User: "u", Items: []model.Neighbor{nb("l"+x, .5)}}},
		cfg:     &als.Config{Rank: 2, Lambda: 1, Iterations: 3},
		factors: []als.FactorRow{{ID: "a", Factor: []float64{0, 1}}, {ID: "f" + x, Factor: []float64{1, 0}}},
	}
}

// writeALSVersion writes a as version v of namespace with the ALS job's
// sink (datastoreio.WriteVersion), which flips the pointer to it and
// keeps keep versions (0: its default).
func writeALSVersion(t *testing.T, addr, namespace, v string, keep int, a alsVersion) {
	t.Helper()
	cfg := datastoreio.Config{Project: testProject, Endpoint: addr, Namespace: namespace, Kind: testKind, Version: v,
		KeepVersions: keep, ALS: a.cfg, Retry: testRetry}
	p, s := beam.NewPipelineWithRoot()
	prods := datastoreio.Products{Popular: beam.Create(s, a.popular)}
	if a.cfg != nil {
		prods.Users, prods.ItemFactors = beam.CreateList(s, a.users), beam.CreateList(s, a.factors)
	}
	datastoreio.WriteVersion(s, cfg, beam.CreateList(s, a.lists), prods)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("writing version %s: %v", v, err)
	}
}

// jsonLines is rows as JSON lines.
func jsonLines[T any](t *testing.T, rows ...T) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// fileALSServer serves a as the ALS job's files with their manifest
// (version v) through the file source.
func fileALSServer(t *testing.T, v string, a alsVersion) *server {
	t.Helper()
	dir := t.TempDir()
	sims := filepath.Join(dir, "s.jsonl")
	manifest := publish.DefaultPath(sims)
	file := func(name string, b []byte) *publish.File {
		path := filepath.Join(dir, name)
		replaceFile(t, path, string(b))
		f, err := publish.Describe(publish.Rel(manifest, path), bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return &f
	}
	m := publish.Manifest{Version: v, Similarities: *file("s.jsonl", jsonLines(t, a.lists...)),
		Popular: file("p.json", jsonLines(t, struct {
			Items []model.PopularItem `json:"items"`
		}{a.popular})),
		Users: file("users.jsonl", jsonLines(t, a.users...)), ItemFactors: file("items.jsonl", jsonLines(t, a.factors...)), ALS: a.cfg}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, manifest, string(b)+"\n")
	s := newTestServer(t, nil)
	if err := (&reloader{src: fileSource{similarities: sims}, srv: s}).check(context.Background()); err != nil {
		t.Fatalf("loading version %s from files: %v", v, err)
	}
	return s
}

// alsRequests are asked of both sources: user lists (one cut, one
// missing), fold-ins (explicit weights and actions, an unknown item,
// include_seen), neighbour scoring and /readyz.
var alsRequests = []struct{ method, target, body string }{
	{"GET", "/v1/users/u1/recommendations", ""},
	{"GET", "/v1/users/u3/recommendations?n=1", ""},
	{"GET", "/v1/users/nobody/recommendations", ""},
	{"POST", "/v1/recommendations", `{"model":"als","items":[{"item":"a","action":"purchased"}]}`},
	{"POST", "/v1/recommendations", `{"model":"als","items":[{"item":"a","weight":1},{"item":"c","weight":3},{"item":"zz","weight":2}],"n":5}`},
	{"POST", "/v1/recommendations", `{"model":"als","items":[{"item":"b","weight":2},{"item":"e","action":"browsed"}],"include_seen":true}`},
	{"POST", "/v1/recommendations", `{"items":[{"item":"a","weight":1}]}`},
	{"GET", "/readyz", ""},
}

// sameAsFiles fails the test unless s, serving version v from Datastore,
// answers every alsRequests request with the status and the bytes the
// file source serving a's files answers.
func sameAsFiles(t *testing.T, s *server, v string, a alsVersion) {
	t.Helper()
	files := fileALSServer(t, v, a)
	for _, r := range alsRequests {
		got, want := do(s, r.method, r.target, r.body), do(files, r.method, r.target, r.body)
		if got.Code != 200 || want.Code != 200 || got.Body.String() != want.Body.String() {
			t.Errorf("%s %s %s, version %s:\n Datastore %d %s files     %d %s", r.method, r.target, r.body, v,
				got.Code, got.Body, want.Code, want.Body)
		}
	}
}

// wantAnswer fails the test unless s answers method target (body) with
// code and, for a 200, exactly want, else a JSON error containing want.
func wantAnswer(t *testing.T, s *server, method, target, body string, code int, want string) {
	t.Helper()
	w := do(s, method, target, body)
	got := strings.TrimSuffix(w.Body.String(), "\n")
	var e struct{ Error string }
	switch {
	case w.Code != code:
		t.Errorf("%s %s %s: %d %s, want %d", method, target, body, w.Code, got, code)
	case code == 200 && got != want:
		t.Errorf("%s %s %s:\n %s\nwant\n %s", method, target, body, got, want)
	case code != 200 && (json.Unmarshal(w.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, want)):
		t.Errorf("%s %s %s: %s, want a JSON error containing %q", method, target, body, got, want)
	}
}

// TestDatastoreALS serves the ALS job's Datastore versions, on the
// in-process server and the real emulator.
func TestDatastoreALS(t *testing.T) {
	datastoretest.OnBoth(t, func(t *testing.T, addr string) {
		t.Run("routes", func(t *testing.T) { testDatastoreALSRoutes(t, addr) })
		t.Run("never mixes", func(t *testing.T) { testDatastoreALSNeverMixes(t, addr) })
	})
}

// testDatastoreALSRoutes: an explicit ALS version is served with its user
// lists and factors (stored lists answered exactly, alsModel's golden
// fold-in), answering as the file source does on the same run; a reload
// follows the pointer to an implicit version, whose answers are its own
// and again the file source's; then to a similarity-only version, which
// serves neighbours and answers the ALS routes 409.
func testDatastoreALSRoutes(t *testing.T, addr string) {
	ctx := context.Background()
	const ns = "als"
	src, err := newDatastoreSource(datastoretest.Client(t, testProject, addr), ns, testKind, "")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, nil)
	r := &reloader{src: src, srv: s}

	writeALSVersion(t, addr, ns, "v1", 0, explicitALS)
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, s, "GET", "/v1/users/u1/recommendations", "", 200, `{"result":[{"item":"c","score":0.75},{"item":"b","score":0.5}],"version":"v1"}`)
	wantAnswer(t, s, "GET", "/v1/users/u2/recommendations", "", 200, `{"result":[{"item":"a","score":1}],"version":"v1"}`)
	wantAnswer(t, s, "POST", "/v1/recommendations", `{"model":"als","items":[{"item":"a","action":"purchased"}]}`, 200,
		`{"result":[{"item":"c","score":1.5},{"item":"b","score":0},{"item":"p","score":9}],"popular":1,"version":"v1"}`)
	wantAnswer(t, s, "GET", "/readyz", "", 200, `{"factors":3,"items":2,"status":"ready","users":2,"version":"v1"}`)
	sameAsFiles(t, s, "v1", explicitALS)

	writeALSVersion(t, addr, ns, "v2", 0, implicitALS)
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, s, "GET", "/v1/users/u1/recommendations", "", 200, `{"result":[{"item":"e","score":0.31},{"item":"a","score":0.2}],"version":"v2"}`)
	wantAnswer(t, s, "GET", "/v1/users/u2/recommendations", "", 200, `{"result":[{"item":"q","score":5},{"item":"d","score":3}],"fallback":true,"popular":2,"version":"v2"}`)
	wantAnswer(t, s, "GET", "/readyz", "", 200, `{"factors":6,"items":2,"status":"ready","users":2,"version":"v2"}`)
	sameAsFiles(t, s, "v2", implicitALS)

	writeALSVersion(t, addr, ns, "v3", 0, alsVersion{lists: []model.Neighbors{nbs("a", nb("b", .5))}, popular: []model.PopularItem{{Item: "p", Users: 1}}})
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, s, "GET", "/v1/users/u1/recommendations", "", 409, `the served model "v3" has no user lists`)
	wantAnswer(t, s, "POST", "/v1/recommendations", `{"model":"als","items":[{"item":"a","weight":1}]}`, 409, `the served model "v3" has no item factors`)
	wantAnswer(t, s, "POST", "/v1/recommendations", `{"items":[{"item":"a","weight":1}]}`, 200,
		`{"result":[{"item":"b","score":0.5},{"item":"p","score":1}],"popular":1,"version":"v3"}`)
	wantAnswer(t, s, "GET", "/readyz", "", 200, `{"items":1,"status":"ready","version":"v3"}`)
}

// testDatastoreALSNeverMixes: the pointer moves while an ALS version is
// read, after its items and before its popular list, user lists and
// factors: once to a new version with the one read kept, once to a new
// version that deletes the one read (a single version kept). Each time
// the reload reads again and serves every part of the new version
// (alsGenerations), under its name, rather than failing or mixing.
func testDatastoreALSNeverMixes(t *testing.T, addr string) {
	ctx := context.Background()
	const ns = "alsmix"
	src, err := newDatastoreSource(datastoretest.Client(t, testProject, addr), ns, testKind, "")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, nil)
	r := &reloader{src: src, srv: s}
	want := func(when string, g int) {
		t.Helper()
		if a, b, c, d := alsGenerations(t, s); a != g || b != g || c != g || d != g || s.model.Load().Version() != fmt.Sprintf("v%d", g) {
			t.Fatalf("%s: generations %d %d %d %d, version %q; want all %d, v%d", when, a, b, c, d, s.model.Load().Version(), g, g)
		}
	}
	writeALSVersion(t, addr, ns, "v1", 0, alsGeneration(1))
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	want("v1", 1)

	for _, tc := range []struct {
		name         string
		read, during int // generations
		keep         int
	}{
		{"v3 published during the read of v2", 2, 3, 0},
		{"v5 published during the read of v4, deleting it", 4, 5, 1},
	} {
		calls := 0
		src.between = func() {
			if calls++; calls == 1 {
				writeALSVersion(t, addr, ns, fmt.Sprintf("v%d", tc.during), tc.keep, alsGeneration(tc.during))
			}
		}
		writeALSVersion(t, addr, ns, fmt.Sprintf("v%d", tc.read), 0, alsGeneration(tc.read))
		if err := r.check(ctx); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want(tc.name, tc.during)
		wantReads(t, tc.name, calls, 2)
		src.between = nil
	}
	if info, err := src.store.Info(ctx, "v4"); err == nil {
		t.Errorf("v4 was not deleted (marker %+v): the read it failed was not tested", info)
	}
}
