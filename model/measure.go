package model

import (
	"fmt"
	"math"
	"strings"
)

// Measure names an item-item similarity measure (the jobs' --measure).
type Measure string

// The measures. Cosine and Corating work on the users' scores; the others
// on binary co-occurrence: c_i users have item i, c_ij have both i and j,
// of U users.
const (
	Cosine Measure = "cosine" // Σ_u a_ui·a_uj / (‖a_i‖·‖a_j‖)
	// Corating is TencentRec's real-time item-based CF measure (Huang et
	// al., SIGMOD 2015): Σ_u min(a_ui, a_uj) / sqrt(Σ_u a_ui · Σ_u a_uj),
	// the pair's co-rating count over the items' rating counts
	// (CoratingScore). Its sums only add and subtract, so a stream can keep
	// them up to date event by event (pipelines/realtime).
	Corating     Measure = "corating"
	Jaccard      Measure = "jaccard"      // c_ij / (c_i + c_j − c_ij)
	LLR          Measure = "llr"          // 1 − 1/(1 + LLR), Mahout's log-likelihood similarity
	Lift         Measure = "lift"         // c_ij / (c_i·c_j), as Microsoft's SAR
	Cooccurrence Measure = "cooccurrence" // c_ij
	// RP3Beta is Paudel et al.'s random walk i → u → j, P³ with its
	// popularity penalty: (1/c_i)·Σ_{u has i, j} (1/n_u) / c_j^β in item
	// i's list, n_u the user's items. Asymmetric.
	RP3Beta Measure = "rp3beta"
)

// Measures lists every measure, the default first.
var Measures = []Measure{Cosine, Jaccard, LLR, Lift, Cooccurrence, RP3Beta, Corating}

// Binary reports whether the measure counts co-occurrences (weighted by
// the user's items for RP3Beta) instead of combining scores.
func (m Measure) Binary() bool { return m != Cosine && m != Corating }

// SumsMinima reports whether a user adds to a pair's sum the minimum of its
// two entries (Corating's co-rating) instead of their product.
func (m Measure) SumsMinima() bool { return m == Corating }

// CoratingScore is Corating's similarity of a pair whose co-ratings sum to
// pair, of items whose ratings sum to totalI and totalJ; 0 when either
// total is not positive (an item nobody rates has no neighbours). It is
// at most 1: pair ≤ min(totalI, totalJ).
func CoratingScore(pair, totalI, totalJ float64) float64 {
	if !(totalI > 0 && totalJ > 0) {
		return 0
	}
	return pair / math.Sqrt(totalI*totalJ)
}

// UserWeighting names how a user's scores are weighted before cosine
// (the jobs' --user_weighting): users who touch many items say less about
// each pair, as in benfred/implicit's TF-IDF and BM25 recommenders.
type UserWeighting string

// The user weightings.
const (
	WeightNone UserWeighting = "none"
	// WeightIDF multiplies user u's scores by IDF(N, n_u).
	WeightIDF UserWeighting = "idf"
	// WeightBM25 turns score a_ui into a·(k1+1)/(k1·L_i + a)·IDF(N, n_u),
	// with item i's length L_i = 1 − b + b·t_i/t̄ (t_i the sum of its
	// scores, t̄ their mean over items).
	WeightBM25 UserWeighting = "bm25"
)

// UserWeightings lists every user weighting, the default first.
var UserWeightings = []UserWeighting{WeightNone, WeightIDF, WeightBM25}

// BM25's defaults, as benfred/implicit's bm25_weight.
const (
	DefaultBM25K1 = 100
	DefaultBM25B  = 0.8
)

// IDF is the inverse document frequency of a user with n of the N items,
// Lucene's smoothed ln(1 + (N − n + 0.5)/(n + 0.5)): positive for every
// n ≤ N, so no user's scores change sign or vanish.
func IDF(items, n int) float64 {
	return math.Log1p((float64(items) - float64(n) + 0.5) / (float64(n) + 0.5))
}

// BM25 is the BM25 weight of score a on an item of length ratio
// lengthRatio = t_i/t̄, before the user's IDF.
func BM25(a, lengthRatio, k1, b float64) float64 {
	return a * (k1 + 1) / (k1*(1-b+b*lengthRatio) + a)
}

