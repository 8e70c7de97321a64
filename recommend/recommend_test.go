package recommend

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/recsys/itemsim/model"
)

// fixture is a small model with dyadic scores, so sums are exact:
//
//	a: b .5, c .25, d .125
//	b: a .5, c .5
//	c: e .75, b .5, a .25 (given unsorted)
//	popular: e 10, a 8, d 5, f 3 (f and d have no list)
func fixture(t *testing.T) *Model {
	t.Helper()
	lists := []model.Neighbors{
		nbs("a", nb("b", .5), nb("c", .25), nb("d", .125)),
		nbs("b", nb("a", .5), nb("c", .5)),
		nbs("c", nb("a", .25), nb("b", .5), nb("e", .75)),
	}
	pop := []model.PopularItem{{Item: "e", Users: 10}, {Item: "a", Users: 8}, {Item: "d", Users: 5}, {Item: "f", Users: 3}}
	m, err := Build(lists, pop, "v1")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func nb(item string, score float64) model.Neighbor { return model.Neighbor{Item: item, Score: score} }

func nbs(item string, ns ...model.Neighbor) model.Neighbors {
	return model.Neighbors{Item: item, Neighbors: ns}
}

func TestRecommend(t *testing.T) {
	m := fixture(t)
	type s = Scored
	tests := []struct {
		name     string
		items    []string
		weights  []float64
		opts     Options
		want     []Scored
		fallback bool
	}{
		{"one item", []string{"a"}, []float64{1}, Options{N: 10},
			[]s{{"b", .5}, {"c", .25}, {"d", .125}}, false},
		{"n truncates", []string{"a"}, []float64{1}, Options{N: 2},
			[]s{{"b", .5}, {"c", .25}}, false},
		// a·2 gives b 1, c .5, d .25; b·1 gives a .5, c .5.
		{"weighted sum excludes own items", []string{"a", "b"}, []float64{2, 1}, Options{N: 10},
			[]s{{"c", 1}, {"d", .25}}, false},
		{"include seen, ties by item id", []string{"a", "b"}, []float64{2, 1}, Options{N: 10, IncludeSeen: true},
			[]s{{"b", 1}, {"c", 1}, {"a", .5}, {"d", .25}}, false},
		// c: 1 / (.25 + .5); d: .25 / .125.
		{"normalised", []string{"a", "b"}, []float64{2, 1}, Options{N: 10, Normalize: true},
			[]s{{"d", 2}, {"c", 1 / .75}}, false},
		{"unknown items ignored", []string{"x", "a"}, []float64{5, 1}, Options{N: 10},
			[]s{{"b", .5}, {"c", .25}, {"d", .125}}, false},
		{"fallback excludes own items", []string{"f"}, []float64{1}, Options{N: 10},
			[]s{{"e", 10}, {"a", 8}, {"d", 5}}, true},
		{"fallback for unknown items only", []string{"x"}, []float64{1}, Options{N: 2},
			[]s{{"e", 10}, {"a", 8}}, true},
		{"fallback for an empty profile", nil, nil, Options{N: 10},
			[]s{{"e", 10}, {"a", 8}, {"d", 5}, {"f", 3}}, true},
		{"fallback when every neighbour is seen", []string{"a", "b", "c", "d", "e"}, []float64{1, 1, 1, 1, 1}, Options{N: 10},
			[]s{{"f", 3}}, true},
		{"n of 0", []string{"a"}, []float64{1}, Options{}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: the pooled scratch must come back clean.
			for range 2 {
				got := m.Recommend(tc.items, tc.weights, tc.opts)
				if !reflect.DeepEqual(got.Items, tc.want) || got.Fallback != tc.fallback {
					t.Fatalf("got %v fallback=%v, want %v fallback=%v", got.Items, got.Fallback, tc.want, tc.fallback)
				}
			}
		})
	}
}

