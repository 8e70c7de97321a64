package main

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/datastoreio"
)

const (
	testProject   = "test-project"
	testNamespace = "ns"
	testKind      = "Sim"
)

// writeVersion writes lists as version v with the pipeline's Datastore
// sink, which lays them out and flips the pointer as in production.
func writeVersion(t *testing.T, addr, v string, lists []model.Neighbors) {
	t.Helper()
	cfg := datastoreio.Config{Project: testProject, Endpoint: addr, Namespace: testNamespace, Kind: testKind, Version: v,
		Retry: datastoreio.Retry{MaxAttempts: 5, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, ThrottleDelay: time.Millisecond}}
	p, s := beam.NewPipelineWithRoot()
	datastoreio.Write(s, cfg, beam.CreateList(s, lists))
	if err := ptest.Run(p); err != nil {
		t.Fatalf("writing version %s: %v", v, err)
	}
}

// TestDatastoreSource loads the live version through the real client from
// the in-process server, follows the pointer to a new version, and is not
// ready while nothing is published.
func TestDatastoreSource(t *testing.T) {
	srv, err := datastoretest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	testDatastoreSource(t, srv.Addr)
}

// TestDatastoreSourceEmulator is TestDatastoreSource against the real Cloud
// Datastore emulator.
func TestDatastoreSourceEmulator(t *testing.T) {
	testDatastoreSource(t, datastoretest.StartEmulator(t).Host)
}

// datastoreReloader is a test server and the reloader that feeds it from
// the Datastore layout client reads.
func datastoreReloader(t *testing.T, client *datastore.Client) (*server, *reloader) {
	t.Helper()
	src, err := newDatastoreSource(client, testNamespace, testKind, "")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, nil)
	return s, &reloader{src: src, srv: s}
}

// testDatastoreSource runs the serving's Datastore source against the
// empty Datastore at addr.
func testDatastoreSource(t *testing.T, addr string) {
	ctx := context.Background()
	client := datastoretest.Client(t, testProject, addr)
	s, r := datastoreReloader(t, client)

	if err := r.check(ctx); !errors.Is(err, simstore.ErrNoVersion) {
		t.Fatalf("nothing published: error %v, want ErrNoVersion", err)
	}
	if w := do(s, "GET", "/readyz", ""); w.Code != 503 {
		t.Fatalf("/readyz with nothing published: %d", w.Code)
	}

	v1 := []model.Neighbors{nbs("a", nb("b", .5), nb("c", .25)), nbs("b", nb("a", .5)), nbs("c", nb("a", .25))}
	writeVersion(t, addr, "v1", v1)
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m := s.model.Load()
	if m.Version() != "v1" || m.Items() != 3 {
		t.Fatalf("loaded version %q with %d items, want v1 with 3", m.Version(), m.Items())
	}
	for _, l := range v1 {
		got, _ := m.Similar(l.Item, 10)
		var want []recommend.Scored
		for _, n := range l.Neighbors {
			want = append(want, recommend.Scored{Item: n.Item, Score: n.Score})
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("v1 %s: %v, want %v", l.Item, got, want)
		}
	}

	writeVersion(t, addr, "v2", []model.Neighbors{nbs("a", nb("d", .9)), nbs("d", nb("a", .9))})
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m = s.model.Load()
	if got, _ := m.Similar("a", 10); m.Version() != "v2" || !reflect.DeepEqual(got, []recommend.Scored{{Item: "d", Score: .9}}) {
		t.Errorf("after v2 was published: version %q, a's neighbours %v", m.Version(), got)
	}
	if _, found := m.Similar("b", 10); found {
		t.Error("v2 serves v1's item b: the versions are mixed")
	}
}
