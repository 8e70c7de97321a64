package simstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/internal/datastoretest"
)

// TestStore reads the layout from the real Datastore emulator (and
// the in-process server): lookups of more items than one Lookup may carry,
// and a cached pointer naming a version deleted since.
func TestStore(t *testing.T) {
	datastoretest.OnBoth(t, testStore)
}

// testStore writes versions by hand with the layout's keys, as the writer
// lays them out, and reads them back through a Store.
func testStore(t *testing.T, addr string) {
	ctx := context.Background()
	client := datastoretest.Client(t, "p", addr)
	keys := Keys{Namespace: "ns", Kind: DefaultKind}
	const n = maxLookupKeys + 100 // two Lookups
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("item-%04d", i)
	}
	put := func(v string, score float64) {
		t.Helper()
		ks := make([]*datastore.Key, 0, n)
		es := make([]*Entity, 0, n)
		for _, it := range items {
			ks = append(ks, keys.Item(v, it))
			es = append(es, &Entity{Items: []string{"other"}, Scores: []float64{score}, Version: v})
		}
		for lo := 0; lo < n; lo += 500 {
			if _, err := client.PutMulti(ctx, ks[lo:min(lo+500, n)], es[lo:min(lo+500, n)]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := client.Put(ctx, keys.Pointer(), &Pointer{Version: v}); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store, err := New(client, Options{Namespace: "ns", PointerTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	store.now = func() time.Time { return now }
	if _, err := store.CurrentVersion(ctx); !errors.Is(err, ErrNoVersion) {
		t.Fatalf("empty store: %v, want ErrNoVersion", err)
	}

	put("v1", 0.5)
	check := func(v string, score float64) {
		t.Helper()
		res, err := store.GetMulti(ctx, append(items, "missing"))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res[:n] {
			if r == nil || r.Item != items[i] || r.Version != v || len(r.Neighbors) != 1 || r.Neighbors[0] != (Neighbor{"other", score}) {
				t.Fatalf("item %d: %+v, want version %s with score %v", i, r, v, score)
			}
		}
		if res[n] != nil {
			t.Errorf("a missing item was found: %+v", res[n])
		}
	}
	check("v1", 0.5)

	// v2 goes live and v1 is deleted while the store still caches v1: the
	// missing items make it re-resolve the pointer.
	put("v2", 0.25)
	del := make([]*datastore.Key, n)
	for i, it := range items {
		del[i] = keys.Item("v1", it)
	}
	for lo := 0; lo < n; lo += 500 {
		if err := client.DeleteMulti(ctx, del[lo:min(lo+500, n)]); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := store.CurrentVersion(ctx); v != "v1" {
		t.Fatalf("cached version %q, want v1 within the TTL", v)
	}
	check("v2", 0.25)
}
