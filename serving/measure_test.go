package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/transforms/datastoreio"
)

// cooccurrence is a run's measure whose scores are counts.
var cooccurrence = model.Similarity{Measure: model.Cooccurrence, Weighting: model.WeightNone, BM25K1: 100, BM25B: 0.8, Alpha: 0.5}

// countModel is a co-occurrence model: a and b share 3 users, a and c 1.
func countModel() []model.Neighbors {
	return []model.Neighbors{nbs("a", nb("b", 3), nb("c", 1)), nbs("b", nb("a", 3)), nbs("c", nb("a", 1))}
}

func countsJSONL(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, l := range countModel() {
		line, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	return b.String()
}

// withSimilarity is the manifest of the files at sims and pop as they are,
// recording sim (nil: none).
func withSimilarity(t *testing.T, sims, pop string, sim *model.Similarity) string {
	t.Helper()
	var m publish.Manifest
	if err := json.Unmarshal([]byte(manifestOf(t, "run-1", sims, pop)), &m); err != nil {
		t.Fatal(err)
	}
	m.Similarity = sim
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// TestManifestMeasure: co-occurrence counts above 1 load when the run's
// manifest says its measure is co-occurrence (or an asymmetric cosine,
// also unbounded), and are refused as corrupt when the manifest records no
// measure or cosine, or when there is no manifest; a negative score is
// refused whatever the measure. A refused reload keeps the served model.
func TestManifestMeasure(t *testing.T) {
	quickRetries(t)
	dir := t.TempDir()
	sims, pop := filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "p.json")
	manifest := publish.DefaultPath(sims)
	replaceFile(t, sims, countsJSONL(t))
	replaceFile(t, pop, genPopular(1))
	s := newTestServer(t, nil)
	r := &reloader{src: fileSource{similarities: sims, popular: pop}, srv: s}
	ctx := context.Background()

	refused := `item "a": neighbour "b" has similarity 3, outside [0, 1.000000001]`
	if err := r.check(ctx); err == nil || !strings.Contains(err.Error(), refused) || s.model.Load() != nil {
		t.Fatalf("counts without a manifest: error %v, model %v; want refused", err, s.model.Load())
	}

	asymmetric := model.DefaultSimilarity()
	asymmetric.Alpha = 0.2
	for _, sim := range []model.Similarity{cooccurrence, asymmetric} {
		replaceFile(t, manifest, withSimilarity(t, sims, pop, &sim))
		if err := r.check(ctx); err != nil {
			t.Fatalf("counts under a manifest recording %+v: %v", sim, err)
		}
		m := s.model.Load()
		if got, _ := m.Similar("a", 10); m.Version() != "run-1" || len(got) != 2 || got[0] != (recommend.Scored{Item: "b", Score: 3}) {
			t.Fatalf("version %q, a's neighbours %v; want run-1 with b 3 first", m.Version(), got)
		}
		s.model.Store(nil)
	}
	good := testModel(t, "good")
	s.setModel(good)
	cosine := model.DefaultSimilarity()
	for name, sim := range map[string]*model.Similarity{"no measure": nil, "cosine": &cosine} {
		replaceFile(t, manifest, withSimilarity(t, sims, pop, sim))
		// Load whatever the stamps say: this test is about the bound, and
		// a manifest of the same size written in the same clock tick on a
		// recycled inode would look unchanged.
		r.have = false
		if err := r.check(ctx); err == nil || !strings.Contains(err.Error(), refused) || s.model.Load() != good {
			t.Errorf("counts under a manifest recording %s: error %v; want refused, the served model kept", name, err)
		}
	}

	replaceFile(t, sims, `{"item":"a","neighbors":[{"item":"b","score":-2}]}`+"\n")
	replaceFile(t, manifest, withSimilarity(t, sims, pop, &cooccurrence))
	if err := r.check(ctx); err == nil || !strings.Contains(err.Error(), `similarity -2, outside [0, +Inf)`) || s.model.Load() != good {
		t.Errorf("a negative count: error %v; want refused, the served model kept", err)
	}
}

// TestDatastoreMeasure serves a co-occurrence model from Datastore, on the
// in-process server and the real emulator.
func TestDatastoreMeasure(t *testing.T) {
	datastoretest.OnBoth(t, testDatastoreMeasure)
}

// testDatastoreMeasure: a version written by the sink with measure
// co-occurrence loads with its counts above 1; the same counts in a
// version whose marker records no measure are refused as corrupt and the
// co-occurrence version stays served.
func testDatastoreMeasure(t *testing.T, addr string) {
	ctx := context.Background()
	client := datastoretest.Client(t, testProject, addr)
	s, r := datastoreReloader(t, client)
	write := func(v string, sim *model.Similarity) {
		t.Helper()
		cfg := datastoreio.Config{Project: testProject, Endpoint: addr, Namespace: testNamespace, Kind: testKind, Version: v, Similarity: sim,
			Retry: datastoreio.Retry{MaxAttempts: 5, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, ThrottleDelay: time.Millisecond}}
		p, sc := beam.NewPipelineWithRoot()
		datastoreio.Write(sc, cfg, beam.CreateList(sc, countModel()))
		if err := ptest.Run(p); err != nil {
			t.Fatalf("writing version %s: %v", v, err)
		}
	}

	write("v1", &cooccurrence)
	if err := r.check(ctx); err != nil {
		t.Fatalf("a co-occurrence version: %v", err)
	}
	m := s.model.Load()
	if got, _ := m.Similar("a", 10); m.Version() != "v1" || len(got) != 2 || got[0] != (recommend.Scored{Item: "b", Score: 3}) {
		t.Fatalf("version %q, a's neighbours %v; want v1 with b 3 first", m.Version(), got)
	}

	write("v2", nil)
	err := r.check(ctx)
	if err == nil || !strings.Contains(err.Error(), `item "a": neighbour "b" has similarity 3, outside [0, 1.000000001]`) {
		t.Errorf("counts in a version recording no measure: %v, want refused", err)
	}
	if s.model.Load() != m {
		t.Errorf("the served model was replaced by %q", s.model.Load().Version())
	}
}
