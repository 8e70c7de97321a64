// Package dimsum estimates item-item cosine similarities from per-user score
// rows with DIMSUM (Zadeh & Goel, "Dimension Independent Matrix Square using
// MapReduce"), as Spark MLlib's columnSimilarities does, exactly when the
// threshold is 0.
//
// Scores are divided by a bound B on them (the paper's guarantee assumes
// entries in [0, 1]; cosine is unchanged): the scoring clip when scores are
// clipped, else their maximum. With column norms ‖c_i‖ and
// sg = sqrt(10·ln(n)/threshold), entry (u, i) is kept with probability
// min(1, sg/‖c_i‖), drawn from a hash of (seed, user, item), and every pair
// i < j of a user's kept entries adds
//
//	(a_ui / min(sg, ‖c_i‖)) · (a_uj / min(sg, ‖c_j‖))
//
// to the pair's sum, whose expectation is the cosine. Every sum (the norms'
// squares and the pairs' products) is exact (internal/exactsum), so the
// output does not depend on bundling, and a column's norm is positive
// whenever one of its scores is: an exact-mode cosine never exceeds 1 by
// more than the rounding of its terms. Each divisor min(sg, ‖c_i‖)·B is
// split into a power of two, applied to the entry (exactly: the product
// keeps the few significant bits of scores such as 0.5, 2 and 6, so the
// shuffled sums stay a few bytes long), and a residual in [0.5, 1) that
// divides the pair's sum once, when its partial sums are merged.
//
// The same pass computes the other measures of model.Similarity exactly
// (Config.Params): a binary measure (Jaccard, log-likelihood, lift,
// co-occurrence) counts 1 per entry, so a pair's exact sum is its
// co-occurrence count c_ij, scored from the table's margins c_i and U;
// corating sums the minimum of the pair's raw scores instead of their
// product and divides by the table's exact score totals;
// cosine's shrinkage counts each pair's users beside its sum; the
// asymmetric cosine rescales the cosine by the norms in each direction
// (Row.R); a user weighting rewrites the rows before the table (Pairs).
//
// The plain-Go parts (Draw, Params, Accumulator, Merger) hold the math and
// the hot loop; Pairs, Table and Similarities are the Beam wrappers.
package dimsum

import (
	"math"

	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/model"
)

// ItemTable is the item dictionary shared with every worker as a side
// input: item ids ascending (an item's compact id is its position), the
// norm of its column of raw scores, and the scale B.
type ItemTable struct {
	Items []string
	// Norms are the columns' norms before scaling, ‖x_i‖ = B·‖c_i‖, from
	// exact sums of exact squares: positive whenever a score is, however
	// small (a square of a tiny score would underflow in float64).
	Norms []float64
	Scale float64
	// Counts are the users who have each item (c_i), Users the users with
	// a row (U): the co-occurrence measures' margins.
	Counts []int64
	Users  int64
	// Totals are the exact sums of each item's scores (BM25's lengths).
	Totals []float64
}

// Index maps each item id to its compact id (its position).
func (t *ItemTable) Index() map[string]int32 {
	index := make(map[string]int32, len(t.Items))
	for i, item := range t.Items {
		index[item] = int32(i)
	}
	return index
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
	// Keep is each item's keep probability min(1, sg/‖c_i‖), 0 for an item
	// whose norm is not positive and finite (it gets no neighbours; the
	// table step counts such items in dimsum/zero_norm_items).
	Keep []float64
	// Each item's divisor min(sg, ‖c_i‖)·B is Residual·2^Shift, Residual
	// in [0.5, 1): an entry's contribution factor is its raw score times
	// 2^-Shift, exact, and a pair's sum of products is divided by both
	// items' residuals (Similarity).
	Residual []float64
	Shift    []int

	// sim is the measure the pair sums are scored by, and table its
	// margins; counts scores a binary measure, whose entries count 1.
	sim    model.Similarity
	table  *ItemTable
	counts *model.CountScorer
}

// setDivisor stores item i's divisor as its residual and shift.
func (p Params) setDivisor(i int, divisor float64) {
	p.Residual[i], p.Shift[i] = math.Frexp(divisor)
}

