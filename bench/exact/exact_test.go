package exact_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/recsys/itemsim/bench/data"
	"github.com/recsys/itemsim/bench/exact"
	"github.com/recsys/itemsim/bench/sampling"
	"github.com/recsys/itemsim/bench/synth"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
)

// TestTopNMatchesLibraryExact checks the peer's lists against the top N
// of DIMSUM's exact mode (threshold 0) on a synthetic log: same neighbours
// up to exact ties, scores within 1e-12.
func TestTopNMatchesLibraryExact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "synth.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.Write(f, synth.Config{Interactions: 30_000, Items: 500, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := data.LoadSource(data.Source{Path: path, Format: "csv", Header: true, User: "user", Item: "productSku",
		Action: "type", Weights: "1:0.5,2:2,3:6"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	want := make([][]model.Candidate, len(m.Table.Items))
	sampling.Estimate(m, 0, 1, func(i int32, row dimsum.Row) {
		for k, j := range row.J {
			want[i] = model.Insert(want[i], model.Candidate{ID: j, Score: row.S[k]}, n)
			want[j] = model.Insert(want[j], model.Candidate{ID: i, Score: row.S[k]}, n)
		}
	})
	got := exact.TopN(m, n)
	withList := 0
	for _, l := range want {
		if len(l) > 0 {
			withList++
		}
	}
	if len(got) != withList {
		t.Fatalf("%d items with neighbours, want %d", len(got), withList)
	}
	id := map[string]int32{}
	for i, it := range m.Table.Items {
		id[it] = int32(i)
	}
	for _, g := range got {
		w := want[id[g.Item]]
		if len(g.Neighbors) != len(w) {
			t.Fatalf("item %s: %d neighbours, want %d", g.Item, len(g.Neighbors), len(w))
		}
		for k, nb := range g.Neighbors {
			if math.Abs(nb.Score-w[k].Score) > 1e-12 {
				t.Fatalf("item %s rank %d: score %v, want %v", g.Item, k, nb.Score, w[k].Score)
			}
			if nb.Item != m.Table.Items[w[k].ID] && math.Abs(w[k].Score-w[min(k+1, len(w)-1)].Score) > 1e-12 &&
				math.Abs(w[k].Score-w[max(k-1, 0)].Score) > 1e-12 {
				t.Errorf("item %s rank %d: neighbour %s, want %s (not a tie)", g.Item, k, nb.Item, m.Table.Items[w[k].ID])
			}
		}
	}
}