// TestTopUp: with TopUp, a list that falls short of N is filled from the
// popular list, most popular first, skipping the items already in it and
// the customer's own (unless IncludeSeen); Popular counts the fill.
func TestTopUp(t *testing.T) {
	m := fixture(t)
	type s = Scored
	tests := []struct {
		name     string
		items    []string
		opts     Options
		want     []Scored
		popular  int
		fallback bool
	}{
		// a lists b, c, d; popular e, a (seen), d (in the list), f.
		{"filled to n", []string{"a"}, Options{N: 5, TopUp: true},
			[]s{{"b", .5}, {"c", .25}, {"d", .125}, {"e", 10}, {"f", 3}}, 2, false},
		{"filled by one", []string{"a"}, Options{N: 4, TopUp: true},
			[]s{{"b", .5}, {"c", .25}, {"d", .125}, {"e", 10}}, 1, false},
		{"full without the popular list", []string{"a"}, Options{N: 3, TopUp: true},
			[]s{{"b", .5}, {"c", .25}, {"d", .125}}, 0, false},
		{"popular list too short", []string{"a"}, Options{N: 10, TopUp: true},
			[]s{{"b", .5}, {"c", .25}, {"d", .125}, {"e", 10}, {"f", 3}}, 2, false},
		{"include seen", []string{"a"}, Options{N: 5, TopUp: true, IncludeSeen: true},
			[]s{{"b", .5}, {"c", .25}, {"d", .125}, {"e", 10}, {"a", 8}}, 2, false},
		{"nothing scores", []string{"f"}, Options{N: 2, TopUp: true},
			[]s{{"e", 10}, {"a", 8}}, 2, true},
		{"off", []string{"a"}, Options{N: 5},
			[]s{{"b", .5}, {"c", .25}, {"d", .125}}, 0, false},
		{"fallback without TopUp", []string{"f"}, Options{N: 2},
			[]s{{"e", 10}, {"a", 8}}, 2, true},
	}
	p, err := NewProfiler("browsed:1", "sum", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			weights := make([]float64, len(tc.items))
			var events []Event
			for k, it := range tc.items {
				weights[k] = 1
				events = append(events, Event{Item: it, Action: "browsed"})
			}
			for range 2 { // the pooled scratch must come back clean
				got := m.Recommend(tc.items, weights, tc.opts)
				if !reflect.DeepEqual(got.Items, tc.want) || got.Popular != tc.popular || got.Fallback != tc.fallback {
					t.Fatalf("Recommend: %v popular=%d fallback=%v, want %v popular=%d fallback=%v", got.Items, got.Popular, got.Fallback, tc.want, tc.popular, tc.fallback)
				}
				app, err := m.AppendRecommendations(nil, p, events, tc.opts)
				if err != nil || !reflect.DeepEqual(app, got) {
					t.Fatalf("AppendRecommendations: %+v %v, Recommend %+v", app, err, got)
				}
			}
		})
	}
}

