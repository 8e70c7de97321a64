package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/transforms/interactions"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

func TestUserMetrics(t *testing.T) {
	// log2 of ranks 1..4 plus one: 1, log2(3), 2, log2(5).
	l3, l5 := math.Log2(3), math.Log2(5)
	rel := func(items ...string) map[string]bool {
		m := map[string]bool{}
		for _, it := range items {
			m[it] = true
		}
		return m
	}
	tests := []struct {
		name                  string
		recs                  []string
		rel                   map[string]bool
		k                     int
		precision, recall, nd float64
		ap                    float64
	}{
		{"all hits", []string{"a", "b"}, rel("a", "b"), 2, 1, 1, 1, 1},
		{"no hit", []string{"x", "y"}, rel("a"), 2, 0, 0, 0, 0},
		// Hits at ranks 1 and 3 of 4; 3 relevant.
		// AP = (1/1 + 2/3) / 3; nDCG = (1 + 1/2) / (1 + 1/log2(3) + 1/2).
		{"hits at 1 and 3", []string{"a", "x", "b", "y"}, rel("a", "b", "c"), 4,
			2. / 4, 2. / 3, 1.5 / (1 + 1/l3 + 0.5), (1 + 2./3) / 3},
		// Hit at rank 2; the ideal list has one hit at rank 1.
		{"one relevant at rank 2", []string{"x", "a"}, rel("a"), 2, 1. / 2, 1, 1 / l3, 0.5},
		// Only the first k count; precision divides by k even when short.
		{"cut at k", []string{"x", "a", "b"}, rel("a", "b"), 2, 1. / 2, 1. / 2, (1 / l3) / (1 + 1/l3), 0.5 / 2},
		{"short list", []string{"a"}, rel("a"), 4, 1. / 4, 1, 1, 1},
		// More relevant items than k: the ideal DCG stops at k.
		{"ideal capped at k", []string{"x", "x2", "x3", "a"}, rel("a", "b", "c", "d", "e"), 4,
			1. / 4, 1. / 5, (1 / l5) / (1 + 1/l3 + 0.5 + 1/l5), (1. / 4) / 5},
	}
	for _, tc := range tests {
		p, r, n, ap := UserMetrics(tc.recs, tc.rel, tc.k)
		got := []float64{p, r, n, ap}
		want := []float64{tc.precision, tc.recall, tc.nd, tc.ap}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Errorf("%s: (precision, recall, nDCG, AP) = %v, want %v", tc.name, got, want)
				break
			}
		}
	}
}

// randomEvents makes events for users u0..u(n-1), with repeated (user,
// item) pairs and times.
func randomEvents(r *rand.Rand, users int) map[string][]interactions.Event {
	out := map[string][]interactions.Event{}
	for u := range users {
		user := fmt.Sprintf("u%d", u)
		for range 1 + r.IntN(30) {
			out[user] = append(out[user], interactions.Event{User: user, Item: fmt.Sprintf("i%d", r.IntN(50)),
				Weight: 1, Time: r.Int64N(1000), HasTime: true})
		}
	}
	return out
}

// TestSplitProperties: for random users and both modes, train and test
// partition the user's distinct items, every training event is of a
// training item, the test share is the rounded fraction, and the same seed
// gives the same split.
func TestSplitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, mode := range []string{SplitRandom, SplitTime} {
		c := SplitConfig{Mode: mode, TestFraction: 0.25, Seed: 42}
		for user, events := range randomEvents(r, 300) {
			sp, train, err := c.SplitUser(user, slices.Clone(events))
			if err != nil {
				t.Fatal(err)
			}
			distinct := map[string]bool{}
			for _, e := range events {
				distinct[e.Item] = true
			}
			all := slices.Sorted(maps.Keys(distinct))
			if got := slices.Sorted(slices.Values(append(slices.Clone(sp.Train), sp.Test...))); !slices.Equal(got, all) {
				t.Fatalf("%s %s: train %v + test %v is not the items %v", mode, user, sp.Train, sp.Test, all)
			}
			for _, it := range sp.Test {
				if _, leaked := slices.BinarySearch(sp.Train, it); leaked {
					t.Fatalf("%s %s: test item %s is in train", mode, user, it)
				}
			}
			for _, e := range train {
				if _, ok := slices.BinarySearch(sp.Train, e.Item); !ok {
					t.Fatalf("%s %s: training event of held-out item %s", mode, user, e.Item)
				}
			}
			if want := len(all) - int(math.RoundToEven(float64(len(all))*0.75)); len(sp.Test) != want {
				t.Fatalf("%s %s: %d test items of %d, want %d", mode, user, len(sp.Test), len(all), want)
			}
			shuffled := slices.Clone(events)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			again, _, _ := c.SplitUser(user, shuffled)
			if !reflect.DeepEqual(again, sp) {
				t.Fatalf("%s %s: split depends on event order: %+v vs %+v", mode, user, again, sp)
			}
		}
	}
}

