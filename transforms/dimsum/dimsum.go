// Package dimsum estimates item-item cosine similarities from per-user score
// rows with DIMSUM (Zadeh & Goel, "Dimension Independent Matrix Square using
// MapReduce"), as Spark MLlib's columnSimilarities does, exactly when the
// threshold is 0.
//
// Scores are first divided by a bound B on them (the paper's guarantee
// assumes entries in [0, 1]; cosine is unchanged): the scoring clip when
// scores are clipped, else their maximum. With column norms ‖c_i‖ and
// sg = sqrt(10·ln(n)/threshold), entry (u, i) is kept with probability
// min(1, sg/‖c_i‖), drawn from a hash of (seed, user, item), and every pair
// i < j of a user's kept entries adds
//
//	(a_ui / min(sg, ‖c_i‖)) · (a_uj / min(sg, ‖c_j‖))
//
// to the pair's sum, whose expectation is the cosine. Sums are fixed point
// (internal/exactsum), so the output does not depend on bundling.
//
// The plain-Go parts (Draw, Params, Accumulator, Merger) hold the math and
// the hot loop; Similarities is the Beam wrapper.
package dimsum

import (
	"math"
)

// ItemTable is the item dictionary shared with every worker as a side
// input: item ids ascending (an item's compact id is its position), the
// norm of its column in the scaled matrix, and the scale B.
type ItemTable struct {
	Items []string
	Norms []float64
	Scale float64
}

// Oversampling returns sg = sqrt(10·ln(n)/threshold), +Inf for threshold 0.
func Oversampling(threshold float64, nItems int) float64 {
	if threshold <= 0 {
		return math.Inf(1)
	}
	return math.Sqrt(10 * math.Log(float64(nItems)) / threshold)
}

// Params are the per-item sampling parameters for one table.
type Params struct {
	// Keep is each item's keep probability min(1, sg/‖c_i‖).
	Keep []float64
	// Divisor is each item's min(sg, ‖c_i‖) times the scale B, so an entry's
	// contribution factor is raw score / Divisor.
	Divisor []float64
}

// NewParams computes the sampling parameters of a table at a threshold.
func NewParams(t ItemTable, threshold float64) Params {
	sg := Oversampling(threshold, len(t.Items))
	p := Params{Keep: make([]float64, len(t.Items)), Divisor: make([]float64, len(t.Items))}
	for i, norm := range t.Norms {
		p.Keep[i] = math.Min(1, sg/norm)
		p.Divisor[i] = math.Min(sg, norm) * t.Scale
	}
	return p
}

// Draw returns a uniform number in [0, 1) determined by (seed, user, item)
// alone, so a sampled entry is the same on every run, runner and bundling.
func Draw(seed uint64, user, item string) float64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037) ^ seed
	h *= prime
	for i := 0; i < len(user); i++ {
		h = (h ^ uint64(user[i])) * prime
	}
	h = (h ^ 0xff) * prime // separator: ("ab","c") and ("a","bc") differ
	for i := 0; i < len(item); i++ {
		h = (h ^ uint64(item[i])) * prime
	}
	// splitmix64 finaliser: FNV's low-entropy high bits are mixed in.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) * 0x1p-53
}

// Sample appends one user's kept entries to keptIDs and keptVals: ids are
// the row's items' compact ids (ascending, aligned with items and the raw
// scores), and a kept entry's value is its contribution factor
// score / Divisor. An entry is kept with probability Keep, decided by Draw.
func (p Params) Sample(seed uint64, user string, items []string, ids []int32, scores []float64,
	keptIDs []int32, keptVals []float64) ([]int32, []float64) {
	for k, i := range ids {
		if keep := p.Keep[i]; keep < 1 && Draw(seed, user, items[k]) >= keep {
			continue
		}
		keptIDs = append(keptIDs, i)
		keptVals = append(keptVals, scores[k]/p.Divisor[i])
	}
	return keptIDs, keptVals
}
