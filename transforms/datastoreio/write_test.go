package datastoreio

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
	"google.golang.org/grpc/codes"
)

// TestWriteVersionsUnderFaults runs three versions with 30% of commits
// failing transiently; each run must leave exactly the kept versions.
func TestWriteVersionsUnderFaults(t *testing.T) {
	srv := newServer(t)
	srv.SetFaults(datastoretest.Faults{Seed: 7, FailRate: 0.3, FailCodes: []codes.Code{codes.Unavailable, codes.DeadlineExceeded}})
	testWriteVersions(t, fake(srv))
	checkNoViolations(t, srv)
	failed := 0
	for _, c := range srv.Commits() {
		if c.Code != codes.OK {
			failed++
		}
	}
	if failed == 0 {
		t.Error("no commit failed: fault injection is not exercised")
	}
}

// testWriteVersions writes three versions whose items drift; after each run
// the pointer is on it and exactly the kept versions are stored, whole.
func testWriteVersions(t *testing.T, b backend) {
	runs := []struct {
		version string
		items   []model.Neighbors
		kept    []string // versions stored after the run, newest first
	}{
		{"v1", neighbors(itemIDs("item-", 0, 2000), 20, 0), []string{"v1"}},
		{"v2", neighbors(itemIDs("item-", 300, 2300), 20, 1), []string{"v2", "v1"}},
		{"v3", neighbors(itemIDs("item-", 600, 2400), 10, 2), []string{"v3", "v2"}},
	}
	want := map[string][]model.Neighbors{}
	for _, r := range runs {
		want[r.version] = r.items
		if err := runWrite(testConfig(b, r.version), r.items); err != nil {
			t.Fatalf("run %s: %v", r.version, err)
		}
		st := snapshot(t, b, simstore.DefaultKind)
		if st.pointer != r.version {
			t.Errorf("after run %s: pointer on %q", r.version, st.pointer)
		}
		if len(st.items) != len(r.kept) || len(st.markers) != len(r.kept) || len(st.unknowns) > 0 {
			t.Errorf("after run %s: item versions %d, markers %v, unknown keys %v; want versions %v", r.version, len(st.items), st.markers, st.unknowns, r.kept)
		}
		for _, v := range r.kept {
			if st.markers[v] != simstore.StateComplete {
				t.Errorf("after run %s: marker of %s is %q", r.version, v, st.markers[v])
			}
			checkItems(t, st, v, want[v])
		}
	}
}

// TestWriteInvalidArgument checks a permanent server error names the item,
// fails the run and leaves the pointer; the next run deletes the partial
// version.
func TestWriteInvalidArgument(t *testing.T) {
	srv := newServer(t)
	v2 := neighbors(itemIDs("item-", 0, 1000), 5, 1)
	testFailedRun(t, fake(srv), v2, []string{`item "item-00421"`, "InvalidArgument", "injected failure"},
		func() { srv.SetFaults(datastoretest.Faults{FailForKey: "item-00421"}) },
		func() { srv.SetFaults(datastoretest.Faults{}) })
	checkNoViolations(t, srv)
}

// testFailedRun publishes v1, then runs v2 (with fail set up by breakV2 and
// undone by heal) and expects it to fail with wantErr, leaving v1 live and
// v2 writing; a third run keeping one version then deletes v1 and v2.
func testFailedRun(t *testing.T, b backend, v2 []model.Neighbors, wantErr []string, breakV2, heal func()) {
	v1 := neighbors(itemIDs("item-", 0, 1000), 5, 0)
	if err := runWrite(testConfig(b, "v1"), v1); err != nil {
		t.Fatal(err)
	}

	breakV2()
	err := runWrite(testConfig(b, "v2"), v2)
	if err == nil {
		t.Fatal("run v2 succeeded despite a permanent error")
	}
	for _, want := range wantErr {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q: %v", want, err)
		}
	}
	st := snapshot(t, b, simstore.DefaultKind)
	if st.pointer != "v1" || st.markers["v2"] != simstore.StateWriting {
		t.Errorf("after failed run: pointer %q, v2 marker %q; want v1, writing", st.pointer, st.markers["v2"])
	}
	checkItems(t, st, "v1", v1)

	heal()
	cfg := testConfig(b, "v3")
	cfg.KeepVersions = 1
	v3 := neighbors(itemIDs("item-", 500, 1500), 5, 3)
	if err := runWrite(cfg, v3); err != nil {
		t.Fatal(err)
	}
	st = snapshot(t, b, simstore.DefaultKind)
	if st.pointer != "v3" || len(st.markers) != 1 || len(st.items) != 1 {
		t.Errorf("after run v3 keeping 1: pointer %q, markers %v, %d item versions", st.pointer, st.markers, len(st.items))
	}
	checkItems(t, st, "v3", v3)
}

// TestReaderSeesCompleteVersions polls through simstore while a run writes
// a new version, with commits slowed down and failing at times so the
// reader polls throughout the run.
func TestReaderSeesCompleteVersions(t *testing.T) {
	srv := newServer(t)
	srv.SetFaults(datastoretest.Faults{Latency: 20 * time.Millisecond, Seed: 3, FailRate: 0.2, FailCodes: []codes.Code{codes.Unavailable}})
	testReaderSeesCompleteVersions(t, fake(srv))
}

