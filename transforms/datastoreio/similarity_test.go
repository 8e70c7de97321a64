package datastoreio

import (
	"context"
	"strings"
	"testing"

	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
)

func TestWriteSimilarity(t *testing.T) { testWriteSimilarity(t, fake(newServer(t))) }

// testWriteSimilarity publishes a version scored by co-occurrence and one
// whose config names no measure: the first's marker records the measure as
// its JSON, written when the version begins and kept by the publish
// transaction, and a reader gets it back through simstore; the second's
// records none, which readers take for cosine.
func testWriteSimilarity(t *testing.T, b backend) {
	cooc := model.Similarity{Measure: model.Cooccurrence, Weighting: model.WeightNone, BM25K1: 100, BM25B: 0.8, Alpha: 0.5}
	cfg := testConfig(b, "v1")
	cfg.Similarity = &cooc
	if err := runWrite(cfg, neighbors(itemIDs("item-", 0, 20), 3, 7)); err != nil {
		t.Fatal(err)
	}
	if err := runWrite(testConfig(b, "v2"), neighbors(itemIDs("item-", 0, 20), 3, 0)); err != nil {
		t.Fatal(err)
	}
	st := snapshot(t, b, simstore.DefaultKind)
	want := map[string]string{
		"v1": `{"measure":"cooccurrence","user_weighting":"none","bm25_k1":100,"bm25_b":0.8,"asymmetric_alpha":0.5,"shrinkage":0}`,
		"v2": "",
	}
	for v, w := range want {
		if st.markers[v] != simstore.StateComplete || st.measures[v] != w {
			t.Errorf("marker of %s: state %q, similarity %q; want complete and %q", v, st.markers[v], st.measures[v], w)
		}
	}
	store, err := simstore.New(datastoretest.Client(t, testProject, b.addr), simstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, err := store.Similarity(ctx, "v1"); err != nil || got == nil || *got != cooc {
		t.Errorf("v1 read back: %+v, %v; want %+v", got, err, cooc)
	}
	if got, err := store.Similarity(ctx, "v2"); err != nil || got != nil {
		t.Errorf("v2 read back: %+v, %v; want none", got, err)
	}
}

// TestConfigRejectsSimilarity: an invalid measure fails Validate, before
// anything is written.
func TestConfigRejectsSimilarity(t *testing.T) {
	bad := model.Similarity{Measure: model.Jaccard, Weighting: model.WeightIDF, BM25K1: 100, BM25B: 0.8, Alpha: 0.5}
	if err := (Config{Project: "p", Similarity: &bad}).Validate(); err == nil || !strings.Contains(err.Error(), "similarity: --measure=jaccard counts co-occurrences") {
		t.Errorf("jaccard with idf weighting: %v", err)
	}
	good := model.DefaultSimilarity()
	if err := (Config{Project: "p", Similarity: &good}).Validate(); err != nil {
		t.Errorf("cosine: %v", err)
	}
}