// TestNeighbors: with Options.Neighbors = k only the k best neighbours of
// each customer item score (ties by item id: b's best of a .5 and c .5 is
// a); an item beyond them is not scored, so it may fill the page from the
// popular list. Recommend and AppendRecommendations agree with the hand
// values.
func TestNeighbors(t *testing.T) {
	m := fixture(t)
	type s = Scored
	tests := []struct {
		name     string
		items    []string
		weights  []float64
		opts     Options
		want     []Scored
		popular  int
		fallback bool
	}{
		{"k=1", []string{"a"}, []float64{1}, Options{N: 10, Neighbors: 1}, []s{{"b", .5}}, 0, false},
		{"k=2", []string{"a"}, []float64{1}, Options{N: 10, Neighbors: 2}, []s{{"b", .5}, {"c", .25}}, 0, false},
		{"k longer than the list", []string{"a"}, []float64{1}, Options{N: 10, Neighbors: 10}, []s{{"b", .5}, {"c", .25}, {"d", .125}}, 0, false},
		{"k=0 is the whole list", []string{"a"}, []float64{1}, Options{N: 10}, []s{{"b", .5}, {"c", .25}, {"d", .125}}, 0, false},
		{"a tie at the cut goes to the smaller id", []string{"b"}, []float64{1}, Options{N: 10, Neighbors: 1}, []s{{"a", .5}}, 0, false},
		// a·2: b 1; c·1: e .75.
		{"two items, k=1", []string{"a", "c"}, []float64{2, 1}, Options{N: 10, Neighbors: 1}, []s{{"b", 1}, {"e", .75}}, 0, false},
		// a·2: b 1, c .5 (seen); c·1: e .75, b .5.
		{"two items, k=2", []string{"a", "c"}, []float64{2, 1}, Options{N: 10, Neighbors: 2}, []s{{"b", 1.5}, {"e", .75}}, 0, false},
		// b: 1.5/(.5+.5), e: .75/.75.
		{"normalised over the k best", []string{"a", "c"}, []float64{2, 1}, Options{N: 10, Neighbors: 2, Normalize: true}, []s{{"b", 1.5}, {"e", 1}}, 0, false},
		// d is beyond a's best neighbour: not scored, so it tops up.
		{"top-up takes what k left out", []string{"a"}, []float64{1}, Options{N: 4, Neighbors: 1, TopUp: true}, []s{{"b", .5}, {"e", 10}, {"d", 5}, {"f", 3}}, 3, false},
		{"nothing scores but the customer's own", []string{"a", "b"}, []float64{1, 1}, Options{N: 10, Neighbors: 1}, []s{{"e", 10}, {"d", 5}, {"f", 3}}, 3, true},
	}
	p, err := NewProfiler("browsed:1", "sum", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			events := make([]Event, len(tc.items))
			for k, it := range tc.items {
				events[k] = Event{Item: it, Weight: tc.weights[k]}
			}
			for range 2 { // the pooled scratch must come back clean
				got := m.Recommend(tc.items, tc.weights, tc.opts)
				if !reflect.DeepEqual(got.Items, tc.want) || got.Popular != tc.popular || got.Fallback != tc.fallback {
					t.Fatalf("Recommend: %v popular=%d fallback=%v, want %v popular=%d fallback=%v", got.Items, got.Popular, got.Fallback, tc.want, tc.popular, tc.fallback)
				}
				app, err := m.AppendRecommendations(nil, p, events, tc.opts)
				if err != nil || !reflect.DeepEqual(app.Items, tc.want) || app.Popular != tc.popular || app.Fallback != tc.fallback {
					t.Fatalf("AppendRecommendations: %+v %v, want %v popular=%d fallback=%v", app, err, tc.want, tc.popular, tc.fallback)
				}
			}
		})
	}
}

// TestTopUpMatchesReference: on random models, popular lists and
// profiles, a topped-up list is the reference's scored list followed by
// the popular items in order that are neither in it nor (unless
// IncludeSeen) the customer's, cut at N: exactly N items whenever there
// are enough, and no item twice.
func TestTopUpMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	name := func(i int) string { return fmt.Sprintf("i%02d", i) }
	for trial := range 300 {
		nItems := 2 + r.IntN(30)
		var lists []model.Neighbors
		for i := range nItems {
			l := model.Neighbors{Item: name(i)}
			for _, j := range r.Perm(nItems)[:r.IntN(min(nItems, 5))] {
				if j != i {
					l.Neighbors = append(l.Neighbors, model.Neighbor{Item: name(j), Score: float64(1+r.IntN(8)) / 8})
				}
			}
			lists = append(lists, l)
		}
		var pop []model.PopularItem
		for k, i := range r.Perm(nItems)[:r.IntN(nItems)] {
			pop = append(pop, model.PopularItem{Item: name(i), Users: int64(100 - k)})
		}
		m, err := Build(lists, pop, "")
		if err != nil {
			t.Fatal(err)
		}
		var items []string
		var weights []float64
		for range 1 + r.IntN(4) {
			items = append(items, name(r.IntN(nItems+2)))
			weights = append(weights, float64(1+r.IntN(4))/2)
		}
		o := Options{N: 1 + r.IntN(15), Neighbors: r.IntN(3), IncludeSeen: r.IntN(2) == 0, Normalize: r.IntN(2) == 0, TopUp: true}
		want := reference(lists, items, weights, o)
		scored := len(want)
		in := map[string]bool{}
		for _, s := range want {
			in[s.Item] = true
		}
		for _, p := range pop {
			if len(want) == o.N {
				break
			}
			if in[p.Item] || !o.IncludeSeen && slices.Contains(items, p.Item) {
				continue
			}
			in[p.Item] = true
			want = append(want, Scored{p.Item, float64(p.Users)})
		}
		got := m.Recommend(items, weights, o)
		if !reflect.DeepEqual(got.Items, want) || got.Popular != len(want)-scored || got.Fallback != (scored == 0) {
			t.Fatalf("trial %d (%v %v %+v):\n got %v popular=%d fallback=%v\nwant %v, %d scored", trial, items, weights, o, got.Items, got.Popular, got.Fallback, want, scored)
		}
		if len(in) != len(got.Items) {
			t.Fatalf("trial %d: an item twice in %v", trial, got.Items)
		}
		if eligible := len(in) + countEligible(pop, in, items, o); len(got.Items) != min(o.N, eligible) {
			t.Fatalf("trial %d: %d items, want min(%d, %d)", trial, len(got.Items), o.N, eligible)
		}
	}
}