// testReaderSeesCompleteVersions writes v1, then polls every item while
// the v2 run writes: every answer must be one whole version.
func testReaderSeesCompleteVersions(t *testing.T, b backend) {
	v1 := neighbors(itemIDs("item-", 0, 600), 5, 0)
	v2 := neighbors(itemIDs("item-", 200, 800), 5, 1)
	if err := runWrite(testConfig(b, "v1"), v1); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	client, err := newClient(ctx, testConfig(b, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store, err := simstore.New(client, simstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	all := itemIDs("item-", 0, 800)
	want := map[string]map[string]bool{"v1": {}, "v2": {}}
	for _, n := range v1 {
		want["v1"][n.Item] = true
	}
	for _, n := range v2 {
		want["v2"][n.Item] = true
	}

	done := make(chan error)
	go func() { done <- runWrite(testConfig(b, "v2"), v2) }()
	polls := map[string]int{}
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false // one last poll sees the new version
		default:
		}
		// Each answer must be one whole version, whichever it is.
		res, err := store.GetMulti(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		v, found := "", 0
		for i, r := range res {
			if r == nil {
				continue
			}
			if v == "" {
				v = r.Version
			}
			found++
			if r.Version != v || !want[v][all[i]] {
				t.Fatalf("poll mixed versions: item %q of version %q in an answer of version %q", all[i], r.Version, v)
			}
		}
		if found != len(want[v]) {
			t.Fatalf("poll of version %q found %d items, want %d", v, found, len(want[v]))
		}
		polls[v]++
	}
	if polls["v1"] < 3 || polls["v2"] < 1 {
		t.Errorf("polls per version %v: want several of v1 during the run and v2 after it", polls)
	}
}

// TestWriteBatchLimits mixes entities near the 1 MiB limit with small ones:
// no commit may exceed 500 mutations or 9 MB, and all must be stored.
func TestWriteBatchLimits(t *testing.T) {
	srv := newServer(t)
	small := neighbors(itemIDs("small-", 0, 1500), 3, 0)
	var ns []model.Neighbors
	for i, n := range small {
		ns = append(ns, n)
		if i%100 == 50 { // 15 huge items spread through the input
			ns = append(ns, hugeNeighbors(fmt.Sprintf("huge-%02d", i/100)))
		}
	}
	cfg := testConfig(fake(srv), "")
	cfg.Layout = simstore.LayoutInPlace
	if err := runWrite(cfg, ns); err != nil {
		t.Fatal(err)
	}
	checkNoViolations(t, srv)
	maxBytes, maxMuts := 0, 0
	for _, c := range srv.Commits() {
		maxBytes, maxMuts = max(maxBytes, c.Bytes), max(maxMuts, c.Mutations)
	}
	if maxBytes < 5_000_000 || maxMuts > maxBatchMutations {
		t.Errorf("largest commit %d bytes, most mutations %d: want several huge items per commit and at most %d", maxBytes, maxMuts, maxBatchMutations)
	}
	st := snapshot(t, fake(srv), simstore.DefaultKind)
	if st.pointer != "" || len(st.markers) > 0 {
		t.Errorf("in-place layout wrote pointer %q, markers %v", st.pointer, st.markers)
	}
	checkItems(t, st, "", ns)
}

// hugeNeighbors has 650 neighbours with maximal ids: with a short item id it
// is just under the 1 MiB limit.
func hugeNeighbors(item string) model.Neighbors {
	n := model.Neighbors{Item: item}
	for j := range 650 {
		n.Neighbors = append(n.Neighbors, model.Neighbor{Item: fmt.Sprintf("%04d%s", j, strings.Repeat("n", maxKeyNameBytes-4)), Score: 1 - float64(j)/1000})
	}
	return n
}

// TestEmulatorHostHonoured writes with no endpoint configured: the client
// must find the server through DATASTORE_EMULATOR_HOST.
func TestEmulatorHostHonoured(t *testing.T) { testEmulatorHostHonoured(t, fake(newServer(t))) }

func testEmulatorHostHonoured(t *testing.T, b backend) {
	t.Setenv("DATASTORE_EMULATOR_HOST", b.addr)
	cfg := testConfig(b, "v1")
	cfg.Endpoint = ""
	cfg.Namespace = "emulated"
	cfg.Kind = "Sim"
	ns := neighbors(itemIDs("item-", 0, 50), 4, 0)
	if err := runWrite(cfg, ns); err != nil {
		t.Fatal(err)
	}
	st := snapshot(t, b, "Sim")
	if st.pointer != "v1" {
		t.Errorf("pointer %q, want v1", st.pointer)
	}
	checkItems(t, st, "v1", ns)
	for k := range b.entities(t) {
		if k.Namespace != "emulated" {
			t.Errorf("key %s written in namespace %q", k.Path, k.Namespace)
		}
	}
}
