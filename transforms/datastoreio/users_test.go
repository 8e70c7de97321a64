package datastoreio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beammetrics "github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/simstore"
	"google.golang.org/grpc/codes"
)

// testALS are the settings the ALS versions of these tests record.
var testALS = als.Config{Rank: 3, Lambda: 0.1, Implicit: true, Alpha: 40, Iterations: 10, Seed: 7}

// testALSJSON is testALS as the marker must record it: als.Config's JSON.
const testALSJSON = `{"rank":3,"lambda":0.1,"implicit":true,"alpha":40,"iterations":10,"seed":7}`

// alsVersion is what an ALS run writes.
type alsVersion struct {
	items   []model.Neighbors
	popular []model.PopularItem
	users   []model.UserList
	factors []als.FactorRow
}

// alsRun makes an ALS run's products over items lo..hi and users ulo..uhi,
// whose values depend on tag, so versions differ.
func alsRun(lo, hi, ulo, uhi int, tag float64) alsVersion {
	items := itemIDs("item-", lo, hi)
	r := alsVersion{items: neighbors(items, 4, tag), popular: popularOf(int(tag))}
	r.users = userLists(itemIDs("user-", ulo, uhi), items, 5, tag)
	for i, it := range items {
		f := make([]float64, testALS.Rank)
		for k := range f {
			// Binary fractions, negative ones too: stored exactly or not at all.
			f[k] = float64(i*testALS.Rank+k)/8 - 3 + tag
		}
		r.factors = append(r.factors, als.FactorRow{ID: it, Factor: f})
	}
	return r
}

// userLists makes one list per user of n distinct items, best first.
func userLists(users, items []string, n int, tag float64) []model.UserList {
	out := make([]model.UserList, len(users))
	for i, u := range users {
		l := model.UserList{User: u}
		for j := range n {
			l.Items = append(l.Items, model.Neighbor{Item: items[(3*i+j)%len(items)], Score: float64(n-j)/4 + tag})
		}
		out[i] = l
	}
	return out
}

// entities is how many entities r's write reports.
func (r alsVersion) entities() int { return len(r.items) + len(r.users) + len(r.factors) }

// runWriteVersion writes r as cfg's version (with cfg.ALS set to testALS)
// and returns the run's users_written and factors_written counters; the
// pipeline asserts that the write reports r's entities. Every third
// user's list is given worst first: the write stores it best first.
func runWriteVersion(cfg Config, r alsVersion) (users, factors int64, err error) {
	cfg.ALS = &testALS
	in := make([]model.UserList, len(r.users))
	for i, u := range r.users {
		in[i] = model.UserList{User: u.User, Items: slices.Clone(u.Items)}
		if i%3 == 0 {
			slices.Reverse(in[i].Items)
		}
	}
	p, s := beam.NewPipelineWithRoot()
	prods := Products{Popular: beam.Create(s, r.popular), Users: beam.CreateList(s, in), ItemFactors: beam.CreateList(s, r.factors)}
	passert.Equals(s, WriteVersion(s, cfg, beam.CreateList(s, r.items), prods), r.entities())
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		return 0, 0, err
	}
	counter := func(name string) (n int64) {
		for _, c := range res.Metrics().Query(func(r beammetrics.SingleResult) bool { return r.Name() == name }).Counters() {
			n += c.Result()
		}
		return n
	}
	return counter(metricUsersWritten), counter(metricFactorsWritten), nil
}