// countEligible counts the popular items a topped-up list could still
// take: neither in it nor excluded as the customer's.
func countEligible(pop []model.PopularItem, in map[string]bool, items []string, o Options) int {
	n := 0
	for _, p := range pop {
		if !in[p.Item] && (o.IncludeSeen || !slices.Contains(items, p.Item)) {
			n++
		}
	}
	return n
}

func TestSimilar(t *testing.T) {
	m := fixture(t)
	tests := []struct {
		item  string
		n     int
		want  []Scored
		found bool
	}{
		{"c", 10, []Scored{{"e", .75}, {"b", .5}, {"a", .25}}, true}, // sorted on load
		{"b", 1, []Scored{{"a", .5}}, true},                          // tie a/c: smaller id
		{"f", 10, nil, false},                                        // popular only, no list
		{"x", 10, nil, false},
	}
	for _, tc := range tests {
		got, found := m.Similar(tc.item, tc.n)
		if !reflect.DeepEqual(got, tc.want) || found != tc.found {
			t.Errorf("Similar(%q, %d) = %v, %v; want %v, %v", tc.item, tc.n, got, found, tc.want, tc.found)
		}
	}
	if m.Items() != 3 || m.Popular() != 4 || m.Version() != "v1" {
		t.Errorf("Items, Popular, Version = %d, %d, %q; want 3, 4, v1", m.Items(), m.Popular(), m.Version())
	}
}