// Similarity is the cosine estimate of pair (i, j) from the exact sum of
// its contribution products, rounded to float64.
func (p Params) Similarity(i, j int32, sum float64) float64 {
	return sum / (p.Residual[i] * p.Residual[j])
}

// Symmetric reports whether the measure gives s_ij = s_ji.
func (p Params) Symmetric() bool { return p.table == nil || p.sim.Symmetric() }

// Scores are pair (i, j)'s scores s_ij and s_ji under the measure, from
// the exact sum of its contributions and, when counted, its users: a
// binary measure's sum is its co-occurrence count c_ij.
func (p Params) Scores(i, j int32, sum float64, users int64) (ij, ji float64) {
	switch {
	case p.table == nil: // plain cosine
		s := p.Similarity(i, j, sum)
		return s, s
	case p.counts != nil:
		return p.counts.Scores(i, j, sum)
	case p.sim.Measure == model.Corating:
		s := p.sim.FromCorating(sum, p.table.Totals[i], p.table.Totals[j], float64(users))
		return s, s
	}
	return p.sim.FromCosine(p.Similarity(i, j, sum), p.table.Norms[i], p.table.Norms[j], float64(users))
}

// Params are the parameters of a table under the configured measure:
// NewParams' sampling for cosine; every entry kept, counting 1 for a
// binary measure and its raw score for corating (Validate allows no
// threshold there).
func (c Config) Params(t *ItemTable) Params {
	sim := c.similarity()
	if sim.Measure == model.Cosine && sim.Alpha == 0.5 && sim.Shrinkage == 0 {
		return NewParams(*t, c.Threshold) // the weighting is in the rows
	}
	if sim.Measure == model.Cosine {
		p := NewParams(*t, c.Threshold)
		p.sim, p.table = sim, t
		return p
	}
	n := len(t.Items)
	p := Params{Keep: make([]float64, n), Residual: make([]float64, n), Shift: make([]int, n), sim: sim, table: t}
	if sim.Measure.Binary() {
		p.counts = sim.NewCountScorer(t.Counts, t.Users)
	}
	for i := range n {
		p.Keep[i], p.Residual[i] = 1, 1
	}
	return p
}

// NewParams computes the sampling parameters of a table at a threshold.
// In raw units an item is sampled when ‖x_i‖ > sg·B; comparing there, not
// after dividing by B, keeps tiny and huge norms exact.
func NewParams(t ItemTable, threshold float64) Params {
	sgB := Oversampling(threshold, len(t.Items)) * t.Scale
	n := len(t.Items)
	p := Params{Keep: make([]float64, n), Residual: make([]float64, n), Shift: make([]int, n)}
	for i, norm := range t.Norms {
		switch {
		case !usableNorm(norm):
			p.Keep[i] = 0
			p.setDivisor(i, 1)
		case norm <= sgB:
			p.Keep[i] = 1
			p.setDivisor(i, norm)
		default:
			p.Keep[i] = sgB / norm
			p.setDivisor(i, sgB)
		}
	}
	return p
}

// usableNorm reports whether a column norm can divide: positive and finite.
func usableNorm(norm float64) bool { return norm > 0 && !math.IsInf(norm, 1) }

// Draw returns a uniform number in [0, 1) determined by (seed, user, item)
// alone, so a sampled entry is the same on every run, runner and bundling.
func Draw(seed uint64, user, item string) float64 { return idhash.Uniform(seed, user, item) }

// Sample appends one user's kept entries to keptIDs and keptVals: ids are
// the row's items' compact ids (ascending, aligned with items and the raw
// scores), and a kept entry's value is its contribution factor
// score·2^-Shift. An entry is kept with probability Keep, decided by Draw.
func (p Params) Sample(seed uint64, user string, items []string, ids []int32, scores []float64,
	keptIDs []int32, keptVals []float64) ([]int32, []float64) {
	for k, i := range ids {
		if keep := p.Keep[i]; keep < 1 && Draw(seed, user, items[k]) >= keep {
			continue
		}
		keptIDs = append(keptIDs, i)
		if p.counts != nil {
			keptVals = append(keptVals, p.sim.EntryValue(len(items)))
			continue
		}
		keptVals = append(keptVals, math.Ldexp(scores[k], -p.Shift[i]))
	}
	return keptIDs, keptVals
}