// Similarity is a measure and its knobs.
type Similarity struct {
	Measure Measure `json:"measure"`
	// Weighting applies to cosine only.
	Weighting UserWeighting `json:"user_weighting"`
	// BM25K1 and BM25B are BM25's knobs (Weighting bm25).
	BM25K1 float64 `json:"bm25_k1"`
	BM25B  float64 `json:"bm25_b"`
	// Alpha makes cosine asymmetric (Aiolli):
	// s_ij = dot_ij / (‖a_i‖^(2α)·‖a_j‖^(2(1−α))); 0.5 is cosine.
	Alpha float64 `json:"asymmetric_alpha"`
	// Shrinkage λ multiplies a similarity by n_ij/(n_ij + λ), n_ij the
	// users who have both items: pairs seen by few users count less.
	Shrinkage float64 `json:"shrinkage"`
	// Beta is RP3Beta's popularity penalty β.
	Beta float64 `json:"rp3_beta,omitempty"`
}

// DefaultRP3Beta is --rp3_beta's default.
const DefaultRP3Beta = 0.5

// DefaultSimilarity is plain cosine: the jobs' defaults.
func DefaultSimilarity() Similarity {
	return Similarity{Measure: Cosine, Weighting: WeightNone, BM25K1: DefaultBM25K1, BM25B: DefaultBM25B, Alpha: 0.5, Beta: DefaultRP3Beta}
}

// OrDefault is s, or DefaultSimilarity for the zero value (a config that
// names no measure means cosine).
func (s Similarity) OrDefault() Similarity {
	if s.Measure == "" {
		return DefaultSimilarity()
	}
	return s
}

