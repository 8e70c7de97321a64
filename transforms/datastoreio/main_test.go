package datastoreio

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	pb "cloud.google.com/go/datastore/apiv1/datastorepb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/internal/jobtest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
)

// TestMain runs the tests on Prism as the streaming job runs its
// stateful stages (jobtest.MainStatefulOnPrism).
func TestMain(m *testing.M) { jobtest.MainStatefulOnPrism(m) }

// fakeClock advances only when slept on.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.advance(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept += d
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countMetrics records metric increments.
type countMetrics struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *countMetrics) Inc(_ context.Context, name string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[name] += n
}

func (c *countMetrics) get(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

const testProject = "test-project"

func newServer(t testing.TB) *datastoretest.Server {
	t.Helper()
	srv, err := datastoretest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// backend is the Datastore a test writes to: the in-process server, which
// injects faults and checks limits, or the real emulator.
type backend struct {
	addr string
	srv  *datastoretest.Server   // nil on the emulator
	emu  *datastoretest.Emulator // nil on the in-process server
}

func fake(srv *datastoretest.Server) backend { return backend{addr: srv.Addr, srv: srv} }

func emulated(emu *datastoretest.Emulator) backend { return backend{addr: emu.Host, emu: emu} }

// entities returns every stored entity.
func (b backend) entities(t *testing.T) map[datastoretest.Key]*pb.Entity {
	t.Helper()
	if b.srv != nil {
		return b.srv.Snapshot()
	}
	snap, err := b.emu.Snapshot(context.Background(), testProject)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// testConfig writes to b with millisecond retries.
func testConfig(b backend, version string) Config {
	return Config{
		Project:  testProject,
		Endpoint: b.addr,
		Version:  version,
		Retry:    Retry{MaxAttempts: 10, InitialBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, ThrottleDelay: 10 * time.Millisecond},
	}
}

// neighbors makes one Neighbors per item id, with n neighbours each whose
// scores depend on tag, so versions differ.
func neighbors(items []string, n int, tag float64) []model.Neighbors {
	out := make([]model.Neighbors, len(items))
	for i, it := range items {
		ns := make([]model.Neighbor, n)
		for j := range ns {
			ns[j] = model.Neighbor{Item: items[(i+j+1)%len(items)], Score: math.Round((1-float64(j)/float64(n+1))*1000)/1000 + tag}
		}
		out[i] = model.Neighbors{Item: it, Neighbors: ns}
	}
	return out
}

func itemIDs(prefix string, lo, hi int) []string {
	var ids []string
	for i := lo; i < hi; i++ {
		ids = append(ids, fmt.Sprintf("%s%05d", prefix, i))
	}
	return ids
}

// runWrite runs a pipeline writing ns with cfg and returns its error; the
// pipeline also asserts that Write reports len(ns) entities.
func runWrite(cfg Config, ns []model.Neighbors) error {
	p, s := beam.NewPipelineWithRoot()
	passert.Equals(s, Write(s, cfg, beam.CreateList(s, ns)), len(ns))
	return ptest.Run(p)
}

// stored is the state of a backend as the layout sees it.
type stored struct {
	pointer  string
	markers  map[string]string                     // version -> state
	measures map[string]string                     // version -> its marker's similarity ("" for none)
	items    map[string]map[string]simstore.Entity // version ("" in place) -> item -> entity
	popular  map[string]simstore.Popular           // version -> its popular list
	users    map[string]map[string]simstore.Entity // version -> user -> list
	factors  map[string]map[string][]float64       // version -> item -> factor
	unknowns []string                              // keys outside the layout
}

func snapshot(t *testing.T, b backend, kind string) stored {
	t.Helper()
	st := stored{markers: map[string]string{}, measures: map[string]string{}, items: map[string]map[string]simstore.Entity{},
		popular: map[string]simstore.Popular{}, users: map[string]map[string]simstore.Entity{}, factors: map[string]map[string][]float64{}}
	for k, e := range b.entities(t) {
		p := strings.Split(k.Path, "/")
		switch {
		case len(p) == 2 && p[0] == kind+"Version" && p[1] == simstore.CurrentName:
			st.pointer = e.GetProperties()["version"].GetStringValue()
		case len(p) == 2 && p[0] == kind+"Version":
			st.markers[p[1]] = e.GetProperties()["state"].GetStringValue()
			st.measures[p[1]] = e.GetProperties()["similarity"].GetStringValue()
		case len(p) == 4 && p[0] == kind+"Version" && p[2] == kind:
			addList(t, st.items, p[1], p[3], e)
		case len(p) == 2 && p[0] == kind:
			addList(t, st.items, "", p[1], e)
		case len(p) == 4 && p[0] == kind+"Version" && p[2] == kind+"User":
			addList(t, st.users, p[1], p[3], e)
		case len(p) == 4 && p[0] == kind+"Version" && p[2] == kind+"Factor":
			checkUnindexed(t, p[1], p[3], e)
			var f []float64
			for _, v := range e.GetProperties()["factor"].GetArrayValue().GetValues() {
				f = append(f, v.GetDoubleValue())
			}
			if st.factors[p[1]] == nil {
				st.factors[p[1]] = map[string][]float64{}
			}
			st.factors[p[1]][p[3]] = f
		case len(p) == 4 && p[0] == kind+"Version" && p[2] == kind+"Popular" && p[3] == simstore.PopularName:
			props := e.GetProperties()
			var pop simstore.Popular
			for _, v := range props["items"].GetArrayValue().GetValues() {
				pop.Items = append(pop.Items, v.GetStringValue())
			}
			for _, v := range props["users"].GetArrayValue().GetValues() {
				pop.Users = append(pop.Users, v.GetIntegerValue())
			}
			pop.Version = props["version"].GetStringValue()
			st.popular[p[1]] = pop
		default:
			st.unknowns = append(st.unknowns, k.Path)
		}
	}
	return st
}

// addList decodes e, the list of item or user name in version, into lists.
func addList(t *testing.T, lists map[string]map[string]simstore.Entity, version, item string, e *pb.Entity) {
	t.Helper()
	var ent simstore.Entity
	props := e.GetProperties()
	for _, v := range props["items"].GetArrayValue().GetValues() {
		ent.Items = append(ent.Items, v.GetStringValue())
	}
	for _, v := range props["scores"].GetArrayValue().GetValues() {
		ent.Scores = append(ent.Scores, v.GetDoubleValue())
	}
	ent.Version = props["version"].GetStringValue()
	ent.UpdatedAt = props["updated_at"].GetTimestampValue().AsTime()
	checkUnindexed(t, version, item, e)
	if lists[version] == nil {
		lists[version] = map[string]simstore.Entity{}
	}
	lists[version][item] = ent
}

// checkUnindexed reports the indexed properties of e, item's entity in
// version: readers use lookups and ancestor queries only.
func checkUnindexed(t *testing.T, version, item string, e *pb.Entity) {
	t.Helper()
	for name, v := range e.GetProperties() {
		if !v.GetExcludeFromIndexes() && v.GetArrayValue() == nil {
			t.Errorf("%s/%s: property %q is indexed", version, item, name)
		}
		for _, el := range v.GetArrayValue().GetValues() {
			if !el.GetExcludeFromIndexes() {
				t.Errorf("%s/%s: property %q is indexed", version, item, name)
				break
			}
		}
	}
}

// checkItems compares the stored items of version v with want, exactly.
func checkItems(t *testing.T, st stored, v string, want []model.Neighbors) {
	t.Helper()
	got := st.items[v]
	if len(got) != len(want) {
		t.Errorf("version %q: %d items stored, want %d", v, len(got), len(want))
	}
	for _, n := range want {
		e, ok := got[n.Item]
		if !ok {
			t.Errorf("version %q: item %q missing", v, n.Item)
			continue
		}
		if e.Version != v {
			t.Errorf("version %q: item %q has version %q", v, n.Item, e.Version)
		}
		if len(e.Items) != len(n.Neighbors) || len(e.Scores) != len(n.Neighbors) {
			t.Errorf("version %q: item %q has %d items and %d scores, want %d", v, n.Item, len(e.Items), len(e.Scores), len(n.Neighbors))
			continue
		}
		for i, nb := range n.Neighbors {
			if e.Items[i] != nb.Item || e.Scores[i] != nb.Score {
				t.Errorf("version %q: item %q neighbour %d = (%q, %v), want (%q, %v)", v, n.Item, i, e.Items[i], e.Scores[i], nb.Item, nb.Score)
				break
			}
		}
	}
}

func checkNoViolations(t *testing.T, srv *datastoretest.Server) {
	t.Helper()
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("server saw %d limit violations, first: %s", len(v), v[0])
	}
}
