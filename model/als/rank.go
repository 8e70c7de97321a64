package als

import (
	"slices"

	"github.com/recsys/itemsim/model"
)

// TopItems ranks every item for the user whose factor is x: items holds the
// items' factors (len(x) numbers each, in the item table's id order), seen
// the positions of the user's own items (ascending), which are left out.
// It returns the n best by xᵀy in the project's top-N order (model.Order:
// ties by the smaller position, hence the smaller id), reusing best's
// array. The job's user lists, the evaluation and the server's fold-in all
// rank through it.
func TopItems(x, items []float64, seen []int32, n int, best []model.Candidate) []model.Candidate {
	best = best[:0]
	rank := len(x)
	next := 0
	for k := int32(0); int(k)*rank < len(items); k++ {
		if next < len(seen) && seen[next] == k {
			next++
			continue
		}
		best = model.Insert(best, model.Candidate{ID: k, Score: Dot(x, items[int(k)*rank:int(k+1)*rank])}, n)
	}
	return best
}

// Seen returns the sorted distinct positions of ids in the sorted table
// ids, ids not in it left out: the seen argument of TopItems.
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