// checkALSVersion compares what v stores, raw and read through store,
// with r, exactly, and its marker's counts and settings.
func checkALSVersion(t *testing.T, b backend, store *simstore.Store, st stored, v string, r alsVersion) {
	t.Helper()
	checkItems(t, st, v, r.items)
	if len(st.users[v]) != len(r.users) || len(st.factors[v]) != len(r.factors) {
		t.Errorf("version %s stores %d user lists and %d factors, want %d and %d", v, len(st.users[v]), len(st.factors[v]), len(r.users), len(r.factors))
	}
	for _, u := range r.users {
		e := st.users[v][u.User]
		want := simstore.Entity{Version: v, UpdatedAt: e.UpdatedAt}
		for _, it := range u.Items {
			want.Items, want.Scores = append(want.Items, it.Item), append(want.Scores, it.Score)
		}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("version %s: user %s stored as %+v, want %+v", v, u.User, e, want)
		}
	}
	for _, f := range r.factors {
		if got := st.factors[v][f.ID]; !slices.Equal(got, f.Factor) {
			t.Errorf("version %s: factor of %s stored as %v, want %v", v, f.ID, got, f.Factor)
		}
	}

	ctx := context.Background()
	info, err := store.Info(ctx, v)
	want := simstore.VersionInfo{State: simstore.StateComplete, Expected: int64(len(r.items)), Items: int64(len(r.items)),
		ExpectedUsers: int64(len(r.users)), Users: int64(len(r.users)), ExpectedFactors: int64(len(r.factors)), Factors: int64(len(r.factors)), ALS: testALSJSON}
	got := info
	got.CreatedAt, got.CompletedAt, got.WindowStart, got.WindowEnd = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if err != nil || got != want {
		t.Errorf("marker of %s: %+v, %v; want %+v", v, got, err, want)
	}
	lists, err := store.UserLists(ctx, v)
	wantLists := slices.SortedFunc(slices.Values(r.users), func(a, b model.UserList) int { return strings.Compare(a.User, b.User) })
	if err != nil || !reflect.DeepEqual(lists, wantLists) {
		t.Errorf("UserLists(%s): %d lists, %v; want the %d written", v, len(lists), err, len(wantLists))
	}
	cfg, rows, err := store.ItemFactors(ctx, v)
	wantRows := slices.SortedFunc(slices.Values(r.factors), func(a, b als.FactorRow) int { return strings.Compare(a.ID, b.ID) })
	if err != nil || cfg != testALS || !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("ItemFactors(%s): %+v, %d rows, %v; want %+v and the %d written", v, cfg, len(rows), err, testALS, len(wantRows))
	}
}

func TestWriteVersionProducts(t *testing.T) { testWriteVersionProducts(t, fake(newServer(t))) }

