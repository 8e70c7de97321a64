package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
)

// TestLiveFollower follows the live layout on the real Datastore
// emulator: the first check serves every list; a later check serves the
// lists written since (a newer list, a tombstone, a new item; a write
// older than the stored list never lands); a check that reads again, in
// the overlap, lists it holds keeps the model served and fetches none of
// them, only a write that committed late; the job's hot list
// answers a customer nothing scores for; a user's recent items answer
// GET /v1/users/{user}/recommendations (the latest item's neighbours
// first), a user who left the window or never came gets the hot list.
func TestLiveFollower(t *testing.T) {
	ctx := context.Background()
	client := datastoretest.Client(t, testProject, datastoretest.StartEmulator(t).Host)
	keys := simstore.Keys{Namespace: testNamespace, Kind: "Live"}
	put := func(at time.Time, lists ...simstore.LiveList) {
		t.Helper()
		if _, err := simstore.PutLive(ctx, client, keys, lists, at, 0); err != nil {
			t.Fatal(err)
		}
	}
	live := func(item string, end int64, ns ...model.Neighbor) simstore.LiveList {
		return simstore.LiveList{Item: item, End: end, Neighbors: ns}
	}
	t0 := time.Now()
	put(t0, live("a", 10, nb("b", .5), nb("c", .25)), live("b", 10, nb("a", .5)), live("c", 10, nb("a", .25)))

	f, err := newLiveFollower(client, testNamespace, "Live", "")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, nil)
	f.srv = s
	similar := func(item string) (int, string) {
		w := do(s, "GET", "/v1/similar/"+item+"?n=5", "")
		return w.Code, w.Body.String()
	}
	if err := f.check(ctx); err != nil {
		t.Fatal(err)
	}
	if code, body := similar("a"); code != 200 || !strings.Contains(body, `"b"`) || s.model.Load().Version() != "live@10" {
		t.Fatalf("after the first check: a's neighbours %d %s, version %s", code, body, s.model.Load().Version())
	}
	user := func(u string) string {
		return strings.TrimSpace(do(s, "GET", "/v1/users/"+u+"/recommendations?n=3", "").Body.String())
	}
	if got, want := user("u"), `{"result":[],"fallback":true,"version":"live@10"}`; got != want {
		t.Errorf("before any recent items: %s, want %s (no popular list yet)", got, want)
	}

	put(t0.Add(time.Second), live("a", 12, nb("d", .75)), live("c", 12), live("d", 12, nb("a", .75)))
	if _, err := simstore.PutLiveHot(ctx, client, keys, []model.PopularItem{{Item: "d", Users: 4}, {Item: "a", Users: 2}}, 12, t0); err != nil {
		t.Fatal(err)
	}
	put(t0.Add(2*time.Second), live("b", 8, nb("c", .1))) // older than b's list: refused by PutLive
	// u's recent items: a (latest), then b; v has left the window.
	if _, err := simstore.PutLive(ctx, client, keys.Recents(), []simstore.LiveList{
		live("u", 12, nb("a", 1_700_000_011), nb("b", 1_700_000_003)), live("v", 12)}, t0, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.check(ctx); err != nil {
		t.Fatal(err)
	}
	m := s.model.Load()
	if got, _ := m.Similar("a", 5); len(got) != 1 || got[0].Item != "d" || m.Version() != "live@12" {
		t.Errorf("after the second write: a's neighbours %v, version %s; want d alone at live@12", got, m.Version())
	}
	if code, _ := similar("c"); code != 404 {
		t.Errorf("c left the window: /v1/similar/c answered %d, want 404", code)
	}
	if got, _ := m.Similar("b", 5); len(got) != 1 || got[0].Item != "a" {
		t.Errorf("b's neighbours %v, want a (the older write was not applied)", got)
	}
	if w := do(s, "GET", "/make_recommendation?browsed=unknown&n=2", ""); !strings.Contains(w.Body.String(), `"fallback":true`) ||
		!strings.Contains(w.Body.String(), `{"item":"d","score":4}`) {
		t.Errorf("a customer nothing scores for: %s, want the hot list's d first", w.Body.String())
	}
	// u: a's neighbours first (d), nothing else scores and the hot list's
	// items are d and u's own a.
	if got, want := user("u"), `{"result":[{"item":"d","score":0.75}],"version":"live@12"}`; got != want {
		t.Errorf("u from recent items: %s, want %s", got, want)
	}
	for _, u := range []string{"v", "nobody"} {
		if got, want := user(u), `{"result":[{"item":"d","score":4},{"item":"a","score":2}],"fallback":true,"popular":2,"version":"live@12"}`; got != want {
			t.Errorf("%s: %s, want the hot list %s", u, got, want)
		}
	}
	if err := f.check(ctx); err != nil {
		t.Fatal(err)
	}
	if s.model.Load() != m {
		t.Error("a check that found nothing new replaced the model")
	}
	// The overlap is read as stamps: nothing held is fetched again, and a
	// write that committed late (stamped before the latest seen) is.
	seen := f.seen
	if again, err := changed(ctx, f.store.ListFeed(), f.lists, &seen); err != nil || len(again) != 0 {
		t.Errorf("the overlap read again fetched %v (%v), want nothing", again, err)
	}
	put(t0.Add(time.Second/2), live("e", 13, nb("a", .5)))
	if late, err := changed(ctx, f.store.ListFeed(), f.lists, &seen); err != nil || len(late) != 1 || late[0].Item != "e" {
		t.Errorf("after a late write: fetched %v (%v), want e's list alone", late, err)
	}
	if !seen.Equal(f.seen) {
		t.Errorf("the latest stamp seen moved from %v to %v on an older write", f.seen, seen)
	}
}
