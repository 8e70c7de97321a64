// Package exact is the single-process exact peer of the pipeline: sparse
// AᵀA on column-normalised scores, one dense accumulator per item
// (Gustavson's row-by-row product over the upper triangle), and each item's
// top N. It is the practical speed limit of the job on one machine: no
// shuffle, no sampling, plain float64, every core.
package exact

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/recsys/itemsim/bench/data"
	"github.com/recsys/itemsim/model"
)

// TopN returns every item's n most similar items by exact cosine, in item
// order, items without a neighbour left out. Ties are broken by item id,
// as in the pipeline (model.Order).
func TopN(m *data.Matrix, n int) []model.Neighbors {
	nItems := len(m.Table.Items)
	// Column-normalised values in row (user) order, and the transpose:
	// for each item, the positions of its entries in the row arrays.
	rowEnd := make([]int32, 0, m.Entries())
	cols := make([]int32, 0, m.Entries())
	vals := make([]float64, 0, m.Entries())
	sq := make([]float64, nItems)
	for r, row := range m.Rows {
		for k, i := range m.IDs[r] {
			sq[i] += row.Scores[k] * row.Scores[k]
		}
	}
	start := make([]int32, nItems+1)
	for r, row := range m.Rows {
		for k, i := range m.IDs[r] {
			cols = append(cols, i)
			vals = append(vals, row.Scores[k]/math.Sqrt(sq[i]))
			start[i+1]++
		}
		for range m.IDs[r] {
			rowEnd = append(rowEnd, int32(len(cols)))
		}
	}
	for i := 1; i <= nItems; i++ {
		start[i] += start[i-1]
	}
	trans := make([]int32, len(cols))
	fill := append([]int32(nil), start[:nItems]...)
	for k, i := range cols {
		trans[fill[i]] = int32(k)
		fill[i]++
	}

	workers := runtime.GOMAXPROCS(0)
	lists := make([][][]model.Candidate, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([][]model.Candidate, nItems) // merged at the end: no lock per pair
			dense := make([]float64, nItems)
			var touched []int32
			const chunk = 64
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= nItems {
					break
				}
				for i := lo; i < min(lo+chunk, nItems); i++ {
					touched = touched[:0]
					for _, k := range trans[start[i]:start[i+1]] {
						vi := vals[k]
						for q := k + 1; q < rowEnd[k]; q++ { // j > i: rows are sorted by id
							j := cols[q]
							if dense[j] == 0 {
								touched = append(touched, j)
							}
							dense[j] += vi * vals[q]
						}
					}
					for _, j := range touched {
						c := dense[j]
						dense[j] = 0
						own[i] = model.Insert(own[i], model.Candidate{ID: j, Score: c}, n)
						own[j] = model.Insert(own[j], model.Candidate{ID: int32(i), Score: c}, n)
					}
				}
			}
			lists[w] = own
		}()
	}
	wg.Wait()

	var out []model.Neighbors
	for i := range nItems {
		l := lists[0][i]
		for _, other := range lists[1:] {
			l = model.Merge(l, other[i], n)
		}
		if len(l) == 0 {
			continue
		}
		nb := model.Neighbors{Item: m.Table.Items[i], Neighbors: make([]model.Neighbor, len(l))}
		for k, c := range l {
			nb.Neighbors[k] = model.Neighbor{Item: m.Table.Items[c.ID], Score: c.Score}
		}
		out = append(out, nb)
	}
	return out
}