// testWriteVersionProducts publishes two ALS versions, a similarity-only
// one and an ALS one keeping one version: each ALS version stores its
// items, popular list, user lists and factors exactly, counted on its
// marker with its settings; the similarity-only marker records none of
// them; old versions go with every kind they hold.
func testWriteVersionProducts(t *testing.T, b backend) {
	ctx := context.Background()
	store, err := simstore.New(datastoretest.Client(t, testProject, b.addr), simstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v1, v2, v4 := alsRun(0, 40, 0, 30, 0), alsRun(10, 60, 20, 45, 1), alsRun(0, 20, 0, 10, 4)
	users, factors, err := runWriteVersion(testConfig(b, "v1"), v1)
	if err != nil {
		t.Fatal(err)
	}
	if users != int64(len(v1.users)) || factors != int64(len(v1.factors)) {
		t.Errorf("v1: counters users_written %d, factors_written %d; want %d and %d", users, factors, len(v1.users), len(v1.factors))
	}
	if _, _, err := runWriteVersion(testConfig(b, "v2"), v2); err != nil {
		t.Fatal(err)
	}
	st := snapshot(t, b, simstore.DefaultKind)
	if st.pointer != "v2" || len(st.unknowns) > 0 {
		t.Fatalf("after v2: pointer %q, unknown keys %v", st.pointer, st.unknowns)
	}
	checkALSVersion(t, b, store, st, "v1", v1)
	checkALSVersion(t, b, store, st, "v2", v2)

	// A similarity-only version: v1 goes, with its user lists and factors.
	v3 := neighbors(itemIDs("item-", 0, 30), 3, 3)
	if err := runWriteWithPopular(testConfig(b, "v3"), v3, popularOf(3)); err != nil {
		t.Fatal(err)
	}
	st = snapshot(t, b, simstore.DefaultKind)
	if st.pointer != "v3" || len(st.unknowns) > 0 || len(st.markers) != 2 || len(st.users) != 1 || len(st.factors) != 1 || len(st.popular) != 2 {
		t.Errorf("after v3: pointer %q, markers %v, user lists of %d versions, factors of %d, popular lists of %d, unknown keys %v; want v3 and v2's",
			st.pointer, st.markers, len(st.users), len(st.factors), len(st.popular), st.unknowns)
	}
	checkALSVersion(t, b, store, st, "v2", v2)
	checkItems(t, st, "v3", v3)
	for k, e := range b.entities(t) {
		if k.Path != simstore.DefaultKind+"Version/v3" {
			continue
		}
		for _, name := range []string{"als", "expected_users", "users", "expected_factors", "factors"} {
			if _, ok := e.GetProperties()[name]; ok {
				t.Errorf("v3's marker has the property %q; a similarity-only version stores none", name)
			}
		}
	}
	if _, err := store.UserLists(ctx, "v3"); !errors.Is(err, simstore.ErrNoUsers) {
		t.Errorf("UserLists(v3): %v, want ErrNoUsers", err)
	}

	// Keeping one version deletes every entity of v2 and v3, whatever its kind.
	cfg := testConfig(b, "v4")
	cfg.KeepVersions = 1
	if _, _, err := runWriteVersion(cfg, v4); err != nil {
		t.Fatal(err)
	}
	for k := range b.entities(t) {
		if p := k.Path; p != simstore.DefaultKind+"Version/current" && p != simstore.DefaultKind+"Version/v4" && !strings.HasPrefix(p, simstore.DefaultKind+"Version/v4/") {
			t.Errorf("after v4 keeping 1: %s is left", p)
		}
	}
	st = snapshot(t, b, simstore.DefaultKind)
	if st.pointer != "v4" || len(st.popular) != 1 {
		t.Errorf("after v4: pointer %q, %d popular lists", st.pointer, len(st.popular))
	}
	checkALSVersion(t, b, store, st, "v4", v4)
}

func TestFailedUserWrite(t *testing.T) {
	srv := newServer(t)
	testFailedUserWrite(t, fake(srv), alsRun(0, 30, 0, 40, 1), []string{`user "user-00017"`, "InvalidArgument", "injected failure"},
		func() { srv.SetFaults(datastoretest.Faults{FailForKey: "user-00017"}) },
		func() { srv.SetFaults(datastoretest.Faults{}) })
	checkNoViolations(t, srv)
}

// testFailedUserWrite publishes v1, then v2, whose user lists fail to
// write (with breakV2 set up, undone by heal) with an error saying
// wantErr, and a v2b with a factor of another rank: each fails the run and
// leaves v1 live, whole, and the new version writing. A run keeping one
// version then deletes all of them.
func testFailedUserWrite(t *testing.T, b backend, v2 alsVersion, wantErr []string, breakV2, heal func()) {
	store, err := simstore.New(datastoretest.Client(t, testProject, b.addr), simstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v1 := alsRun(0, 30, 0, 40, 0)
	if _, _, err := runWriteVersion(testConfig(b, "v1"), v1); err != nil {
		t.Fatal(err)
	}
	breakV2()
	badRank := alsRun(0, 30, 0, 40, 2)
	badRank.factors[7].Factor = badRank.factors[7].Factor[:2]
	for _, run := range []struct {
		version string
		r       alsVersion
		want    []string
	}{{"v2", v2, wantErr}, {"v2b", badRank, []string{`the factor of item "item-00007" has 2 numbers, want the rank 3`}}} {
		_, _, err := runWriteVersion(testConfig(b, run.version), run.r)
		if err == nil {
			t.Fatalf("run %s succeeded", run.version)
		}
		for _, want := range run.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("run %s: error does not contain %q: %v", run.version, want, err)
			}
		}
		st := snapshot(t, b, simstore.DefaultKind)
		if st.pointer != "v1" || st.markers[run.version] != simstore.StateWriting {
			t.Errorf("after the failed run %s: pointer %q, its marker %q; want v1, writing", run.version, st.pointer, st.markers[run.version])
		}
		checkALSVersion(t, b, store, st, "v1", v1)
		if _, err := store.UserLists(context.Background(), run.version); err == nil {
			t.Errorf("UserLists(%s) of the failed run succeeded", run.version)
		}
		heal()
	}

	cfg := testConfig(b, "v3")
	cfg.KeepVersions = 1
	v3 := alsRun(5, 25, 0, 10, 3)
	if _, _, err := runWriteVersion(cfg, v3); err != nil {
		t.Fatal(err)
	}
	st := snapshot(t, b, simstore.DefaultKind)
	if st.pointer != "v3" || len(st.markers) != 1 || len(st.items) != 1 || len(st.users) != 1 || len(st.factors) != 1 || len(st.unknowns) > 0 {
		t.Errorf("after v3 keeping 1: pointer %q, markers %v, item lists, user lists and factors of %d, %d and %d versions, unknown keys %v",
			st.pointer, st.markers, len(st.items), len(st.users), len(st.factors), st.unknowns)
	}
	checkALSVersion(t, b, store, st, "v3", v3)
}

