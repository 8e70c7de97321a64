// Package sampling runs DIMSUM's library code (transforms/dimsum: NewParams,
// Sample, Accumulator, Merger) in one process over a whole matrix, to get
// every pair's estimate exactly as the pipeline computes it, and gives the
// theory's expectation and variance of the number of emitted pairs.
//
// # Emitted pairs: mean and variance
//
// A user u with items i = 1..L keeps entry i independently with
// probability p_i = min(1, sg/‖c_i‖). With X_i the keep indicators and
// K = Σ X_i, the user emits C_u = K(K−1)/2 = e2(X) pairs, the second
// elementary symmetric polynomial of the X_i. Writing e2(x) = ((Σx)² − Σx²)/2:
//
//	E[C_u]   = e2(p)
//	Var[C_u] = Σ_{i<j} p_i p_j (1 − p_i p_j)  +  Σ_i p_i (1 − p_i) · 2·e2(p without i)
//	         = e2(p) − e2(p²)                 +  Σ_i p_i (1 − p_i) · (S_i² − Q_i)
//
// where S_i = Σ_{j≠i} p_j and Q_i = Σ_{j≠i} p_j². The first term is the
// variance of each pair's indicator X_i X_j; the second their covariances:
// two distinct pairs are correlated only when they share one item i, with
// Cov(X_i X_j, X_i X_l) = p_i (1 − p_i) p_j p_l, and each unordered {j, l}
// (j, l ≠ i) gives two ordered pairs of pairs. Pairs sharing no item are
// independent. Users draw independently, so the totals are the sums over
// users.
package sampling

import (
	"github.com/recsys/itemsim/bench/data"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
)

// Counts are the pipeline's DIMSUM counters for one run.
type Counts struct {
	PairsEmitted   int64
	EntriesKept    int64
	EntriesDropped int64
	DistinctPairs  int64
}

// Estimate samples every row with the pipeline's parameters at threshold
// and seed, sums the pairs with the library's Accumulator and Merger, and
// calls visit with each item's final row (pairs i < j, j ascending), items
// ascending. The sums are fixed point, so a single flush gives the same
// bits as the pipeline's bundles.
func Estimate(m *data.Matrix, threshold float64, seed uint64, visit func(i int32, row dimsum.Row)) Counts {
	acc := dimsum.NewAccumulator(len(m.Table.Items), dimsum.DefaultGoroutines(), model.Cosine, false)
	c := sample(m, threshold, seed, func(ids []int32, vals []float64) int { return acc.Add(ids, vals) })
	params := dimsum.NewParams(m.Table, threshold)
	var merger dimsum.Merger
	acc.Flush(func(i int32, p dimsum.PartialRow) {
		done := false
		row := merger.Merge(params, i, func(dst *dimsum.PartialRow) bool {
			if done {
				return false
			}
			*dst, done = p, true
			return true
		})
		c.DistinctPairs += int64(len(row.J))
		visit(i, row)
	})
	return c
}

// Count is Estimate's counters without the pair sums (DistinctPairs is 0):
// the sampling alone, cheap on large inputs.
func Count(m *data.Matrix, threshold float64, seed uint64) Counts {
	return sample(m, threshold, seed, func(ids []int32, _ []float64) int {
		return len(ids) * (len(ids) - 1) / 2 // what Accumulator.Add returns
	})
}

// sample draws every row's kept entries as the pipeline does and hands
// them to add, which returns the pairs they make.
func sample(m *data.Matrix, threshold float64, seed uint64, add func(ids []int32, vals []float64) int) Counts {
	params := dimsum.NewParams(m.Table, threshold)
	var c Counts
	var ids []int32
	var vals []float64
	for r, row := range m.Rows {
		ids, vals = params.Sample(seed, row.User, row.Items, m.IDs[r], row.Scores, ids[:0], vals[:0])
		c.EntriesKept += int64(len(ids))
		c.EntriesDropped += int64(len(row.Items) - len(ids))
		c.PairsEmitted += int64(add(ids, vals))
	}
	return c
}

// Moments are the expectation and variance of the number of emitted pairs.
type Moments struct {
	Mean, Var float64
}

// PairMoments returns the moments of the pairs DIMSUM emits over m at
// threshold (see the package comment for the formula).
func PairMoments(m *data.Matrix, threshold float64) Moments {
	keep := dimsum.NewParams(m.Table, threshold).Keep
	var total Moments
	var p []float64
	for _, ids := range m.IDs {
		p = p[:0]
		for _, i := range ids {
			p = append(p, keep[i])
		}
		u := UserMoments(p)
		total.Mean += u.Mean
		total.Var += u.Var
	}
	return total
}

// UserMoments returns the moments of e2 of independent Bernoulli(p_i)
// indicators.
func UserMoments(p []float64) Moments {
	var s, q, q2 float64 // Σp, Σp², Σp⁴
	for _, x := range p {
		s += x
		q += x * x
		q2 += x * x * x * x
	}
	e2 := (s*s - q) / 2
	v := e2 - (q*q-q2)/2 // e2(p) − e2(p²)
	for _, x := range p {
		si, qi := s-x, q-x*x
		v += x * (1 - x) * (si*si - qi)
	}
	return Moments{Mean: e2, Var: v}
}