func TestBuildRejects(t *testing.T) {
	tests := []struct {
		name  string
		lists []model.Neighbors
		pop   []model.PopularItem
		want  string
	}{
		{"list twice", []model.Neighbors{nbs("a", nb("b", 1)), nbs("a")}, nil, "two neighbour lists"},
		{"itself", []model.Neighbors{nbs("a", nb("a", 1))}, nil, "itself"},
		{"NaN", []model.Neighbors{nbs("a", nb("b", .5)), nbs("b", nb("a", .5), nb("c", math.NaN()))}, nil,
			`item "b": neighbour "c" has similarity NaN, outside [0, 1.000000001]`},
		{"+Inf", []model.Neighbors{nbs("a", nb("b", math.Inf(1)))}, nil, `item "a": neighbour "b" has similarity +Inf`},
		{"-Inf", []model.Neighbors{nbs("a", nb("b", math.Inf(-1)))}, nil, `item "a": neighbour "b" has similarity -Inf`},
		{"negative", []model.Neighbors{nbs("a", nb("b", -0.1))}, nil, `item "a": neighbour "b" has similarity -0.1`},
		{"above 1", []model.Neighbors{nbs("a", nb("b", 1.0000001))}, nil, `item "a": neighbour "b" has similarity 1.0000001`},
		{"huge", []model.Neighbors{nbs("a", nb("b", 9223372036854776000))}, nil, `neighbour "b" has similarity 9.223372036854776e+18`},
		{"popular twice", nil, []model.PopularItem{{Item: "a", Users: 2}, {Item: "a", Users: 1}}, "listed twice"},
	}
	for _, tc := range tests {
		if _, err := Build(tc.lists, tc.pop, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	// Rounding just above 1, exactly 1, 0 and -0 are cosines.
	for _, sim := range []float64{1 + 1e-10, 1, 0, math.Copysign(0, -1), MaxSimilarity} {
		m, err := Build([]model.Neighbors{nbs("a", nb("b", sim))}, nil, "")
		if err != nil {
			t.Errorf("similarity %v: %v", sim, err)
			continue
		}
		if got, _ := m.Similar("a", 1); got[0].Score != sim {
			t.Errorf("similarity %v stored as %v", sim, got[0].Score)
		}
	}
}

// TestBuildWithBound: a measure's bound replaces the cosine's, an
// unbounded one (+Inf) still refuses what no measure gives, and
// ScoreBound gives each measure's bound with the rounding slack.
func TestBuildWithBound(t *testing.T) {
	lists := func(sim float64) []model.Neighbors { return []model.Neighbors{nbs("a", nb("b", sim), nb("c", 1))} }
	for _, tc := range []struct {
		bound float64
		sim   float64
		want  string // "" when accepted
	}{
		{math.Inf(1), 37, ""},
		{math.Inf(1), math.MaxFloat64, ""},
		{math.Inf(1), 0, ""},
		{math.Inf(1), math.Inf(1), `similarity +Inf, outside [0, +Inf)`},
		{math.Inf(1), math.NaN(), `similarity NaN, outside [0, +Inf)`},
		{math.Inf(1), -1, `similarity -1, outside [0, +Inf)`},
		{5, 5, ""},
		{5, 5.001, `similarity 5.001, outside [0, 5]`},
		{MaxSimilarity, 2, `similarity 2, outside [0, 1.000000001]`},
	} {
		m, err := BuildWithBound(lists(tc.sim), nil, "", tc.bound)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("bound %v, similarity %v: %v", tc.bound, tc.sim, err)
		case tc.want == "":
			if got, _ := m.Similar("a", 2); got[0] != (Scored{"b", tc.sim}) && got[1] != (Scored{"b", tc.sim}) {
				t.Errorf("bound %v: similarity %v stored as %v", tc.bound, tc.sim, got)
			}
		case err == nil || !strings.Contains(err.Error(), tc.want):
			t.Errorf("bound %v, similarity %v: error %v, want %q", tc.bound, tc.sim, err, tc.want)
		}
	}
	cos := model.DefaultSimilarity()
	asym := cos
	asym.Alpha = 0.3
	for _, tc := range []struct {
		measure model.Similarity
		want    float64
	}{
		{cos, 1 + 1e-9},
		{model.Similarity{Measure: model.Jaccard, Alpha: 0.5}, 1 + 1e-9},
		{model.Similarity{Measure: model.Cooccurrence, Alpha: 0.5}, math.Inf(1)},
		{asym, math.Inf(1)},
	} {
		if got := ScoreBound(tc.measure); got != tc.want {
			t.Errorf("ScoreBound(%+v) = %v, want %v", tc.measure, got, tc.want)
		}
	}
}

// TestRecommendMatchesReference compares Recommend with a direct map-and-sort
// implementation on random models and profiles.
func TestRecommendMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 200 {
		nItems := 2 + r.IntN(40)
		name := func(i int) string { return fmt.Sprintf("i%02d", i) }
		var lists []model.Neighbors
		for i := range nItems {
			l := model.Neighbors{Item: name(i)}
			for _, j := range r.Perm(nItems)[:r.IntN(nItems)] {
				if j != i {
					// Coarse scores make ties common.
					l.Neighbors = append(l.Neighbors, model.Neighbor{Item: name(j), Score: float64(1+r.IntN(8)) / 8})
				}
			}
			lists = append(lists, l)
		}
		m, err := Build(lists, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		var items []string
		var weights []float64
		for range 1 + r.IntN(6) {
			items = append(items, name(r.IntN(nItems+3))) // some unknown
			weights = append(weights, float64(1+r.IntN(4))/2)
		}
		o := Options{N: 1 + r.IntN(12), Neighbors: r.IntN(4), IncludeSeen: r.IntN(2) == 0, Normalize: r.IntN(2) == 0}
		got := m.Recommend(items, weights, o)
		want := reference(lists, items, weights, o)
		if len(want) == 0 {
			if !got.Fallback || len(got.Items) != 0 {
				t.Fatalf("trial %d: got %v, want an empty fallback (no popular items)", trial, got)
			}
			continue
		}
		if !reflect.DeepEqual(got.Items, want) || got.Fallback {
			t.Fatalf("trial %d (%v %v %+v):\n got %v\nwant %v", trial, items, weights, o, got.Items, want)
		}
	}
}

func reference(lists []model.Neighbors, items []string, weights []float64, o Options) []Scored {
	byItem := map[string][]model.Neighbor{}
	for _, l := range lists {
		byItem[l.Item] = bestNeighbors(l.Neighbors, o.Neighbors)
	}
	seen := map[string]bool{}
	score, norm := map[string]float64{}, map[string]float64{}
	for k, it := range items {
		seen[it] = true
		for _, n := range byItem[it] {
			score[n.Item] += weights[k] * n.Score
			norm[n.Item] += n.Score
		}
	}
	var out []Scored
	for it, sc := range score {
		if seen[it] && !o.IncludeSeen {
			continue
		}
		if o.Normalize {
			sc /= norm[it]
		}
		out = append(out, Scored{it, sc})
	}
	slices.SortFunc(out, func(a, b Scored) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Item, b.Item)
	})
	return out[:min(len(out), o.N)]
}