func TestReaderSeesWholeUserVersions(t *testing.T) {
	srv := newServer(t)
	srv.SetFaults(datastoretest.Faults{Latency: 20 * time.Millisecond, Seed: 5, FailRate: 0.2, FailCodes: []codes.Code{codes.Unavailable}})
	testReaderSeesWholeUserVersions(t, fake(srv))
}

// testReaderSeesWholeUserVersions writes v1, then polls every user's list
// and the live version's factors while the v2 run writes: every answer
// must be all of one version, exactly as written.
func testReaderSeesWholeUserVersions(t *testing.T, b backend) {
	runs := map[string]alsVersion{"v1": alsRun(0, 300, 0, 600, 0), "v2": alsRun(100, 400, 200, 800, 1)}
	if _, _, err := runWriteVersion(testConfig(b, "v1"), runs["v1"]); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := simstore.New(datastoretest.Client(t, testProject, b.addr), simstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]model.UserList{}
	factors := map[string][]als.FactorRow{}
	for v, r := range runs {
		want[v] = map[string]model.UserList{}
		for _, u := range r.users {
			want[v][u.User] = u
		}
		factors[v] = slices.SortedFunc(slices.Values(r.factors), func(a, b als.FactorRow) int { return strings.Compare(a.ID, b.ID) })
	}
	all := itemIDs("user-", 0, 800)

	done := make(chan error)
	go func() { _, _, err := runWriteVersion(testConfig(b, "v2"), runs["v2"]); done <- err }()
	polls := map[string]int{}
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false // one last poll sees the new version
		default:
		}
		v, lists, err := store.GetUserLists(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for i, l := range lists {
			if l == nil {
				continue
			}
			found++
			if w, ok := want[v][all[i]]; !ok || !reflect.DeepEqual(*l, w) {
				t.Fatalf("poll of version %q: user %s's list %+v is not that version's", v, all[i], *l)
			}
		}
		if found != len(want[v]) {
			t.Fatalf("poll of version %q found %d user lists, want %d", v, found, len(want[v]))
		}
		cfg, rows, err := store.ItemFactors(ctx, v)
		if err != nil || cfg != testALS || !reflect.DeepEqual(rows, factors[v]) {
			t.Fatalf("factors of version %q: %d rows, %v; want the %d written", v, len(rows), err, len(factors[v]))
		}
		polls[v]++
	}
	if polls["v1"] < 3 || polls["v2"] < 1 {
		t.Errorf("polls per version %v: want several of v1 during the run and v2 after it", polls)
	}
}

// TestProductsNeedVersions: user lists and factors are refused in the
// in-place layout and factors without ALS settings, before anything runs.
func TestProductsNeedVersions(t *testing.T) {
	if err := (Config{Project: "p", Layout: simstore.LayoutInPlace, ALS: &testALS}).Validate(); err == nil || !strings.Contains(err.Error(), "need the versioned layout") {
		t.Errorf("ALS settings in place: %v", err)
	}
	if err := (Config{Project: "p", ALS: &als.Config{Rank: 0, Iterations: 1}}).Validate(); err == nil || !strings.Contains(err.Error(), "als: --rank=0") {
		t.Errorf("rank 0: %v", err)
	}
	if err := (Config{Project: "p", ALS: &testALS}).Validate(); err != nil {
		t.Errorf("valid ALS settings: %v", err)
	}
	for _, tt := range []struct {
		name   string
		layout string
		als    *als.Config
		users  bool
		want   string
	}{
		{"users in place", simstore.LayoutInPlace, nil, true, "need the versioned layout"},
		{"factors without settings", simstore.LayoutVersioned, nil, false, "item factors need the ALS settings"},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), tt.want) {
					t.Errorf("%s: panic %v, want one saying %s", tt.name, r, tt.want)
				}
			}()
			_, s := beam.NewPipelineWithRoot()
			var p Products
			if tt.users {
				p.Users = beam.CreateList(s, userLists([]string{"u"}, []string{"a"}, 1, 0))
			} else {
				p.ItemFactors = beam.CreateList(s, []als.FactorRow{{ID: "a", Factor: []float64{1, 2, 3}}})
			}
			cfg := Config{Project: "p", Layout: tt.layout, ALS: tt.als}
			WriteVersion(s, cfg, beam.CreateList(s, neighbors([]string{"a", "b"}, 1, 0)), p)
		}()
	}
}

