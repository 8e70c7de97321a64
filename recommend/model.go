// Package recommend scores a customer's items against the item-similarity
// model the pipeline produces: r̂(i) = Σ_j w_j·s_ji over the neighbour lists
// of the customer's items j, the top n returned, the customer's own items
// excluded, and the most popular items as the fallback when nothing scores
// (and, with Options.TopUp, to fill a list that falls short of n).
// The server (./serving) and the offline evaluation (./pipelines/evaluate)
// share it, so what is measured offline is what is served.
//
// A Model is immutable once built and safe for concurrent use. It holds
// items as compact int32 ids assigned in item-id order (so comparing ids
// compares item ids), every neighbour list in two flat slices, and a map
// from item id to compact id used only at request entry. Scoring
// accumulates into a dense per-model scratch taken from a sync.Pool and
// resets only the entries it touched, so a request allocates its result
// and nothing proportional to the catalogue; AppendRecommendations, which
// the server uses, profiles a request's events into the same scratch and
// appends to a caller's slice, so it allocates nothing at all.
//
// A model built with an ALS part (BuildWithALS) also serves the ALS job's
// per-user lists (AppendUser) and folds a new user in against the item
// factors (FoldIn, AppendFoldIn): the user's factor solved from the
// request's items with the settings the factors were trained with, every
// item ranked by its predicted score, over the same item table, profile
// rules, top-N order and popular fallback as the neighbour scoring.
package recommend

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
)

// MaxSimilarity is the largest similarity a cosine model may hold: a
// cosine is at most 1, and roundingSlack leaves room for rounding in the
// pipeline's sums. A larger value means a broken model (e.g. a norm that
// underflowed), which would outrank every true neighbour.
const MaxSimilarity = 1 + roundingSlack

// roundingSlack is how far a bounded measure's score may pass its bound
// through rounding.
const roundingSlack = 1e-9

// ScoreBound is the largest similarity a model scored by s may hold:
// s.MaxScore() with rounding slack, or +Inf for unbounded measures
// (co-occurrence counts, asymmetric cosine).
func ScoreBound(s model.Similarity) float64 {
	b := s.MaxScore()
	if math.IsInf(b, 1) {
		return b
	}
	return b + roundingSlack
}

// Model is an in-memory similarity table with its popularity fallback.
type Model struct {
	version string
	items   []string         // compact id -> item id, ascending
	ids     map[string]int32 // item id -> compact id
	// The neighbours of item i are nbr[off[i]:off[i+1]] with scores
	// sim[off[i]:off[i+1]], score descending, ties by id ascending.
	off []int32
	nbr []int32
	sim []float64
	// popular lists the fallback items, most popular first, and users their
	// user counts.
	popular []int32
	users   []int64
	lists   int // items with a neighbour list
	// fold is the ALS item factors, nil without; perUser the ALS user
	// lists.
	fold    *factors
	perUser userLists
	// recent is each user's recent items, latest first (SetRecent); nil
	// for a model that does not answer from them.
	recent map[string][]string

	scratch sync.Pool // *accumulator sized for this model
}

// Build makes a Model from neighbour lists (the pipeline's output) and the
// most popular items (most popular first; may be empty). version labels the
// model, e.g. a Datastore version or a file's modification time. Lists are
// sorted by score descending, ties by item ascending; an item listed twice,
// a neighbour that is its item, or a similarity that is not a cosine (not
// finite, or outside [0, MaxSimilarity]) is an error naming both items.
func Build(lists []model.Neighbors, popular []model.PopularItem, version string) (*Model, error) {
	return BuildWithBound(lists, popular, version, MaxSimilarity)
}

// BuildWithBound is Build for a model whose similarities may reach
// maxScore (ScoreBound of the measure they were scored by): a similarity
// that is not finite, is negative or exceeds maxScore is an error, whatever
// the bound, +Inf included.
func BuildWithBound(lists []model.Neighbors, popular []model.PopularItem, version string, maxScore float64) (*Model, error) {
	return BuildWithALS(lists, popular, version, maxScore, ALS{})
}

