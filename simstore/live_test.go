package simstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
)

// TestLive writes the live layout through PutLive to the real Datastore
// emulator and follows it with Changes: a list replaces a stored one only
// when its end is later, a tombstone keeps its end, more lists than a
// batch holds are written in several, and Changes returns exactly
// the writes after a time, oldest first; the hot list is kept at its
// latest end alike.
func TestLive(t *testing.T) {
	ctx := context.Background()
	client := datastoretest.Client(t, "p", datastoretest.StartEmulator(t).Host)
	keys := Keys{Namespace: "ns", Kind: "Live"}
	store, err := New(client, Options{Namespace: "ns", Kind: "Live", Layout: LayoutLive})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	list := func(item string, end int64, neighbors ...string) LiveList {
		l := LiveList{Item: item, End: end}
		for k, n := range neighbors {
			l.Neighbors = append(l.Neighbors, model.Neighbor{Item: n, Score: 1 / float64(k+2)})
		}
		return l
	}
	put := func(at time.Time, wantStale int, lists ...LiveList) {
		t.Helper()
		skips, err := PutLive(ctx, client, keys, lists, at, 0)
		if err != nil {
			t.Fatal(err)
		}
		if skips.Stale != wantStale || skips.Near != 0 {
			t.Fatalf("%+v skipped, want %d stale", skips, wantStale)
		}
	}
	var many []LiveList
	for k := range MaxLiveBatch + 200 {
		many = append(many, list(fmt.Sprintf("m%04d", k), 5, "a"))
	}
	put(t0, 0, many...)
	put(t0.Add(time.Second), 0, list("a", 10, "b", "c"), list("b", 10))
	put(t0.Add(2*time.Second), 2, list("a", 8, "c"), list("b", 10, "a"))
	put(t0.Add(3*time.Second), 0, list("a", 12, "c"))

	// With a tolerance of 1%: a's list with its score 0.5% up is near the
	// stored one (not written: the store keeps end 12), 5% up is not.
	near := list("a", 13, "c")
	near.Neighbors[0].Score *= 1.005
	if skips, err := PutLive(ctx, client, keys, []LiveList{near}, t0.Add(4*time.Second), 0.01); err != nil || skips != (LiveSkips{Near: 1}) {
		t.Fatalf("a near its stored list: %+v, %v; want 1 near", skips, err)
	}
	far := list("a", 14, "c")
	far.Neighbors[0].Score *= 1.05
	if skips, err := PutLive(ctx, client, keys, []LiveList{far}, t0.Add(5*time.Second), 0.01); err != nil || skips != (LiveSkips{}) {
		t.Fatalf("a 5%% from its stored list: %+v, %v; want written", skips, err)
	}
	put(t0.Add(6*time.Second), 0, list("a", 15, "c")) // back to the list below, for the feed's check

	all, err := store.Changes(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(many)+2 {
		t.Fatalf("%d lists in the feed, want %d", len(all), len(many)+2)
	}
	got := all[len(all)-2:]
	want := []LiveList{{Item: "b", Neighbors: []model.Neighbor{}, End: 10, UpdatedAt: t0.Add(time.Second)}, list("a", 12, "c")}
	want[1].End, want[1].UpdatedAt = 15, t0.Add(6*time.Second)
	for k := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(want[k]) || !got[k].UpdatedAt.Equal(want[k].UpdatedAt) {
			t.Errorf("feed[%d] = %+v, want %+v", k, got[k], want[k])
		}
	}
	// The feed's stamps are the changes' names and stamps, in order; Get
	// reads the lists of the names that exist.
	stamps, err := store.ListFeed().Stamps(ctx, time.Time{})
	if err != nil || len(stamps) != len(all) {
		t.Fatalf("%d stamps (%v), want %d", len(stamps), err, len(all))
	}
	for k, st := range stamps {
		if st.Name != all[k].Item || !st.UpdatedAt.Equal(all[k].UpdatedAt) {
			t.Fatalf("stamp %d = %+v, change %s at %v", k, st, all[k].Item, all[k].UpdatedAt)
		}
	}
	if got, err := store.ListFeed().Get(ctx, []string{"nope", "a"}); err != nil || len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want[1]) {
		t.Errorf("Get(nope, a) = %+v (%v), want a's list alone", got, err)
	}
	later, err := store.Changes(ctx, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(later) != 1 || later[0].Item != "a" || later[0].End != 15 {
		t.Errorf("changes after the second write: %+v, want a's list at 15 alone", later)
	}

	// The hot list: none, then written, then an older one refused.
	if _, _, found, err := store.LiveHot(ctx); err != nil || found {
		t.Fatalf("hot list before any: found %v, %v", found, err)
	}
	hot := []model.PopularItem{{Item: "a", Users: 3}, {Item: "b", Users: 1}}
	for _, w := range []struct {
		items     []model.PopularItem
		end       int64
		wantStale bool
	}{{hot, 12, false}, {hot[:1], 11, true}, {hot[:1], 12, true}} {
		stale, err := PutLiveHot(ctx, client, keys, w.items, w.end, t0)
		if err != nil || stale != w.wantStale {
			t.Fatalf("hot list at %d: stale %v, %v; want stale %v", w.end, stale, err, w.wantStale)
		}
	}
	if items, end, found, err := store.LiveHot(ctx); err != nil || !found || end != 12 || fmt.Sprint(items) != fmt.Sprint(hot) {
		t.Errorf("hot list: %v at %d (found %v, %v), want %v at 12", items, end, found, err, hot)
	}
}

// TestNear: a list is near a stored one only with a tolerance, the same
// items in the same order and every score within it, relative.
func TestNear(t *testing.T) {
	stored := LiveEntity{Items: []string{"a", "b"}, Scores: []float64{0.5, 0.25}}
	nb := func(sa float64, b string, sb float64) []model.Neighbor {
		return []model.Neighbor{{Item: "a", Score: sa}, {Item: b, Score: sb}}
	}
	for _, tc := range []struct {
		name      string
		list      []model.Neighbor
		tolerance float64
		want      bool
	}{
		{"equal, no tolerance", nb(0.5, "b", 0.25), 0, false},
		{"equal", nb(0.5, "b", 0.25), 0.01, true},
		{"both within 1%", nb(0.504, "b", 0.2476), 0.01, true},
		{"one 2% off", nb(0.5, "b", 0.255), 0.01, false},
		{"another item", nb(0.5, "c", 0.25), 0.5, false},
		{"shorter", []model.Neighbor{{Item: "a", Score: 0.5}}, 0.5, false},
	} {
		if got := Near(stored, tc.list, tc.tolerance); got != tc.want {
			t.Errorf("%s: Near = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !Near(LiveEntity{}, nil, 0.01) || Near(LiveEntity{}, nb(1, "b", 1), 0.01) {
		t.Error("a tombstone is near a tombstone only")
	}
}
