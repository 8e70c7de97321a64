package datastoretest

import (
	"context"
	"testing"

	"cloud.google.com/go/datastore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestEmulatorLifecycle starts the real emulator, writes through the client
// library, reads back with Snapshot, empties it with Reset, and checks that
// Stop leaves no process of the emulator running.
func TestEmulatorLifecycle(t *testing.T) {
	var e *Emulator
	t.Run("running", func(t *testing.T) {
		e = StartEmulator(t)
		ctx := context.Background()
		c, err := datastore.NewClient(ctx, "p", option.WithEndpoint("passthrough:///"+e.Host), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		type entity struct {
			N int `datastore:"n,noindex"`
		}
		keys := []*datastore.Key{datastore.NameKey("K", "root", nil), datastore.NameKey("K", "child", datastore.NameKey("P", "parent", nil))}
		keys[1].Namespace, keys[1].Parent.Namespace = "ns", "ns"
		if _, err := c.PutMulti(ctx, keys, []*entity{{1}, {2}}); err != nil {
			t.Fatal(err)
		}
		snap, err := e.Snapshot(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		want := map[Key]int64{{Path: "K/root"}: 1, {Namespace: "ns", Path: "P/parent/K/child"}: 2}
		if len(snap) != len(want) {
			t.Errorf("snapshot has %d entities, want %d: %v", len(snap), len(want), snap)
		}
		for k, n := range want {
			p := snap[k].GetProperties()["n"]
			if p.GetIntegerValue() != n || !p.GetExcludeFromIndexes() {
				t.Errorf("%+v: n = %v, want %d unindexed", k, p, n)
			}
		}
		e.Reset(t)
		if snap, err := e.Snapshot(ctx, "p"); err != nil || len(snap) != 0 {
			t.Errorf("after Reset: %d entities, %v", len(snap), err)
		}
	})
	if e == nil {
		return // skipped
	}
	// The subtest's cleanup has stopped the emulator.
	if !e.Exited() {
		t.Errorf("the launcher or a process of its group (java) outlived Stop; log:\n%s", e.Log())
	}
}
