package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/internal/jobtest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
)

// TestDatastoreSink runs the job with the Datastore sink against the
// in-process Datastore (through DATASTORE_EMULATOR_HOST, as with the
// official emulator) and reads every list back through simstore: the live
// version is the run's and each item's list equals the JSONL output's.
func TestDatastoreSink(t *testing.T) {
	srv, err := datastoretest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	testDatastoreSink(t, srv.Addr)
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("Datastore limits broken: %v", v)
	}
}

// TestDatastoreEmulator runs the job against the real Cloud Datastore
// emulator, one for all of its subtests, emptied between them.
func TestDatastoreEmulator(t *testing.T) {
	emu := datastoretest.StartEmulator(t)
	t.Run("sink", func(t *testing.T) {
		emu.Reset(t)
		testDatastoreSink(t, emu.Host)
	})
	t.Run("item id too long", func(t *testing.T) {
		emu.Reset(t)
		testLongItemID(t, emu.Host)
	})
}

// testLongItemID runs five users' rows, one of them with an item id of
// 2,000 bytes, longer than any Datastore key name: that row is a bad row
// (id_too_long) and the run publishes the model of the others.
func testLongItemID(t *testing.T, addr string) {
	t.Setenv("DATASTORE_EMULATOR_HOST", addr)
	dir := t.TempDir()
	long := strings.Repeat("x", 2000)
	in := filepath.Join(dir, "in.csv")
	body := "user,productSku,type\nu1,a,3\nu1,b,3\nu2,a,1\nu2,b,2\nu3,a,2\nu3,c,1\nu4,b,1\nu4,c,3\nu5,a,1\nu5," + long + ",3\n"
	if err := os.WriteFile(in, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, dead := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "dead.jsonl")
	res := mustRun(t, "--input="+in, "--output="+out, "--dead_letter="+dead, "--max_bad_fraction=0.2",
		"--datastore_project=p", "--datastore_namespace=long", "--run_id=v1")
	if d := readFile(t, dead); strings.Count(d, "\n") != 1 || !strings.Contains(d, `"reason":"id_too_long"`) || !strings.Contains(d, "u5,"+long) {
		t.Errorf("dead letter %.300q: want the one row with reason id_too_long", d)
	}
	if n := jobtest.Counter(res, "interactions/bad_id_too_long"); n != 1 {
		t.Errorf("interactions/bad_id_too_long = %d, want 1", n)
	}

	want := readOutput(t, out)
	if len(want) != 3 {
		t.Fatalf("output has %d items, want a, b and c", len(want))
	}
	ctx := context.Background()
	store := liveStore(t, "long", "v1")
	for item, nbs := range want {
		got, found, err := store.Get(ctx, item)
		if err != nil || !found || len(got.Neighbors) != len(nbs) {
			t.Fatalf("item %s: %+v, %v, %v; want %v", item, got, found, err, nbs)
		}
		for x, nb := range got.Neighbors {
			if nb.Item != nbs[x].Item || nb.Score != nbs[x].Score {
				t.Errorf("item %s #%d: %+v, want %+v", item, x, nb, nbs[x])
			}
		}
	}
}

// testDatastoreSink runs the job on the fixture into the empty Datastore at
// addr, compares what simstore reads with the JSONL output, and checks that
// a failing run leaves the live version alone.
func testDatastoreSink(t *testing.T, addr string) {
	t.Setenv("DATASTORE_EMULATOR_HOST", addr)
	dir := t.TempDir()
	out := filepath.Join(dir, "sim.jsonl")
	// --beam_strict also proves every DoFn, function and coder of the full
	// job (popular output and Datastore sink included) is registered.
	mustRun(t, "--input="+fixture, "--output="+out, "--datastore_project=p", "--datastore_namespace=ns", "--run_id=v1",
		"--popular_output="+filepath.Join(dir, "popular.json"), "--beam_strict=true")
	want := readOutput(t, out)

	ctx := context.Background()
	store := liveStore(t, "ns", "v1")
	items := make([]string, 0, len(want))
	for item := range want {
		items = append(items, item)
	}
	got, err := store.GetMulti(ctx, append(items, "no-such-item"))
	if err != nil {
		t.Fatal(err)
	}
	for k, item := range items {
		if got[k] == nil || len(got[k].Neighbors) != len(want[item]) {
			t.Fatalf("item %s: got %+v, want %v", item, got[k], want[item])
		}
		for x, nb := range got[k].Neighbors {
			if nb.Item != want[item][x].Item || nb.Score != want[item][x].Score {
				t.Fatalf("item %s #%d: %+v, want %+v", item, x, nb, want[item][x])
			}
		}
	}
	if got[len(items)] != nil {
		t.Errorf("an unknown item was found: %+v", got[len(items)])
	}
	// The version holds the run's popular list, the same as the file's.
	var file struct {
		Items []struct {
			Item  string
			Users int64
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "popular.json"))), &file); err != nil {
		t.Fatal(err)
	}
	pop, err := store.Popular(ctx, "v1")
	if err != nil || len(file.Items) == 0 || len(pop.Items) != len(file.Items) || pop.Version != "v1" {
		t.Fatalf("popular list of v1: %+v, %v; want the file's %d items", pop, err, len(file.Items))
	}
	for i, it := range file.Items {
		if pop.Items[i] != it.Item || pop.Users[i] != it.Users {
			t.Errorf("popular #%d: %s with %d users, the file has %s with %d", i, pop.Items[i], pop.Users[i], it.Item, it.Users)
		}
	}

	// The version's marker records the run's measure, the flags' cosine.
	if sim, err := store.Similarity(ctx, "v1"); err != nil || sim == nil || *sim != model.DefaultSimilarity() {
		t.Errorf("similarity of v1: %+v, %v; want %+v", sim, err, model.DefaultSimilarity())
	}

	// A run that fails its bad-row check writes nothing: v1 stays live.
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("user,productSku,type\nu1,a,1\nu1,b,9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runJob(t, "--input="+bad, "--output="+filepath.Join(dir, "bad.jsonl"), "--datastore_project=p",
		"--datastore_namespace=ns", "--run_id=v2"); err == nil {
		t.Fatal("a run with 50% bad rows succeeded")
	}
	if v, err := store.CurrentVersion(ctx); err != nil || v != "v1" {
		t.Errorf("after the failed run the live version is %q, %v; want v1", v, err)
	}
}

// liveStore opens the layout of project p's namespace on the Datastore
// DATASTORE_EMULATOR_HOST names, and fails the test unless its live
// version is version.
func liveStore(t *testing.T, namespace, version string) *simstore.Store {
	t.Helper()
	ctx := context.Background()
	client, err := datastore.NewClient(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	store, err := simstore.New(client, simstore.Options{Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := store.CurrentVersion(ctx); err != nil || v != version {
		t.Fatalf("live version = %q, %v; want %s", v, err, version)
	}
	return store
}
