package datastoreio

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
)

// runWriteWithPopular runs a pipeline writing ns and the popular list pop
// with cfg.
func runWriteWithPopular(cfg Config, ns []model.Neighbors, pop []model.PopularItem) error {
	p, s := beam.NewPipelineWithRoot()
	passert.Equals(s, WriteWithPopular(s, cfg, beam.CreateList(s, ns), beam.Create(s, pop)), len(ns))
	return ptest.Run(p)
}

// popularOf is run g's popular list: g+1 items, so runs differ.
func popularOf(g int) []model.PopularItem {
	out := make([]model.PopularItem, g+1)
	for i := range out {
		out[i] = model.PopularItem{Item: fmt.Sprintf("p%d-%d", g, i), Users: int64(100*g - i)}
	}
	return out
}

func TestWriteWithPopular(t *testing.T) { testWriteWithPopular(t, fake(newServer(t))) }

// testWriteWithPopular publishes three versions with their popular lists
// (two kept): each kept version holds its own list beside its items, the
// deleted version's list goes with it, and a run that fails leaves no list
// under its version and the pointer where it was.
func testWriteWithPopular(t *testing.T, b backend) {
	for g, v := range []string{"v1", "v2", "v3"} {
		if err := runWriteWithPopular(testConfig(b, v), neighbors(itemIDs("item-", 0, 50), 3, float64(g)), popularOf(g)); err != nil {
			t.Fatalf("run %s: %v", v, err)
		}
	}
	st := snapshot(t, b, simstore.DefaultKind)
	if st.pointer != "v3" || len(st.unknowns) > 0 || len(st.popular) != 2 {
		t.Fatalf("pointer %q, popular lists of %d versions, unknown keys %v; want v3, 2 lists, none", st.pointer, len(st.popular), st.unknowns)
	}
	for g, v := range []string{"v1", "v2", "v3"} {
		got, ok := st.popular[v]
		if v == "v1" {
			if ok {
				t.Errorf("v1 was deleted but its popular list %+v stays", got)
			}
			continue
		}
		want := simstore.Popular{Version: v}
		for _, it := range popularOf(g) {
			want.Items, want.Users = append(want.Items, it.Item), append(want.Users, it.Users)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("popular list of %s: %+v, want %+v", v, got, want)
		}
	}

	long := strings.Repeat("x", 2000)
	bad := append(neighbors(itemIDs("item-", 0, 50), 3, 9), model.Neighbors{Item: long, Neighbors: []model.Neighbor{{Item: "item-00001", Score: 0.5}}})
	if err := runWriteWithPopular(testConfig(b, "v4"), bad, popularOf(4)); err == nil {
		t.Fatal("a run with an item id no key can hold succeeded")
	}
	st = snapshot(t, b, simstore.DefaultKind)
	if _, ok := st.popular["v4"]; ok || st.pointer != "v3" {
		t.Errorf("after the failed run v4: pointer %q, v4 has a popular list: %v; want v3 and none", st.pointer, ok)
	}
}

// TestPopularTooLarge: a list over Datastore's entity limit fails the
// publish with the reason, and CheckPopularN refuses such lengths up front.
func TestPopularTooLarge(t *testing.T) {
	b := fake(newServer(t))
	pop := make([]model.PopularItem, 800)
	for i := range pop {
		pop[i] = model.PopularItem{Item: fmt.Sprintf("%04d", i) + strings.Repeat("x", 1496), Users: 1}
	}
	err := runWriteWithPopular(testConfig(b, "v1"), neighbors(itemIDs("item-", 0, 10), 2, 0), pop)
	if err == nil || !strings.Contains(err.Error(), "the popular list of 800 items") {
		t.Errorf("an 800-item list of 1,500-byte ids: %v", err)
	}
	if st := snapshot(t, b, simstore.DefaultKind); st.pointer != "" || len(st.popular) != 0 {
		t.Errorf("pointer %q and %d lists after the failed publish", st.pointer, len(st.popular))
	}
	if err := CheckPopularN(100); err != nil {
		t.Errorf("CheckPopularN(100): %v", err)
	}
	if err := CheckPopularN(800); err == nil || !strings.Contains(err.Error(), "the most that fits is") {
		t.Errorf("CheckPopularN(800): %v", err)
	}
	if err := CheckPopularN(0); err == nil {
		t.Error("CheckPopularN(0) succeeded")
	}
}