// build makes the neighbour part of a model whose item table also holds
// the items extra names (the ALS part's).
func build(lists []model.Neighbors, popular []model.PopularItem, version string, maxScore float64, extra []string) (*Model, error) {
	names := slices.Clone(extra)
	for _, l := range lists {
		names = append(names, l.Item)
		for _, n := range l.Neighbors {
			names = append(names, n.Item)
		}
	}
	for _, p := range popular {
		names = append(names, p.Item)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	m := &Model{version: version, items: names, ids: make(map[string]int32, len(names)), lists: len(lists)}
	for i, it := range names {
		m.ids[it] = int32(i)
	}

	// Count each item's neighbours, then fill the flat slices in id order.
	count := make([]int32, len(names))
	byID := make([]*model.Neighbors, len(names))
	for k := range lists {
		id := m.ids[lists[k].Item]
		if byID[id] != nil {
			return nil, fmt.Errorf("recommend: item %q has two neighbour lists", lists[k].Item)
		}
		byID[id] = &lists[k]
		count[id] = int32(len(lists[k].Neighbors))
	}
	m.off = make([]int32, len(names)+1)
	for i, c := range count {
		m.off[i+1] = m.off[i] + c
	}
	total := m.off[len(names)]
	m.nbr, m.sim = make([]int32, total), make([]float64, total)
	for id, l := range byID {
		if l == nil {
			continue
		}
		lo := m.off[id]
		for k, n := range l.Neighbors {
			if n.Item == l.Item {
				return nil, fmt.Errorf("recommend: item %q lists itself as a neighbour", l.Item)
			}
			if !(n.Score >= 0 && n.Score <= maxScore) || math.IsInf(n.Score, 1) { // NaN fails both
				return nil, fmt.Errorf("recommend: item %q: neighbour %q has similarity %v, outside %s, its measure's bound: the model is corrupt, or its measure is not the one recorded",
					l.Item, n.Item, n.Score, interval(maxScore))
			}
			m.nbr[lo+int32(k)], m.sim[lo+int32(k)] = m.ids[n.Item], n.Score
		}
		sortList(m.nbr[lo:m.off[id+1]], m.sim[lo:m.off[id+1]])
	}

	seen := make(map[int32]bool, len(popular))
	for _, p := range popular {
		id := m.ids[p.Item]
		if seen[id] {
			return nil, fmt.Errorf("recommend: popular item %q is listed twice", p.Item)
		}
		seen[id] = true
		m.popular, m.users = append(m.popular, id), append(m.users, p.Users)
	}
	m.scratch.New = func() any { return newAccumulator(len(names)) }
	return m, nil
}

// interval names the similarities a bound allows.
func interval(maxScore float64) string {
	if math.IsInf(maxScore, 1) {
		return "[0, +Inf)"
	}
	return fmt.Sprintf("[0, %v]", maxScore)
}

// sortList orders one neighbour list by model.Order: score descending,
// ties by id.
func sortList(ids []int32, scores []float64) {
	cs := make([]model.Candidate, len(ids))
	for k := range ids {
		cs[k] = model.Candidate{ID: ids[k], Score: scores[k]}
	}
	slices.SortFunc(cs, model.Candidate.Compare)
	for k, c := range cs {
		ids[k], scores[k] = c.ID, c.Score
	}
}

// Version is the label the model was built with.
func (m *Model) Version() string { return m.version }

// Items is the number of items with a neighbour list.
func (m *Model) Items() int { return m.lists }

// Popular is the number of fallback items.
func (m *Model) Popular() int { return len(m.popular) }

// Scored is one recommended item and its score.
type Scored struct {
	Item  string  `json:"item"`
	Score float64 `json:"score"`
}

// Similar returns up to n neighbours of item, best first; found is false
// when the model has no neighbour list for item.
func (m *Model) Similar(item string, n int) (out []Scored, found bool) {
	id, ok := m.ids[item]
	if !ok || m.off[id] == m.off[id+1] {
		return nil, false
	}
	lo, hi := m.off[id], m.off[id+1]
	hi = min(hi, lo+int32(max(n, 0)))
	out = make([]Scored, 0, hi-lo)
	for k := lo; k < hi; k++ {
		out = append(out, Scored{m.items[m.nbr[k]], m.sim[k]})
	}
	return out, true
}

// Options tunes Recommend.
type Options struct {
	// N is the number of items returned at most.
	N int
	// Neighbors is the number of each customer item's best neighbours
	// that score (0: its whole list): fewer, closer neighbours often rank
	// better (pipelines/evaluate measures it).
	Neighbors int
	// IncludeSeen lets the customer's own items be recommended.
	IncludeSeen bool
	// Normalize divides each score by Σ_j |s_ji| over the customer's items
	// j that list i, turning it into a similarity-weighted mean of the
	// customer's weights.
	Normalize bool
	// TopUp fills a list of fewer than N scored items from the popular
	// list, most popular first, skipping items already in it and (unless
	// IncludeSeen) the customer's own: a full page whenever the popular
	// list is long enough.
	TopUp bool
}

// Result is a recommendation list.
type Result struct {
	// Items are the scored items, score descending, ties by item
	// ascending, then the Popular items from the popular list.
	Items []Scored
	// Popular counts the items at the end of Items that come from the
	// popular list, most popular first and scored by their number of
	// users (not comparable with similarity scores).
	Popular int
	// Fallback is true when nothing scored, so that every item is from
	// the popular list.
	Fallback bool
}

// Recommend scores every item against a customer's items and weights
// (aligned; a weight is the customer's score for the item, as
// model.Aggregate computes it) and returns the top o.N. Items the model
// does not know are ignored; an item listed twice counts twice.
func (m *Model) Recommend(items []string, weights []float64, o Options) Result {
	if o.N <= 0 {
		return Result{}
	}
	a := m.scratch.Get().(*accumulator)
	defer m.scratch.Put(a)
	for k, it := range items {
		if id, ok := m.ids[it]; ok {
			m.add(a, id, weights[k], o.Neighbors)
		}
	}
	return m.finish(a, nil, o)
}

// add marks item j as the customer's and accumulates its first k
// neighbours (all when k <= 0).
func (m *Model) add(a *accumulator, j int32, weight float64, k int) {
	a.seen = append(a.seen, j)
	a.flag[j] |= flagSeen
	m.accumulate(a, j, weight, k)
}

// finish selects the top o.N into dst (empty), then the popular items when
// nothing scored or o.TopUp asks for a full list, and resets a.
func (m *Model) finish(a *accumulator, dst []Scored, o Options) Result {
	items := a.top(m, dst, o)
	res := Result{Items: items, Fallback: len(items) == 0}
	if res.Fallback || o.TopUp {
		res.Items = m.fallback(a, items, o)
		res.Popular = len(res.Items) - len(items)
	}
	a.reset()
	return res
}

// AppendRecommendations is Recommend(p.Profile(events)) with the result's
// items appended to dst[:0], so that a caller recycling dst allocates
// nothing per request: the events are profiled by the same rules
// (model.Reduce and model.Aggregate: one exact sum or max per item,
// clipped, items scoring 0 dropped) straight into the model's compact ids,
// and items the model does not know are skipped after validation, which
// is all Recommend does with them. A Profiler that caps items per user
// (Scoring.MaxItemsPerUser) goes through Profile and Recommend.
func (m *Model) AppendRecommendations(dst []Scored, p Profiler, events []Event, o Options) (Result, error) {
	if p.Scoring.MaxItemsPerUser > 0 {
		items, weights, err := p.Profile(events)
		if err != nil {
			return Result{}, err
		}
		res := m.Recommend(items, weights, o)
		res.Items = append(dst[:0], res.Items...)
		return res, nil
	}
	a := m.scratch.Get().(*accumulator)
	defer m.scratch.Put(a)
	prof, err := m.profile(a, p, events)
	if err != nil {
		return Result{}, err
	}
	if o.N <= 0 {
		return Result{}, nil
	}
	// Scores accumulate in the order Recommend adds them.
	for _, w := range prof {
		m.add(a, w.id, w.weight, o.Neighbors)
	}
	return m.finish(a, dst[:0], o), nil
}

// profile validates events and profiles them by p's rules (model.Reduce
// and model.Aggregate: one exact sum or max per item, clipped, items
// scoring 0 dropped) straight into compact ids, skipping items the model
// does not know: Profile's items and scores, in Profile's order (ids
// follow item order). The result is in a's memory.
func (m *Model) profile(a *accumulator, p Profiler, events []Event) ([]idWeight, error) {
	ev := a.events[:0]
	for _, e := range events {
		w, err := p.weight(e)
		if err != nil {
			a.events = ev[:0]
			return nil, err
		}
		if id, ok := m.ids[e.Item]; ok {
			ev = append(ev, idWeight{id, w})
		}
	}
	a.events = ev[:0]
	slices.SortFunc(ev, func(x, y idWeight) int { return cmp.Compare(x.id, y.id) })
	// Each item's score overwrites its first event's entry, in place.
	out := ev[:0]
	for i := 0; i < len(ev); {
		var sum exactsum.Sum
		best := 0.0
		j := i
		for ; j < len(ev) && ev[j].id == ev[i].id; j++ {
			sum.Add(ev[j].weight)
			best = math.Max(best, ev[j].weight)
		}
		if score, _ := p.Scoring.Score(sum, best); score > 0 {
			out = append(out, idWeight{ev[i].id, score})
		}
		i = j
	}
	return out, nil
}

type idWeight struct {
	id     int32
	weight float64
}

// accumulate adds weight·s_ji for each of the first k neighbours i of
// item j (all when k <= 0).
func (m *Model) accumulate(a *accumulator, j int32, weight float64, k int) {
	lo, hi := m.off[j], m.off[j+1]
	if k > 0 && int(hi-lo) > k {
		hi = lo + int32(k)
	}
	for k := lo; k < hi; k++ {
		i := m.nbr[k]
		if a.flag[i]&flagTouched == 0 {
			a.flag[i] |= flagTouched
			a.touched = append(a.touched, i)
		}
		a.score[i] += weight * m.sim[k]
		a.norm[i] += math.Abs(m.sim[k])
	}
}

// fallback appends popular items to out, the scored items, until it
// holds o.N, skipping the customer's items unless o.IncludeSeen and items
// already in out. Fewer than o.N scored means every eligible scored
// (touched) item is in out, so the flags tell which those are.
func (m *Model) fallback(a *accumulator, out []Scored, o Options) []Scored {
	for k, id := range m.popular {
		if len(out) == o.N {
			break
		}
		if a.flag[id]&flagTouched != 0 || !o.IncludeSeen && a.flag[id]&flagSeen != 0 {
			continue
		}
		out = append(out, Scored{m.items[id], float64(m.users[k])})
	}
	return out
}

const (
	flagTouched uint8 = 1 << iota // has an accumulated score
	flagSeen                      // is one of the customer's items
)

// accumulator is dense per-item scratch. Only the entries listed in
// touched and seen are ever non-zero, and reset clears just those.
type accumulator struct {
	score, norm []float64
	flag        []uint8
	touched     []int32
	seen        []int32
	best        []model.Candidate // top's list, reused
	events      []idWeight        // profile's result
	// Fold-in's solver and scratch, made at the first fold-in: the
	// request's factors and weights, the user's factor and the scores.
	solver    *als.Solver
	ys, rs, x []float64
	scores    []float64 // every item's, by row
}

func newAccumulator(n int) *accumulator {
	return &accumulator{score: make([]float64, n), norm: make([]float64, n), flag: make([]uint8, n)}
}

func (a *accumulator) reset() {
	for _, i := range a.touched {
		a.score[i], a.norm[i], a.flag[i] = 0, 0, 0
	}
	for _, i := range a.seen {
		a.flag[i] = 0
	}
	a.touched, a.seen, a.best = a.touched[:0], a.seen[:0], a.best[:0]
}

// top selects the best o.N touched items by model.Insert (model.Order:
// higher score first, ties by the smaller id, which is item order) into
// the reused a.best, and appends them to out (nil: a new slice).
func (a *accumulator) top(m *Model, out []Scored, o Options) []Scored {
	best := a.best[:0]
	for _, i := range a.touched {
		if !o.IncludeSeen && a.flag[i]&flagSeen != 0 {
			continue
		}
		c := model.Candidate{ID: i, Score: a.score[i]}
		if o.Normalize && a.norm[i] > 0 {
			c.Score /= a.norm[i]
		}
		// Most candidates rank after a full list's last: rejected here by
		// the inlined comparator, with no call through Insert's generic
		// dictionary, which would double a 10-item request's time.
		if len(best) == o.N && c.Compare(best[o.N-1]) >= 0 {
			continue
		}
		best = model.Insert(best, c, o.N)
	}
	a.best = best
	out = slices.Grow(out, len(best))
	for _, c := range best {
		out = append(out, Scored{m.items[c.ID], c.Score})
	}
	return out
}