// ParseMeasure reads a --measure value.
func ParseMeasure(s string) (Measure, error) {
	for _, m := range Measures {
		if s == string(m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("--measure=%q: want one of %s", s, joined(Measures))
}

// ParseUserWeighting reads a --user_weighting value.
func ParseUserWeighting(s string) (UserWeighting, error) {
	for _, w := range UserWeightings {
		if s == string(w) {
			return w, nil
		}
	}
	return "", fmt.Errorf("--user_weighting=%q: want one of %s", s, joined(UserWeightings))
}

func joined[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for k, v := range vs {
		s[k] = string(v)
	}
	return strings.Join(s, ", ")
}

// Validate reports knobs that do not fit the measure, or a sampled run
// (threshold > 0) of anything but cosine's estimate, in terms of the flags.
func (s Similarity) Validate(threshold float64) error {
	if _, err := ParseMeasure(string(s.Measure)); err != nil {
		return err
	}
	if _, err := ParseUserWeighting(string(s.Weighting)); err != nil {
		return err
	}
	switch {
	case !(s.Alpha >= 0 && s.Alpha <= 1):
		return fmt.Errorf("--asymmetric_alpha=%v: want a number in [0, 1] (0.5 is cosine)", s.Alpha)
	case !(s.Shrinkage >= 0) || math.IsInf(s.Shrinkage, 1):
		return fmt.Errorf("--shrinkage=%v: want a number >= 0 (0 disables it)", s.Shrinkage)
	case !(s.BM25K1 > 0) || math.IsInf(s.BM25K1, 1):
		return fmt.Errorf("--bm25_k1=%v: want a number > 0", s.BM25K1)
	case !(s.BM25B >= 0 && s.BM25B <= 1):
		return fmt.Errorf("--bm25_b=%v: want a number in [0, 1]", s.BM25B)
	case s.Measure == RP3Beta && !(s.Beta >= 0 && s.Beta <= 2):
		return fmt.Errorf("--rp3_beta=%v: want a number in [0, 2]", s.Beta)
	case s.Measure == RP3Beta && s.Shrinkage > 0:
		return fmt.Errorf("--shrinkage applies to counts and cosine: rp3beta sums 1/n_u, not users")
	case s.Measure.Binary() && (s.Weighting != WeightNone || s.Alpha != 0.5):
		return fmt.Errorf("--measure=%s counts co-occurrences: --user_weighting and --asymmetric_alpha apply to cosine only", s.Measure)
	case s.Measure == Corating && (s.Weighting != WeightNone || s.Alpha != 0.5):
		return fmt.Errorf("--measure=corating sums the ratings' minima as the stream does: --user_weighting and --asymmetric_alpha apply to cosine only")
	case threshold > 0 && s.Measure != Cosine:
		return fmt.Errorf("--threshold=%v samples by DIMSUM, which estimates cosine only: use --threshold=0 with --measure=%s", threshold, s.Measure)
	case threshold > 0 && (s.Alpha != 0.5 || s.Shrinkage > 0):
		return fmt.Errorf("--threshold=%v samples by DIMSUM, which estimates plain cosine only: use --threshold=0 with --asymmetric_alpha or --shrinkage", threshold)
	}
	return nil
}

// Symmetric reports whether s_ij = s_ji.
func (s Similarity) Symmetric() bool {
	if s.Measure != Cosine {
		return s.Measure != RP3Beta
	}
	return s.Alpha == 0.5
}

// EntryValue is what an entry of a user with n items contributes to a
// binary measure's pair sums, as a factor of each side of a product: 1,
// or 1/√n for RP3Beta, whose pair sum is Σ_u 1/n_u.
func (s Similarity) EntryValue(n int) float64 {
	if s.Measure == RP3Beta {
		return 1 / math.Sqrt(float64(n))
	}
	return 1
}

// NeedsPairCounts reports whether the pairs' user counts n_ij must be
// summed beside their sums (cosine and corating with shrinkage; a binary
// measure's sum is its count).
func (s Similarity) NeedsPairCounts() bool { return !s.Measure.Binary() && s.Shrinkage > 0 }

// MaxScore is the largest score the measure can give, rounding aside:
// what a loaded model is checked against. Co-occurrence counts and
// asymmetric cosine are unbounded.
func (s Similarity) MaxScore() float64 {
	if s.Measure == Cooccurrence || s.Measure == Cosine && s.Alpha != 0.5 {
		return math.Inf(1)
	}
	return 1
}

// FromCosine turns a pair's cosine into its scores in both directions:
// the asymmetric rescaling by the norms (Alpha) and the shrinkage by the
// users in common n.
func (s Similarity) FromCosine(cos, normI, normJ, n float64) (ij, ji float64) {
	ij, ji = cos, cos
	if s.Alpha != 0.5 {
		// dot/(‖i‖^2α·‖j‖^(2−2α)) = cos·(‖i‖/‖j‖)^(1−2α)
		r := math.Pow(normI/normJ, 1-2*s.Alpha)
		ij, ji = cos*r, cos/r
	}
	return s.shrink(ij, n), s.shrink(ji, n)
}

// FromCorating is Corating's score of a pair whose co-ratings sum to pair
// over n users, of items whose ratings sum to totalI and totalJ, with the
// shrinkage.
func (s Similarity) FromCorating(pair, totalI, totalJ, n float64) float64 {
	return s.shrink(CoratingScore(pair, totalI, totalJ), n)
}

// shrink multiplies v by n/(n + λ), the shrinkage of a pair seen by n
// users; λ = 0 leaves it.
func (s Similarity) shrink(v, n float64) float64 {
	if s.Shrinkage > 0 {
		v *= n / (n + s.Shrinkage)
	}
	return v
}

// FromCounts is a count measure's score (not RP3Beta's) of a pair seen by cij users, of
// items seen by ci and cj, among users; shrinkage applies to it too.
func (s Similarity) FromCounts(cij, ci, cj, users float64) float64 {
	return s.fromCounts(cij, ci, cj, users, LLRMargin(ci, users), LLRMargin(cj, users), xlogx(users))
}

// CountScorer scores the pairs of one item table by a binary measure, with
// each item's LLR margin computed once, so that a pair costs the four
// logarithms of its own cells instead of eleven.
type CountScorer struct {
	sim               Similarity
	counts            []int64
	users, xlogxUsers float64
	margins           []float64
}

// NewCountScorer prepares the scoring of pairs of items with counts users
// each, among users.
func (s Similarity) NewCountScorer(counts []int64, users int64) *CountScorer {
	c := &CountScorer{sim: s, counts: counts, users: float64(users), xlogxUsers: xlogx(float64(users))}
	if s.Measure == LLR {
		c.margins = make([]float64, len(counts))
		for i, n := range counts {
			c.margins[i] = LLRMargin(float64(n), c.users)
		}
	}
	return c
}

// Scores are the pair (i, j)'s s_ij and s_ji from its sum: FromCounts of
// the cij users who share it, or RP3Beta's.
func (c *CountScorer) Scores(i, j int32, sum float64) (ij, ji float64) {
	ci, cj := float64(c.counts[i]), float64(c.counts[j])
	if c.sim.Measure == RP3Beta {
		return RP3(sum, ci, cj, c.sim.Beta), RP3(sum, cj, ci, c.sim.Beta)
	}
	var mi, mj float64
	if c.margins != nil {
		mi, mj = c.margins[i], c.margins[j]
	}
	s := c.sim.fromCounts(sum, ci, cj, c.users, mi, mj, c.xlogxUsers)
	return s, s
}

// RP3 is RP3Beta's score of j in i's list: the walk's weight w = Σ_u 1/n_u
// over the users of both, divided by c_i and by c_j^β.
func RP3(w, ci, cj, beta float64) float64 { return w / ci / math.Pow(cj, beta) }

// fromCounts is FromCounts with the LLR's margins of i and j and xlogx(users)
// given.
func (s Similarity) fromCounts(cij, ci, cj, users, mi, mj, xlogxUsers float64) float64 {
	var v float64
	switch s.Measure {
	case Jaccard:
		v = cij / (ci + cj - cij)
	case LLR:
		v = 1 - 1/(1+llrFromMargins(cij, ci-cij, cj-cij, users-ci-cj+cij, mi, mj, xlogxUsers))
	case Lift:
		v = cij / (ci * cj)
	case Cooccurrence:
		v = cij
	default:
		panic(fmt.Sprintf("model: %q is not a binary measure", s.Measure))
	}
	return s.shrink(v, cij)
}

// LogLikelihoodRatio is Dunning's G² statistic of a 2×2 contingency
// table, as Mahout's LogLikelihood computes it from entropies (of the row
// sums, the column sums and the cells: their xlogx terms of the total
// cancel to one), 0 when rounding makes it negative.
func LogLikelihoodRatio(k11, k12, k21, k22 float64) float64 {
	n := k11 + k12 + k21 + k22
	return llrFromMargins(k11, k12, k21, k22, LLRMargin(k11+k12, n), LLRMargin(k11+k21, n), xlogx(n))
}

// LLRMargin is the part of G² that depends on one item alone (a row or a
// column of the table), xlogx(c) + xlogx(n − c).
func LLRMargin(c, n float64) float64 { return xlogx(c) + xlogx(n-c) }

// llrFromMargins is G² = 2·(xlogx(n) − row margin − column margin + Σ xlogx(k)).
func llrFromMargins(k11, k12, k21, k22, rowMargin, colMargin, xlogxN float64) float64 {
	g := xlogxN - rowMargin - colMargin + xlogx(k11) + xlogx(k12) + xlogx(k21) + xlogx(k22)
	if g < 0 {
		return 0
	}
	return 2 * g
}

func xlogx(x float64) float64 {
	if x == 0 {
		return 0
	}
	return x * math.Log(x)
}

// Weigh is user u's score a on item i after the user weighting: u has n
// of the catalogue's items, and lengthRatio is item i's length t_i/t̄
// (BM25 only).
func (s Similarity) Weigh(a, lengthRatio float64, items, n int) float64 {
	switch s.Weighting {
	case WeightIDF:
		return a * IDF(items, n)
	case WeightBM25:
		return BM25(a, lengthRatio, s.BM25K1, s.BM25B) * IDF(items, n)
	}
	return a
}

// String names the measure and the knobs that differ from plain cosine's,
// in the flags' terms, e.g. "cosine user_weighting=bm25 shrinkage=20".
func (s Similarity) String() string {
	if s.Measure == "" {
		return string(Cosine)
	}
	out := string(s.Measure)
	if s.Weighting != "" && s.Weighting != WeightNone {
		out += " user_weighting=" + string(s.Weighting)
		if s.Weighting == WeightBM25 {
			out += fmt.Sprintf(" bm25_k1=%g bm25_b=%g", s.BM25K1, s.BM25B)
		}
	}
	if s.Measure == Cosine && s.Alpha != 0.5 {
		out += fmt.Sprintf(" asymmetric_alpha=%g", s.Alpha)
	}
	if s.Shrinkage > 0 {
		out += fmt.Sprintf(" shrinkage=%g", s.Shrinkage)
	}
	if s.Measure == RP3Beta {
		out += fmt.Sprintf(" rp3_beta=%g", s.Beta)
	}
	return out
}
