package datastoreio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/incremental"
)

// liveUpdate is item k's list at end: empty for every fifth item at end
// 30 (it left the window), else two neighbours scored by end.
func liveUpdate(k int, end int64) incremental.Update {
	u := incremental.Update{End: end, Item: fmt.Sprintf("item-%03d", k)}
	if k%5 != 0 || end != 30 {
		u.Neighbors = []model.Neighbor{{Item: "a", Score: float64(end) / 100}, {Item: "b", Score: float64(end) / 200}}
	}
	return u
}

// recentAt is user k's recent items at end: "a" at end−1, then "b" at
// end−5 (none for every fourth user at 30: it left the window).
func recentAt(k int, end int64) incremental.Recent {
	r := incremental.Recent{End: end, User: fmt.Sprintf("user-%03d", k)}
	if k%4 != 0 || end != 30 {
		r.Items = []incremental.RecentItem{{Item: "a", Time: 1_700_000_000 + end - 1}, {Item: "b", Time: 1_700_000_000 + end - 5}}
	}
	return r
}

func runWriteLive(cfg Config, updates []incremental.Update, hot []incremental.HotList, recent []incremental.Recent) error {
	p, s := beam.NewPipelineWithRoot()
	WriteLive(s, cfg, beam.CreateList(s, updates), beam.CreateList(s, hot), beam.CreateList(s, recent))
	return ptest.Run(p)
}

// hotAt is the hot list at end: end/10 users on "a".
func hotAt(end int64) incremental.HotList {
	return incremental.HotList{End: end, Items: []model.PopularItem{{Item: "a", Users: end / 10}}}
}

// testWriteLive writes every item's updates at ends 10, 20 and 30,
// shuffled, then the older ones again: the store holds each item's list
// at 30 (a tombstone where it is empty), whatever the order of writing,
// the hot list of 30, and each user's recent items of 30, times exact.
func testWriteLive(t *testing.T, b backend) {
	cfg := testConfig(b, "")
	cfg.Kind = "Live"
	const items = 120
	const users = 40
	var all, older []incremental.Update
	var recents, olderRecents []incremental.Recent
	for k := range users {
		for _, end := range []int64{30, 10, 20} {
			recents = append(recents, recentAt(k, end))
			if end < 30 {
				olderRecents = append(olderRecents, recentAt(k, end))
			}
		}
	}
	for k := range items {
		for _, end := range []int64{10, 20, 30} {
			all = append(all, liveUpdate(k, end))
			if end < 30 {
				older = append(older, liveUpdate(k, end))
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for k, run := range [][]incremental.Update{all, older} {
		hot := []incremental.HotList{hotAt(20), hotAt(30), hotAt(10)}
		recent := recents
		if k == 1 {
			hot, recent = hot[:1], olderRecents
		}
		if err := runWriteLive(cfg, run, hot, recent); err != nil {
			t.Fatal(err)
		}
		store, err := simstore.New(datastoretest.Client(t, testProject, b.addr), simstore.Options{Kind: "Live", Layout: simstore.LayoutLive})
		if err != nil {
			t.Fatal(err)
		}
		lists, err := store.Changes(context.Background(), simstore.LiveList{}.UpdatedAt)
		if err != nil {
			t.Fatal(err)
		}
		if len(lists) != items {
			t.Fatalf("%d live lists stored, want %d", len(lists), items)
		}
		if items, end, found, err := store.LiveHot(context.Background()); err != nil || end != 30 || fmt.Sprint(items) != fmt.Sprint(hotAt(30).Items) {
			t.Fatalf("hot list %v at %d (found %v, %v), want %v at 30", items, end, found, err, hotAt(30).Items)
		}
		stored, err := store.RecentChanges(context.Background(), time.Time{})
		if err != nil || len(stored) != users {
			t.Fatalf("%d users' recent items stored (%v), want %d", len(stored), err, users)
		}
		for _, l := range stored {
			var k int
			fmt.Sscanf(l.Item, "user-%d", &k)
			want := recentAt(k, 30)
			got := make([]incremental.RecentItem, len(l.Neighbors))
			for j, n := range l.Neighbors {
				got[j] = incremental.RecentItem{Item: n.Item, Time: int64(n.Score)}
			}
			if l.End != 30 || !slices.Equal(got, want.Items) && len(want.Items) > 0 || len(got) != len(want.Items) {
				t.Fatalf("user %s: stored %v at %d, want %v at 30", l.Item, got, l.End, want.Items)
			}
		}
		for _, l := range lists {
			var k int
			fmt.Sscanf(l.Item, "item-%d", &k)
			want := liveUpdate(k, 30)
			if l.End != 30 || fmt.Sprint(l.Neighbors) != fmt.Sprint(want.Neighbors) && len(want.Neighbors) > 0 || len(l.Neighbors) != len(want.Neighbors) {
				t.Fatalf("item %s: stored %v at %d, want %v at 30", l.Item, l.Neighbors, l.End, want.Neighbors)
			}
		}
	}
}

// TestCheckRecentN: the users' recent items are bounded as lists are (about
// 680 of the longest ids), and 0 or fewer is refused.
func TestCheckRecentN(t *testing.T) {
	if err := CheckRecentN(100); err != nil {
		t.Errorf("CheckRecentN(100): %v", err)
	}
	if err := CheckRecentN(800); err == nil || !strings.Contains(err.Error(), "recent_n 800 gives users' recent items of up to") {
		t.Errorf("CheckRecentN(800): %v", err)
	}
	if err := CheckRecentN(0); err == nil {
		t.Error("CheckRecentN(0) succeeded")
	}
}