// TestFactorOpRejects: a factor must be named by a valid key name and hold
// rank finite numbers.
func TestFactorOpRejects(t *testing.T) {
	keys := simstore.Keys{Kind: simstore.DefaultKind}
	for _, tt := range []struct {
		name, id string
		factor   []float64
		want     string
	}{
		{"valid", "a", []float64{1, -2, 0.5}, ""},
		{"reserved id", "__a__", []float64{1, 2, 3}, "cannot be a key name"},
		{"short", "a", []float64{1, 2}, "has 2 numbers, want the rank 3"},
		{"NaN", "a", []float64{1, math.NaN(), 3}, `item "a" holds NaN`},
		{"infinite", "a", []float64{1, 2, math.Inf(-1)}, "holds -Inf"},
	} {
		o, err := factorOp(keys, "v1", tt.id, tt.factor, 3, time.Now())
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: factorOp error %v, want %q", tt.name, err, tt.want)
		}
		if err == nil && (o.kind != recordFactor || o.what != `item factor "a"` || o.key != keys.Factor("v1", "a").String()) {
			t.Errorf("%s: op %+v", tt.name, o)
		}
	}
}

// TestUserOp: a user list is written at the user's key, its input left
// as it was, and one too large for an entity names the
// user and the flag.
func TestUserOp(t *testing.T) {
	keys := simstore.Keys{Kind: simstore.DefaultKind}
	r := record{Kind: recordUser, ID: "u", List: []model.Neighbor{{Item: "b", Score: 1}, {Item: "c", Score: 2}, {Item: "a", Score: 1}}}
	o, err := recordOp(keys, "v1", r, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if o.kind != recordUser || o.what != `user "u"` || o.key != keys.User("v1", "u").String() || o.mut == nil {
		t.Errorf("op %+v", o)
	}
	if want := []model.Neighbor{{Item: "b", Score: 1}, {Item: "c", Score: 2}, {Item: "a", Score: 1}}; !reflect.DeepEqual(r.List, want) {
		t.Errorf("the input was reordered: %v", r.List)
	}
	huge := record{Kind: recordUser, ID: "big", List: append(hugeNeighbors("x").Neighbors, hugeNeighbors("y").Neighbors[:100]...)}
	if _, err := recordOp(keys, "v1", huge, 0, time.Now()); err == nil || !strings.Contains(err.Error(), `user "big": entity of 750 items`) || !strings.Contains(err.Error(), "--user_top_n") {
		t.Errorf("a list of 750 long ids: %v", err)
	}
	if err := CheckUserTopN(100); err != nil {
		t.Errorf("CheckUserTopN(100): %v", err)
	}
	if err := CheckUserTopN(800); err == nil || !strings.Contains(err.Error(), "user_top_n 800 gives user lists of up to") {
		t.Errorf("CheckUserTopN(800): %v", err)
	}
}

// TestIncompleteError names the counts of each kind that fell short and
// the first write error; a similarity-only version's reads as before.
func TestIncompleteError(t *testing.T) {
	info := simstore.VersionInfo{Expected: 10, ExpectedUsers: 7, ExpectedFactors: 10, Error: "boom"}
	want := `datastoreio: version "v": 10 of 10 items, 5 of 7 user lists, 10 of 10 item factors written, so a write bundle failed; the pointer stays on the previous version; first write error: boom`
	if err := incompleteError("v", tally{Items: 10, Users: 5, Factors: 10}, info); err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	want = `datastoreio: version "v": 3 of 4 items written, so a write bundle failed; the pointer stays on the previous version`
	if err := incompleteError("v", tally{Items: 3}, simstore.VersionInfo{Expected: 4}); err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if complete(tally{Items: 10, Users: 7, Factors: 9}, info) || !complete(tally{Items: 10, Users: 7, Factors: 10}, info) || complete(tally{}, simstore.VersionInfo{}) {
		t.Error("complete must require every expected entity and at least one item")
	}
}