// bestNeighbors is a list's k best neighbours (all when k is 0), score
// descending, ties by item ascending, sorted here on a copy.
func bestNeighbors(ns []model.Neighbor, k int) []model.Neighbor {
	ns = slices.Clone(ns)
	slices.SortFunc(ns, func(a, b model.Neighbor) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Item, b.Item)
	})
	if k > 0 && len(ns) > k {
		ns = ns[:k]
	}
	return ns
}

func TestProfile(t *testing.T) {
	events := []Event{
		{Item: "b", Action: "purchased"}, {Item: "a", Action: "browsed"}, {Item: "a", Action: "basket"},
		{Item: "b", Action: "purchased"}, {Item: "c", Weight: 1.5},
	}
	tests := []struct {
		agg     string
		clip    float64
		events  []Event
		items   []string
		weights []float64
		err     string
	}{
		{"sum", -1, events, []string{"a", "b", "c"}, []float64{2.5, 6, 1.5}, ""}, // b: 12 clipped to 6
		{"sum", 0, events, []string{"a", "b", "c"}, []float64{2.5, 12, 1.5}, ""},
		{"max", -1, events, []string{"a", "b", "c"}, []float64{2, 6, 1.5}, ""},
		{"sum", -1, []Event{{Item: "a", Action: "viewed"}}, nil, nil, `unknown action "viewed"`},
		{"sum", -1, []Event{{Item: "a", Weight: -1}}, nil, nil, "must be in [0, 2^53)"},
	}
	for _, tc := range tests {
		p, err := NewProfiler("browsed:0.5,basket:2,purchased:6", tc.agg, tc.clip)
		if err != nil {
			t.Fatal(err)
		}
		items, weights, err := p.Profile(tc.events)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc.events, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(items, tc.items) || !reflect.DeepEqual(weights, tc.weights) {
			t.Errorf("%s clip %v: got %v %v %v, want %v %v", tc.agg, tc.clip, items, weights, err, tc.items, tc.weights)
		}
	}
	if _, err := NewProfiler("browsed:x", "sum", -1); err == nil {
		t.Error("NewProfiler accepted bad weights")
	}
	if _, err := NewProfiler("browsed:1", "avg", -1); err == nil {
		t.Error("NewProfiler accepted --aggregate=avg")
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sims := write("s.jsonl", `{"item":"242","neighbors":[{"item":"286","score":0.39},{"item":"7","score":0.5}]}`+"\n\n"+
		`{"item":"286","neighbors":[{"item":"242","score":0.39}]}`+"\n")
	pop := write("p.json", `{"items":[{"item":"9","users":40},{"item":"242","users":7}]}`+"\n")
	m, err := LoadFiles(sims, pop, "t")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := m.Similar("242", 10)
	if want := []Scored{{"7", .5}, {"286", .39}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Similar(242) = %v, want %v", got, want)
	}
	if res := m.Recommend([]string{"7"}, []float64{1}, Options{N: 5}); !reflect.DeepEqual(res.Items, []Scored{{"9", 40}, {"242", 7}}) {
		t.Errorf("fallback = %v", res.Items)
	}

	tests := []struct{ name, sims, pop, want string }{
		{"bad line", write("bad.jsonl", "{\"item\":\"a\",\"neighbors\":[]}\n{oops\n"), "", "line 2"},
		{"no item", write("noitem.jsonl", `{"neighbors":[]}`+"\n"), "", "line 1: no item"},
		{"bad popular", sims, write("bad.json", `{"items":[{"item":"a","count":1}]}`), "unknown field"},
		{"missing", filepath.Join(dir, "none.jsonl"), "", "no such file"},
	}
	for _, tc := range tests {
		if _, err := LoadFiles(tc.sims, tc.pop, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// ml100kModel is where the ML-100k model is read from: $ML100K_MODEL, else
// the path the README's pipeline command writes.
func ml100kModel() (sims, popular string) {
	if p := os.Getenv("ML100K_MODEL"); p != "" {
		return p, strings.TrimSuffix(p, ".jsonl") + "-popular.json"
	}
	return "/tmp/ml100k.jsonl", "/tmp/ml100k-popular.json"
}

// ml100k loads the ML-100k model or skips, saying how to build it.
func ml100k(b *testing.B) *Model {
	sims, pop := ml100kModel()
	if _, err := os.Stat(sims); err != nil {
		b.Skipf("no ML-100k model at %s (%v); build it from /work/main with: go run ./pipelines/similarity --input=../shared/datasets/ml-100k/u.data --format=tsv --header=false --user_field=0 --item_field=1 --score_field=2 --output=%s --popular_output=%s", sims, err, sims, pop)
	}
	m, err := LoadFiles(sims, pop, "ml100k")
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkRecommend measures scoring alone on the ML-100k model.
func BenchmarkRecommend(b *testing.B) {
	m := ml100k(b)
	for _, size := range []int{1, 10} {
		b.Run(fmt.Sprintf("items=%d", size), func(b *testing.B) {
			items := make([]string, size)
			weights := make([]float64, size)
			for k := range items {
				items[k], weights[k] = m.items[(k*37)%len(m.items)], 1+float64(k%5)
			}
			b.ReportAllocs()
			for b.Loop() {
				m.Recommend(items, weights, Options{N: 10})
			}
		})
	}
}

// TestAppendRecommendationsMatchesProfile: AppendRecommendations gives
// exactly what Profile followed by Recommend gives, on random models and
// events with repeated items, unknown items, zero and tiny weights, under
// sum and max, with and without clipping and a cap on items.
func TestAppendRecommendationsMatchesProfile(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	name := func(i int) string { return fmt.Sprintf("i%02d", i) }
	actions := []string{"browsed", "basket", "purchased"}
	for trial := range 500 {
		nItems := 2 + r.IntN(30)
		var lists []model.Neighbors
		for i := range nItems {
			l := model.Neighbors{Item: name(i)}
			for _, j := range r.Perm(nItems)[:r.IntN(nItems)] {
				if j != i {
					l.Neighbors = append(l.Neighbors, model.Neighbor{Item: name(j), Score: r.Float64()})
				}
			}
			lists = append(lists, l)
		}
		var pop []model.PopularItem
		for _, i := range r.Perm(nItems)[:r.IntN(min(4, nItems))] {
			pop = append(pop, model.PopularItem{Item: name(i), Users: int64(1 + r.IntN(50))})
		}
		m, err := Build(lists, pop, "")
		if err != nil {
			t.Fatal(err)
		}
		agg := []string{"sum", "max"}[r.IntN(2)]
		clip := []float64{-1, 0, 1.25}[r.IntN(3)]
		p, err := NewProfiler("browsed:0.5,basket:2,purchased:6", agg, clip)
		if err != nil {
			t.Fatal(err)
		}
		if r.IntN(5) == 0 {
			p.Scoring.MaxItemsPerUser = 1 + r.IntN(3)
		}
		var events []Event
		for range r.IntN(12) {
			e := Event{Item: name(r.IntN(nItems + 3))} // some unknown
			switch r.IntN(4) {
			case 0:
				e.Weight = []float64{0, 1e-30, 0.1, 3.7, 1 << 40}[r.IntN(5)]
			default:
				e.Action = actions[r.IntN(len(actions))]
			}
			events = append(events, e)
		}
		o := Options{N: r.IntN(8), Neighbors: r.IntN(4), IncludeSeen: r.IntN(2) == 0, Normalize: r.IntN(2) == 0, TopUp: r.IntN(2) == 0}
		items, weights, err := p.Profile(slices.Clone(events))
		if err != nil {
			t.Fatal(err)
		}
		want := m.Recommend(items, weights, o)
		dst := make([]Scored, r.IntN(3), 4) // recycled garbage is overwritten
		got, err := m.AppendRecommendations(dst, p, events, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Items) != len(want.Items) || got.Fallback != want.Fallback || got.Popular != want.Popular ||
			(len(want.Items) > 0 && !reflect.DeepEqual(got.Items, want.Items)) {
			t.Fatalf("trial %d (%s clip %v cap %d, %+v, %+v):\n got %v\nwant %v", trial, agg, clip, p.Scoring.MaxItemsPerUser, events, o, got, want)
		}
	}
}

func TestAppendRecommendationsErrors(t *testing.T) {
	m := fixture(t)
	p, err := NewProfiler("browsed:0.5,basket:2,purchased:6", "sum", -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		events []Event
		want   string
	}{
		{[]Event{{Item: "unknown-item", Action: "viewed"}}, `unknown action "viewed"`},
		{[]Event{{Item: "a", Action: "browsed"}, {Item: "zz", Weight: math.Inf(1)}}, "must be in [0, 2^53)"},
		{[]Event{{Item: "a", Weight: math.NaN()}}, "must be in [0, 2^53)"},
	} {
		if _, err := m.AppendRecommendations(nil, p, tc.events, Options{N: 3}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.events, err, tc.want)
		}
	}
	// A failed request leaves no state behind.
	got, err := m.AppendRecommendations(nil, p, []Event{{Item: "a", Action: "browsed"}}, Options{N: 3})
	want := m.Recommend([]string{"a"}, []float64{0.5}, Options{N: 3})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("after errors: %v %v, want %v", got, err, want)
	}
}

// TestAppendRecommendationsAllocs: with a recycled dst the hot path
// allocates nothing.
func TestAppendRecommendationsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	m := fixture(t)
	p, err := NewProfiler("browsed:0.5,basket:2,purchased:6", "sum", -1)
	if err != nil {
		t.Fatal(err)
	}
	events := []Event{{Item: "a", Action: "browsed"}, {Item: "b", Action: "purchased"}, {Item: "a", Action: "basket"}, {Item: "zz", Action: "basket"}}
	dst := make([]Scored, 0, 16)
	if n := testing.AllocsPerRun(200, func() {
		res, err := m.AppendRecommendations(dst, p, events, Options{N: 10})
		if err != nil || len(res.Items) == 0 {
			t.Fatal(res, err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}

// BenchmarkAppendRecommendations measures profiling and scoring together,
// as the server does, on the ML-100k model.
func BenchmarkAppendRecommendations(b *testing.B) {
	m := ml100k(b)
	p, err := NewProfiler("browsed:0.5,basket:2,purchased:6", "sum", -1)
	if err != nil {
		b.Fatal(err)
	}
	actions := []string{"browsed", "basket", "purchased"}
	for _, size := range []int{1, 10} {
		events := make([]Event, size)
		for k := range events {
			events[k] = Event{Item: m.items[(k*37)%len(m.items)], Action: actions[k%3]}
		}
		b.Run(fmt.Sprintf("items=%d/profile+recommend", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				items, weights, _ := p.Profile(slices.Clone(events))
				m.Recommend(items, weights, Options{N: 10})
			}
		})
		b.Run(fmt.Sprintf("items=%d/append", size), func(b *testing.B) {
			dst := make([]Scored, 0, 10)
			b.ReportAllocs()
			for b.Loop() {
				m.AppendRecommendations(dst, p, events, Options{N: 10})
			}
		})
	}
}
