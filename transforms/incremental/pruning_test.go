package incremental

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/recsys/itemsim/model"
)

// TestPruning drives a stream bucket by bucket with every changed list
// rescored under Hoeffding pruning (δ = 0.05), and checks at every bucket,
// against the batch model from the definitions:
//   - pruning only removes: each list equals the exact top n over the pairs
//     the model still tracks (their counts stay exact), and the co-raters it
//     counts for every pair, tracked or pruned, are the true ones;
//   - it prunes: hundreds of pairs over the stream (532 with this seed);
//   - the top-n recall against the exact model, over every list at every
//     bucket, is at least 0.97 (0.9894 with this seed). The bound holds for
//     a pair's limit in a stationary stream; a sliding window moves the
//     limits, so recall is measured, not promised.
//
// Without pruning nothing is: TestStreamEqualsBatch.
func TestPruning(t *testing.T) {
	w := Window{Length: 30, Slice: 10, Emit: 2, Lateness: 6}
	const clip, n, span = 6, 5, 100
	p := Pruning{Delta: 0.05}
	r := rand.New(rand.NewPCG(3, 7))
	events := randomEvents(r, 60000, 1000, 40, span)
	byBucket := map[int64][]event{}
	for _, e := range events {
		end := w.BucketEnd(e.Time)
		byBucket[end] = append(byBucket[end], e)
	}
	s := newStream(w, clip)
	var pruned, listed, found, compared int
	for end := w.Emit; end <= span+w.Length+w.Emit; end += w.Emit {
		for _, e := range byBucket[end] {
			s.add(e)
		}
		s.advance(end)
		for _, i := range s.items.Changed(nil) {
			_, out := s.items.Rescore(i, n, p)
			pruned += len(out)
		}
		exact, coRaters := referenceScores(s.accepted, w.Since(end), end, clip)
		tracked := 0
		for i, all := range exact {
			var kept []model.Neighbor
			for _, c := range all {
				if _, gone := s.items.pruned[i][c.Item]; !gone {
					kept = append(kept, c)
				}
			}
			got := s.items.Neighbors(i, n)
			if want := kept[:min(n, len(kept))]; !equalLists(got, want) {
				t.Fatalf("bucket end %d: item %s: %v, the exact top %d of its tracked pairs %v", end, i, got, n, want)
			}
			for _, c := range all[:min(n, len(all))] {
				if slices.ContainsFunc(got, func(g model.Neighbor) bool { return g.Item == c.Item }) {
					found++
				}
				listed++
			}
			compared++
		}
		for i, row := range s.items.pairs {
			for j, c := range row {
				if c.users != coRaters[[2]string{i, j}] {
					t.Fatalf("bucket end %d: pair (%s, %s) tracked with %d co-raters, %d true", end, i, j, c.users, coRaters[[2]string{i, j}])
				}
				tracked++
			}
		}
		for i, row := range s.items.pruned {
			for j, users := range row {
				if users != coRaters[[2]string{i, j}] {
					t.Fatalf("bucket end %d: pruned pair (%s, %s) counted with %d co-raters, %d true", end, i, j, users, coRaters[[2]string{i, j}])
				}
				tracked++
			}
		}
		if tracked != len(coRaters) {
			t.Fatalf("bucket end %d: %d pairs tracked or pruned, %d in the window", end, tracked, len(coRaters))
		}
	}
	recall := float64(found) / float64(listed)
	t.Logf("%d lists compared, %d pairs pruned, top-%d recall %.4f (%d of %d)", compared, pruned, n, recall, found, listed)
	if pruned < 300 || compared < 1000 {
		t.Errorf("%d pairs pruned over %d lists: want at least 300 and 1000", pruned, compared)
	}
	if recall < 0.97 {
		t.Errorf("top-%d recall %.4f: want at least 0.97", n, recall)
	}
	if len(s.items.pairs) != 0 || len(s.items.pruned) != 0 || len(s.items.partners) != 0 {
		t.Errorf("after the window passed: %d pair rows, %d pruned rows, %d partner rows left", len(s.items.pairs), len(s.items.pruned), len(s.items.partners))
	}
}
