package datastoreio

import (
	"strings"
	"testing"

	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/incremental"
)

// TestEmulator runs the behaviour tests against the real Cloud Datastore
// emulator (one for all of them, emptied between tests): real transactions
// for the pointer flip, real ancestor and kind queries for deleting old
// versions, real lookups for the reader. Fault injection and the checks of
// Datastore's per-commit limits stay on the in-process server: the emulator
// injects no faults, accepts commits of over 500 mutations and entities of
// over 1 MiB that Datastore rejects, and its gRPC server rejects requests
// over 4 MiB that Datastore accepts (up to 10 MiB), so
// TestWriteBatchLimits's 5 MB commits cannot run on it.
func TestEmulator(t *testing.T) {
	emu := datastoretest.StartEmulator(t)
	b := emulated(emu)
	tests := []struct {
		name string
		test func(*testing.T, backend)
	}{
		{"versions", testWriteVersions},
		{"failed run", func(t *testing.T, b backend) {
			// The emulator cannot be told to fail; an id no key can hold
			// fails the run for real.
			long := strings.Repeat("x", 2000)
			v2 := append(neighbors(itemIDs("item-", 0, 999), 5, 1), model.Neighbors{Item: long, Neighbors: []model.Neighbor{{Item: "item-00001", Score: 0.5}}})
			testFailedRun(t, b, v2, []string{"cannot be a key name", "2000 bytes exceeds 1500"}, func() {}, func() {})
		}},
		{"reader sees complete versions", testReaderSeesCompleteVersions},
		{"emulator host honoured", testEmulatorHostHonoured},
		{"in place", testInPlace},
		{"live", testWriteLive},
		{"failed live write", func(t *testing.T, b backend) {
			// The live writer writes after its timer returns; a write the
			// emulator refuses (an id no key can hold) still fails the run.
			cfg := testConfig(b, "")
			cfg.Kind = "Live"
			updates := []incremental.Update{liveUpdate(1, 10), {End: 10, Item: strings.Repeat("x", 2000)}}
			err := runWriteLive(cfg, updates, nil, nil)
			if err == nil || !strings.Contains(err.Error(), "FinishBundle") || !strings.Contains(err.Error(), "longer than 1500 bytes") {
				t.Fatalf("WriteLive of a 2000-byte item id: %v, want the emulator's refusal at FinishBundle", err)
			}
		}},
		{"popular lists", testWriteWithPopular},
		{"similarity", testWriteSimilarity},
		{"order", testWriteOrder},
		{"user lists and factors", testWriteVersionProducts},
		{"failed user lists", func(t *testing.T, b backend) {
			// A user id no key can hold fails the run for real.
			v2 := alsRun(0, 30, 0, 40, 1)
			v2.users[17].User = strings.Repeat("u", 2000)
			testFailedUserWrite(t, b, v2, []string{"user", "cannot be a key name", "2000 bytes exceeds 1500"}, func() {}, func() {})
		}},
		{"reader sees whole user lists", testReaderSeesWholeUserVersions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu.Reset(t)
			tt.test(t, b)
		})
	}
}

// testInPlace writes the in-place layout twice: items are overwritten at
// the root and no pointer or marker is written.
func testInPlace(t *testing.T, b backend) {
	cfg := testConfig(b, "")
	cfg.Layout = simstore.LayoutInPlace
	for tag, ids := range [][]string{itemIDs("item-", 0, 700), itemIDs("item-", 0, 700)} {
		ns := neighbors(ids, 8, float64(tag))
		if err := runWrite(cfg, ns); err != nil {
			t.Fatal(err)
		}
		st := snapshot(t, b, simstore.DefaultKind)
		if st.pointer != "" || len(st.markers) > 0 || len(st.unknowns) > 0 {
			t.Errorf("in-place layout wrote pointer %q, markers %v, unknown keys %v", st.pointer, st.markers, st.unknowns)
		}
		checkItems(t, st, "", ns)
	}
}
