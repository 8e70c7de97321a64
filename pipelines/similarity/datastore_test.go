package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/internal/datastoretest"
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
	client, err := datastore.NewClient(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store, err := simstore.New(client, simstore.Options{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := store.CurrentVersion(ctx); err != nil || v != "v1" {
		t.Fatalf("live version = %q, %v; want v1", v, err)
	}
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