// TestSplitSeed: another seed gives another random split, the same seed
// the same one.
func TestSplitSeed(t *testing.T) {
	users := randomEvents(rand.New(rand.NewPCG(5, 6)), 200)
	split := func(seed uint64) map[string]Split {
		out := map[string]Split{}
		for user, events := range users {
			sp, _, err := SplitConfig{Mode: SplitRandom, TestFraction: 0.25, Seed: seed}.SplitUser(user, events)
			if err != nil {
				t.Fatal(err)
			}
			out[user] = sp
		}
		return out
	}
	if !reflect.DeepEqual(split(1), split(1)) {
		t.Error("seed 1 gave two different splits")
	}
	a, b := split(1), split(2)
	differ := 0
	for u := range a {
		if !reflect.DeepEqual(a[u], b[u]) {
			differ++
		}
	}
	if differ < len(a)/2 {
		t.Errorf("seeds 1 and 2 split only %d of %d users differently", differ, len(a))
	}
}

func TestSplitTime(t *testing.T) {
	ev := func(item string, tm int64) interactions.Event {
		return interactions.Event{User: "u", Item: item, Time: tm, HasTime: true}
	}
	// First seen: a at 1 (again at 9), b 2, c 3, d 4: d is the latest.
	events := []interactions.Event{ev("c", 3), ev("a", 9), ev("a", 1), ev("d", 4), ev("b", 2)}
	sp, train, err := SplitConfig{Mode: SplitTime, TestFraction: 0.25}.SplitUser("u", events)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Split{User: "u", Train: []string{"a", "b", "c"}, Test: []string{"d"}}); !reflect.DeepEqual(sp, want) {
		t.Errorf("split %+v, want %+v", sp, want)
	}
	if len(train) != 4 {
		t.Errorf("%d training events, want 4 (both of a's)", len(train))
	}
	_, _, err = SplitConfig{Mode: SplitTime, TestFraction: 0.25}.SplitUser("u", []interactions.Event{{User: "u", Item: "a"}})
	if err == nil || !strings.Contains(err.Error(), "no time") {
		t.Errorf("event without time: error %v", err)
	}
}

func TestSplitConfigValidate(t *testing.T) {
	for _, c := range []SplitConfig{{Mode: "hash", TestFraction: 0.25}, {Mode: SplitRandom}, {Mode: SplitRandom, TestFraction: 1}} {
		if c.Validate() == nil {
			t.Errorf("Validate(%+v) accepted", c)
		}
	}
}

// setFlags sets flags for one test and restores them after.
func setFlags(t *testing.T, args ...string) {
	t.Helper()
	for _, a := range args {
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		f := flag.Lookup(name)
		if f == nil {
			t.Fatalf("no flag --%s", name)
		}
		old := f.Value.String()
		if err := f.Value.Set(value); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Value.Set(old) })
	}
}

// TestEvaluateFixture runs the whole evaluation on the seed export's
// fixture, twice: the report has its shape, every metric is in [0, 1],
// and the second run reproduces the first exactly.
func TestEvaluateFixture(t *testing.T) {
	setFlags(t, "--input=../../testdata/interactions.csv", "--time_field=time", "--k=5")
	c, err := configFromFlags()
	if err != nil {
		t.Fatal(err)
	}
	var reports []Report
	for range 2 {
		c.WorkDir = t.TempDir()
		rep, err := Run(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		rep.Config.WorkDir = ""
		reports = append(reports, rep)
	}
	rep := reports[0]
	if !reflect.DeepEqual(reports[0], reports[1]) {
		t.Errorf("two runs differ:\n%+v\n%+v", reports[0], reports[1])
	}
	if rep.Users != 399 || rep.TestUsers == 0 || rep.TestUsers > rep.Users || rep.K != 5 ||
		rep.TrainPairs == 0 || rep.TestPairs == 0 || rep.CatalogueItems == 0 || rep.ModelItems == 0 {
		t.Errorf("report counts: %+v", rep)
	}
	for name, m := range map[string]Metrics{"model": rep.Model, "popular": rep.Popular} {
		if m.Users != rep.TestUsers {
			t.Errorf("%s: averaged over %d users, want %d", name, m.Users, rep.TestUsers)
		}
		for metric, v := range map[string]float64{"precision": m.Precision, "recall": m.Recall, "ndcg": m.NDCG, "map": m.MAP, "coverage": m.Coverage} {
			if !(v >= 0 && v <= 1) {
				t.Errorf("%s %s = %v, want in [0, 1]", name, metric, v)
			}
		}
	}
	if rep.Popular.FallbackUsers != rep.TestUsers {
		t.Errorf("popular baseline: %d fallback users, want all %d", rep.Popular.FallbackUsers, rep.TestUsers)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(b, &doc)
	for _, key := range []string{"config", "users", "test_users", "k", "model", "popular"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("report JSON has no %q: %s", key, b)
		}
	}
	for _, key := range []string{"precision", "recall", "ndcg", "map", "coverage"} {
		if _, ok := doc["model"].(map[string]any)[key]; !ok {
			t.Errorf("report JSON model has no %q", key)
		}
	}
}
