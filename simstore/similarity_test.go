package simstore

import (
	"context"
	"strings"
	"testing"

	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
)

// TestVersionSimilarity reads the measure recorded on version markers from
// the in-process server and the real emulator: the measure a marker
// records, nil for a marker that records none (an older run's), and errors
// for a malformed record or a version without a marker.
func TestVersionSimilarity(t *testing.T) {
	datastoretest.OnBoth(t, testVersionSimilarity)
}

func testVersionSimilarity(t *testing.T, addr string) {
	ctx := context.Background()
	client := datastoretest.Client(t, "p", addr)
	keys := Keys{Namespace: "ns", Kind: "Sim"}
	cooc := model.Similarity{Measure: model.Cooccurrence, Weighting: model.WeightNone, BM25K1: 100, BM25B: 0.8, Alpha: 0.5, Shrinkage: 3}
	var recorded VersionInfo
	if err := recorded.SetSimilarity(&cooc); err != nil {
		t.Fatal(err)
	}
	if want := `{"measure":"cooccurrence","user_weighting":"none","bm25_k1":100,"bm25_b":0.8,"asymmetric_alpha":0.5,"shrinkage":3}`; recorded.Similarity != want {
		t.Fatalf("recorded %s, want %s", recorded.Similarity, want)
	}
	for v, info := range map[string]VersionInfo{
		"v1":    recorded,
		"v2":    {State: StateComplete},
		"bad":   {Similarity: `{"measure":"cooccurrence","colour":"red"}`},
		"wrong": {Similarity: `{"measure":"dice","user_weighting":"none","bm25_k1":100,"bm25_b":0.8,"asymmetric_alpha":0.5}`},
	} {
		if _, err := client.Put(ctx, keys.Version(v), &info); err != nil {
			t.Fatal(err)
		}
	}
	store, err := New(client, Options{Namespace: "ns", Kind: "Sim"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := store.Similarity(ctx, "v1"); err != nil || got == nil || *got != cooc {
		t.Errorf("v1: %+v, %v; want %+v", got, err, cooc)
	}
	if got, err := store.Similarity(ctx, "v2"); err != nil || got != nil {
		t.Errorf("v2 records none: %+v, %v; want nil", got, err)
	}
	for v, want := range map[string]string{"bad": `unknown field "colour"`, "wrong": `--measure="dice"`, "v3": `version "v3" has no marker`} {
		if got, err := store.Similarity(ctx, v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %+v, %v; want an error saying %s", v, got, err, want)
		}
	}
}

// TestSetSimilarity: nil records none, and an invalid measure is refused
// rather than recorded.
func TestSetSimilarity(t *testing.T) {
	info := VersionInfo{Similarity: "old"}
	if err := info.SetSimilarity(nil); err != nil || info.Similarity != "" {
		t.Errorf("nil: %q, %v; want none recorded", info.Similarity, err)
	}
	bad := model.DefaultSimilarity()
	bad.Alpha = 2
	if err := info.SetSimilarity(&bad); err == nil || info.Similarity != "" {
		t.Errorf("alpha 2: recorded %q, %v; want an error", info.Similarity, err)
	}
}
