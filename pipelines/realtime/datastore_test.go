package main

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/internal/jobtest"
	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/incremental"
)

// TestDatastoreLive replays the fixture into the live layout of the real
// Datastore emulator beside the JSONL parts: every item's stored entity
// is its latest update (its list and End), the lists written while the
// job ran included, whatever the order the bundles were written in; and
// every user's stored recent items are their latest in the parts.
func TestDatastoreLive(t *testing.T) {
	emu := datastoretest.StartEmulator(t)
	res, out, latest, store, stored := runLive(t, emu)
	if len(stored) != len(latest) {
		t.Fatalf("%d items stored, %d updated", len(stored), len(latest))
	}
	for _, l := range stored {
		u := latest[l.Item]
		if l.End != u.End || !slices.Equal(l.Neighbors, u.Neighbors) && len(u.Neighbors)+len(l.Neighbors) > 0 {
			t.Fatalf("item %s: stored %v at %d, latest update %v at %d", l.Item, l.Neighbors, l.End, u.Neighbors, u.End)
		}
	}
	recent := map[string]incremental.Recent{}
	for _, r := range jobtest.ReadJSONLParts[incremental.Recent](t, out+".recent") {
		if r.End > recent[r.User].End {
			recent[r.User] = r
		}
	}
	users, err := store.RecentChanges(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != len(recent) || len(users) == 0 {
		t.Fatalf("%d users' recent items stored, %d written to the parts", len(users), len(recent))
	}
	for _, l := range users {
		r := recent[l.Item]
		got := make([]incremental.RecentItem, len(l.Neighbors))
		for k, n := range l.Neighbors {
			got[k] = incremental.RecentItem{Item: n.Item, Time: int64(n.Score)}
		}
		if l.End != r.End || !slices.Equal(got, r.Items) && len(got)+len(r.Items) > 0 {
			t.Fatalf("user %s: stored %v at %d, latest %v at %d", l.Item, got, l.End, r.Items, r.End)
		}
	}
	written, stale := jobtest.Counter(res, "datastoreio/live_written"), jobtest.Counter(res, "datastoreio/live_stale")
	if written < int64(len(latest)+len(recent)) {
		t.Errorf("live_written = %d (stale %d), want at least one per item and user (%d)", written, stale, len(latest)+len(recent))
	}
	t.Logf("%d items, %d users, %d lists written, %d stale", len(latest), len(recent), written, stale)
}

// TestDatastoreLiveTolerance: the replay of TestDatastoreLive with
// --datastore_live_tolerance=0.05: lists are skipped as near the stored
// ones, and every item's stored list has its latest update's items in
// their order, each score within 5% of it.
func TestDatastoreLiveTolerance(t *testing.T) {
	const tolerance = 0.05
	res, _, latest, _, stored := runLive(t, datastoretest.StartEmulator(t), "--datastore_live_tolerance=0.05")
	if len(stored) != len(latest) {
		t.Fatalf("%d items stored, %d updated", len(stored), len(latest))
	}
	for _, l := range stored {
		u := latest[l.Item]
		e := simstore.LiveEntity{}
		for _, n := range l.Neighbors {
			e.Items, e.Scores = append(e.Items, n.Item), append(e.Scores, n.Score)
		}
		if l.End > u.End || !simstore.Near(e, u.Neighbors, tolerance) && !(len(l.Neighbors) == 0 && len(u.Neighbors) == 0) {
			t.Fatalf("item %s: stored %v at %d, latest update %v at %d", l.Item, l.Neighbors, l.End, u.Neighbors, u.End)
		}
	}
	written, near := jobtest.Counter(res, "datastoreio/live_written"), jobtest.Counter(res, "datastoreio/live_near")
	if near == 0 {
		t.Errorf("live_near = 0 (written %d): no list was skipped", written)
	}
	t.Logf("%d items, %d lists written, %d near the stored ones", len(latest), written, near)
}

// runLive replays the fixture into the live layout of emu (namespace rt)
// with the job's flags and extra, and returns the job's result, its
// output prefix, each item's latest update in the parts, the store and
// every list stored.
func runLive(t *testing.T, emu *datastoretest.Emulator, extra ...string) (beam.PipelineResult, string, map[string]incremental.Update, *simstore.Store, []simstore.LiveList) {
	t.Setenv("DATASTORE_EMULATOR_HOST", emu.Host)
	out := filepath.Join(t.TempDir(), "updates")
	res, err := jobtest.RunJob(t, configFromFlags, run, append([]string{"--input=" + fixture, "--time_field=time", "--window=240h", "--slice=24h",
		"--emit_interval=24h", "--output=" + out, "--datastore_project=test-project", "--datastore_namespace=rt", "--beam_strict=true"}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	latest := map[string]incremental.Update{}
	for _, u := range readUpdates(t, out) {
		latest[u.Item] = u // in End order
	}
	store, err := simstore.New(datastoretest.Client(t, "test-project", emu.Host), simstore.Options{Namespace: "rt", Kind: "ItemSimilarityLive", Layout: simstore.LayoutLive})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := store.Changes(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return res, out, latest, store, stored
}
