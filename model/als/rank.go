package als

import (
	"slices"

	"github.com/recsys/itemsim/model"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Scores writes into dst (len(items)/len(x) numbers) every item's score
// xᵀy for the factor x, items holding the items' factors (len(x) numbers
// each): Y·x by gonum's BLAS, whose vectorised kernels a catalogue-wide
// scan needs (its sums associate differently from Dot's, so a score may
// differ from Dot's in the last bits).
func Scores(items, x, dst []float64) {
	rank := len(x)
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: len(dst), Cols: rank, Stride: rank, Data: items[:len(dst)*rank]},
		blas64.Vector{N: rank, Inc: 1, Data: x}, 0, blas64.Vector{N: len(dst), Inc: 1, Data: dst})
}

// Ranker ranks every item of a table for users' factors: the job's user
// lists and item neighbours, and the evaluation's rankings, all rank
// through it. It holds one goroutine's scratch.
type Ranker struct {
	items  []float64
	scores []float64
	best   []model.Candidate
}

// NewRanker ranks the items whose factors are items, rank numbers each,
// in the item table's id order.
func NewRanker(items []float64, rank int) *Ranker {
	return &Ranker{items: items, scores: make([]float64, len(items)/rank)}
}

// Top returns the n best items for the factor x by Scores in the
// project's top-N order (model.Order: ties by the smaller position, hence
// the smaller id), leaving out seen, the positions of the user's own items
// (ascending). The list is valid until the next call.
func (r *Ranker) Top(x []float64, seen []int32, n int) []model.Candidate {
	Scores(r.items, x, r.scores)
	best := r.best[:0]
	next := 0
	for k, s := range r.scores {
		if next < len(seen) && int(seen[next]) == k {
			next++
			continue
		}
		c := model.Candidate{ID: int32(k), Score: s}
		// Most candidates lose to the current n-th: reject them inline.
		if len(best) == n && c.Compare(best[n-1]) >= 0 {
			continue
		}
		best = model.Insert(best, c, n)
	}
	r.best = best
	return best
}

// Seen returns the sorted distinct positions of ids in the sorted table
// ids, ids not in it left out: the seen argument of Ranker.Top.
func Seen(table []string, ids []string) []int32 {
	seen := make([]int32, 0, len(ids))
	for _, id := range ids {
		if k, ok := slices.BinarySearch(table, id); ok {
			seen = append(seen, int32(k))
		}
	}
	slices.Sort(seen)
	return slices.Compact(seen)
}
