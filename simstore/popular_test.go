package simstore

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/recsys/itemsim/internal/datastoretest"
)

// TestPopular reads a version's popular list from the in-process server
// and the real emulator: the list of the version asked for, not another
// version's; ErrNoPopular for a version without one; an error for a list
// whose items and counts do not align.
func TestPopular(t *testing.T) {
	datastoretest.OnBoth(t, testPopular)
}

func testPopular(t *testing.T, addr string) {
	ctx := context.Background()
	client := datastoretest.Client(t, "p", addr)
	keys := Keys{Namespace: "ns", Kind: "Sim"}
	if k := keys.Popular("v1"); k.Kind != "SimPopular" || k.Name != PopularName || k.Namespace != "ns" || !k.Parent.Equal(keys.Version("v1")) {
		t.Fatalf("popular key %v: want SimPopular/popular under %v in ns", k, keys.Version("v1"))
	}
	v1 := Popular{Items: []string{"a", "b"}, Users: []int64{9, 4}, Version: "v1"}
	v2 := Popular{Items: []string{"c"}, Users: []int64{3}, Version: "v2"}
	for _, p := range []Popular{v1, v2} {
		if _, err := client.Put(ctx, keys.Popular(p.Version), &p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Put(ctx, keys.Popular("bad"), &Popular{Items: []string{"a"}, Users: []int64{1, 2}}); err != nil {
		t.Fatal(err)
	}
	store, err := New(client, Options{Namespace: "ns", Kind: "Sim"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Popular{v1, v2} {
		got, err := store.Popular(ctx, want.Version)
		got.UpdatedAt = want.UpdatedAt
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("version %s: %+v, %v; want %+v", want.Version, got, err, want)
		}
	}
	if _, err := store.Popular(ctx, "v3"); !errors.Is(err, ErrNoPopular) {
		t.Errorf("a version without a list: %v, want ErrNoPopular", err)
	}
	if _, err := store.Popular(ctx, "bad"); err == nil || !strings.Contains(err.Error(), "1 items but 2 user counts") {
		t.Errorf("misaligned list: %v", err)
	}
}
