package simstore

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
)

// TestUserListsAndFactors reads a version's user lists and item factors
// from the in-process server and the real emulator, written by hand with
// the layout's keys: the lists and factors stored, in key order; lookups
// of the live version's users; the errors for versions without them, for
// incomplete or half-deleted versions and for factors of another rank.
func TestUserListsAndFactors(t *testing.T) {
	datastoretest.OnBoth(t, testUserListsAndFactors)
}

func testUserListsAndFactors(t *testing.T, addr string) {
	ctx := context.Background()
	client := datastoretest.Client(t, "p", addr)
	keys := Keys{Namespace: "ns", Kind: "Sim"}
	cfg := als.Config{Rank: 2, Lambda: 0.1, Implicit: true, Alpha: 40, Iterations: 10, Seed: 7}
	put := func(key *datastore.Key, e any) {
		t.Helper()
		if _, err := client.Put(ctx, key, e); err != nil {
			t.Fatal(err)
		}
	}
	// v1: two users and three factors; "bob" sorts before "carol".
	info := VersionInfo{State: StateComplete, Expected: 1, Items: 1, ExpectedUsers: 2, Users: 2, ExpectedFactors: 3, Factors: 3}
	if err := info.SetALS(&cfg); err != nil {
		t.Fatal(err)
	}
	put(keys.Version("v1"), &info)
	put(keys.Item("v1", "a"), &Entity{Items: []string{"b"}, Scores: []float64{0.5}, Version: "v1"})
	put(keys.User("v1", "carol"), &Entity{Items: []string{"c", "a"}, Scores: []float64{2.5, -0.25}, Version: "v1"})
	put(keys.User("v1", "bob"), &Entity{Items: []string{"b"}, Scores: []float64{1}, Version: "v1"})
	for id, f := range map[string][]float64{"a": {1, -2}, "b": {0.125, 3}, "c": {0, 1e-300}} {
		put(keys.Factor("v1", id), &Factor{Factor: f, Version: "v1"})
	}
	put(keys.Pointer(), &Pointer{Version: "v1"})

	store, err := New(client, Options{Namespace: "ns", Kind: "Sim", PointerTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	wantUsers := []model.UserList{
		{User: "bob", Items: []model.Neighbor{{Item: "b", Score: 1}}},
		{User: "carol", Items: []model.Neighbor{{Item: "c", Score: 2.5}, {Item: "a", Score: -0.25}}},
	}
	if got, err := store.UserLists(ctx, "v1"); err != nil || !reflect.DeepEqual(got, wantUsers) {
		t.Errorf("UserLists(v1) = %+v, %v; want %+v", got, err, wantUsers)
	}
	wantFactors := []als.FactorRow{{ID: "a", Factor: []float64{1, -2}}, {ID: "b", Factor: []float64{0.125, 3}}, {ID: "c", Factor: []float64{0, 1e-300}}}
	if gotCfg, got, err := store.ItemFactors(ctx, "v1"); err != nil || gotCfg != cfg || !reflect.DeepEqual(got, wantFactors) {
		t.Errorf("ItemFactors(v1) = %+v, %+v, %v; want %+v, %+v", gotCfg, got, err, cfg, wantFactors)
	}
	v, lists, err := store.GetUserLists(ctx, []string{"carol", "nobody", "bob"})
	if err != nil || v != "v1" || len(lists) != 3 || lists[1] != nil || lists[0] == nil || lists[2] == nil ||
		!reflect.DeepEqual(*lists[0], wantUsers[1]) || !reflect.DeepEqual(*lists[2], wantUsers[0]) {
		t.Errorf("GetUserLists(carol, nobody, bob) = %q, %+v, %v; want v1, carol, nil, bob", v, lists, err)
	}
	if v, l, found, err := store.GetUserList(ctx, "bob"); err != nil || v != "v1" || !found || !reflect.DeepEqual(l, wantUsers[0]) {
		t.Errorf("GetUserList(bob) = %q, %+v, %v, %v", v, l, found, err)
	}
	if _, _, found, err := store.GetUserList(ctx, "nobody"); err != nil || found {
		t.Errorf("GetUserList(nobody): found %v, %v", found, err)
	}

	// v2 goes live and v1's user lists are deleted while the store still
	// caches v1: the missing user makes it re-resolve the pointer.
	info2 := VersionInfo{State: StateComplete, Expected: 1, Items: 1, ExpectedUsers: 1, Users: 1}
	put(keys.Version("v2"), &info2)
	put(keys.User("v2", "bob"), &Entity{Items: []string{"z"}, Scores: []float64{9}, Version: "v2"})
	put(keys.Pointer(), &Pointer{Version: "v2"})
	if err := client.DeleteMulti(ctx, []*datastore.Key{keys.User("v1", "bob"), keys.User("v1", "carol")}); err != nil {
		t.Fatal(err)
	}
	if v, l, found, err := store.GetUserList(ctx, "bob"); err != nil || v != "v2" || !found || !reflect.DeepEqual(l, model.UserList{User: "bob", Items: []model.Neighbor{{Item: "z", Score: 9}}}) {
		t.Errorf("GetUserList(bob) after v1 went: %q, %+v, %v, %v; want v2's list", v, l, found, err)
	}
	// v1's marker still counts two lists: a reader of v1 learns it is going.
	if _, err := store.UserLists(ctx, "v1"); err == nil || !strings.Contains(err.Error(), "0 user lists found, its marker counts 2") {
		t.Errorf("UserLists(v1) half deleted: %v", err)
	}
	// v2 has user lists but no ALS settings nor factors.
	if _, _, err := store.ItemFactors(ctx, "v2"); !errors.Is(err, ErrNoFactors) {
		t.Errorf("ItemFactors(v2): %v, want ErrNoFactors", err)
	}

	// A similarity-only version, one still being written, one whose
	// factors are of another rank than its settings.
	put(keys.Version("sim"), &VersionInfo{State: StateComplete, Expected: 1, Items: 1})
	put(keys.Version("writing"), &VersionInfo{State: StateWriting, Expected: 1, ExpectedUsers: 1})
	bad := info
	bad.Users, bad.Factors = 0, 1
	put(keys.Version("rank"), &bad)
	put(keys.Factor("rank", "a"), &Factor{Factor: []float64{1, 2, 3}})
	if _, err := store.UserLists(ctx, "sim"); !errors.Is(err, ErrNoUsers) {
		t.Errorf("UserLists(sim): %v, want ErrNoUsers", err)
	}
	if _, _, err := store.ItemFactors(ctx, "sim"); !errors.Is(err, ErrNoFactors) {
		t.Errorf("ItemFactors(sim): %v, want ErrNoFactors", err)
	}
	for name, err := range map[string]error{
		`version "writing" is writing, not complete`:            func() error { _, err := store.UserLists(ctx, "writing"); return err }(),
		`version "gone" has no marker`:                          func() error { _, _, err := store.ItemFactors(ctx, "gone"); return err }(),
		`item "a" in version "rank" has 3 numbers, want rank 2`: func() error { _, _, err := store.ItemFactors(ctx, "rank"); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v, want an error saying %s", err, name)
		}
	}

	inPlace, err := New(client, Options{Namespace: "ns", Kind: "Sim", Layout: LayoutInPlace})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := inPlace.GetUserLists(ctx, []string{"bob"}); err == nil {
		t.Error("GetUserLists in the in-place layout succeeded")
	}
}

// TestUserAndFactorKeys: user lists and factors are their own kinds, named
// by the user or item, children of the version's marker.
func TestUserAndFactorKeys(t *testing.T) {
	keys := Keys{Namespace: "ns", Kind: "Sim"}
	for _, tt := range []struct {
		key        *datastore.Key
		kind, name string
	}{{keys.User("v1", "u"), "SimUser", "u"}, {keys.Factor("v1", "i"), "SimFactor", "i"}} {
		if tt.key.Kind != tt.kind || tt.key.Name != tt.name || tt.key.Namespace != "ns" || !tt.key.Parent.Equal(keys.Version("v1")) {
			t.Errorf("key %v: want %s/%s under %v in ns", tt.key, tt.kind, tt.name, keys.Version("v1"))
		}
	}
}

// TestALSSettings: the marker records als.Config as the JSON of its flag
// names and reads it back; nil records none; invalid settings are refused
// both ways.
func TestALSSettings(t *testing.T) {
	cfg := als.Config{Rank: 64, Lambda: 0.05, Implicit: true, Alpha: 40, Iterations: 15, Seed: 42}
	var info VersionInfo
	if err := info.SetALS(&cfg); err != nil {
		t.Fatal(err)
	}
	if want := `{"rank":64,"lambda":0.05,"implicit":true,"alpha":40,"iterations":15,"seed":42}`; info.ALS != want {
		t.Errorf("recorded %s, want %s", info.ALS, want)
	}
	if got, err := info.ParseALS(); err != nil || got == nil || *got != cfg {
		t.Errorf("read back %+v, %v; want %+v", got, err, cfg)
	}
	if err := info.SetALS(nil); err != nil || info.ALS != "" {
		t.Errorf("nil: %q, %v; want none recorded", info.ALS, err)
	}
	if got, err := info.ParseALS(); got != nil || err != nil {
		t.Errorf("none recorded: %+v, %v; want nil", got, err)
	}
	if err := info.SetALS(&als.Config{Rank: 0, Iterations: 1}); err == nil || info.ALS != "" {
		t.Errorf("rank 0: recorded %q, %v; want an error", info.ALS, err)
	}
	for doc, want := range map[string]string{
		`{"rank":8,"lambda":0.1,"iterations":3,"colour":"red"}`: `unknown field "colour"`,
		`{"rank":8,"lambda":-1,"iterations":3}`:                 "--lambda=-1",
		`{"rank":8,"lambda":0.1,"iterations":3} {}`:             "data after the document",
	} {
		if got, err := (VersionInfo{ALS: doc}).ParseALS(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %+v, %v; want an error saying %s", doc, got, err, want)
		}
	}
}
