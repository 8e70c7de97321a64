package incremental

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/model"
)

// Items is the item side of the model, or one shard of it: itemCount of
// every item, and pairCount of the pairs (I, J) of the items I it holds
// the lists of, as exact sums, with the items whose neighbour lists may
// have changed since the last Changed. A count that returns to 0 is
// dropped, so the state holds the window's items and pairs only.
//
// A list is rescored from what changed (Rescore): a change of J's count
// changes one score in each list that has J as a candidate, and most lists
// change so, through the counts of popular items; rescanning each such
// list whole would cost the model's size every bucket.
type Items struct {
	counts map[string]exactsum.Sum
	pairs  map[string]map[string]pair // I → J → pairCount(I, J)
	// pruned holds the co-raters of the pairs (I, J) Pruning dropped from
	// I's candidates: their counts are no longer kept; a pair leaves it
	// when its last co-rater does, and may then be tracked afresh.
	pruned map[string]map[string]int32
	// partners maps J to the items I with a pair (I, J) here: the lists a
	// change of J's count rescores.
	partners map[string]map[string]struct{}
	// dirty marks what changed in each list since the last Changed;
	// pending holds the marks of the lists Changed returned, for Rescore.
	dirty, pending map[string]*mark
	// best is, per item, its best candidates at its last Rescore.
	best map[string]*candidates
	// hot counts each item's users in the hot window (of the items whose
	// hot deltas this side takes); hotChanged since the last HotTop.
	hot        map[string]int64
	hotChanged bool
}

// pair is a pair's count and its co-raters, the users whose co-rating is
// in it (Pruning's number of observations).
type pair struct {
	count exactsum.Sum
	users int32
}

// mark is what changed in a list: all its scores (its item's count), the
// candidates whose count changed, and those whose pair changed.
type mark struct {
	all     bool
	changed []string
	paired  []string
}

// Pruning is TencentRec's Hoeffding pruning of a list's candidates. A
// pair's score, a mean over its co-raters of terms in [0, 1], is within
// ε = sqrt(ln(1/Delta) / 2n) of its limit with probability 1 − Delta after
// n co-raters: a candidate whose score + ε is below the list's n-th score
// cannot enter the list, and its pair stops being tracked. A pair is
// checked when its count changes, so that the decision is the model's, not
// the bundling's. Delta 0 prunes nothing: the model is exact.
type Pruning struct {
	Delta float64
}

// Validate reports a Delta outside [0, 1).
func (p Pruning) Validate() error {
	if !(p.Delta >= 0 && p.Delta < 1) {
		return fmt.Errorf("--prune_delta=%v: want a probability in [0, 1) (0: no pruning)", p.Delta)
	}
	return nil
}

// bound is ln(1/Delta)/2: a candidate of score s and n co-raters is
// pruned when n·(threshold − s)² > bound, threshold the list's n-th
// score.
func (p Pruning) bound() float64 { return -math.Log(p.Delta) / 2 }

// candidates is a prefix of an item's candidates in the project's order
// (model.Order): every candidate not in it ranks after its last one, or
// there is none (complete).
type candidates struct {
	list     []model.Neighbor
	complete bool
}

// NewItems returns an empty item side.
func NewItems() *Items {
	return &Items{counts: map[string]exactsum.Sum{}, pairs: map[string]map[string]pair{}, pruned: map[string]map[string]int32{},
		partners: map[string]map[string]struct{}{}, dirty: map[string]*mark{}, pending: map[string]*mark{},
		best: map[string]*candidates{}, hot: map[string]int64{}}
}

// markOf is item i's mark, made on first use.
func (m *Items) markOf(i string) *mark {
	k := m.dirty[i]
	if k == nil {
		k = &mark{}
		m.dirty[i] = k
	}
	return k
}

// ApplyCount applies a count change. Every score of the item changes, in
// its own list and in its partners': they are all marked.
func (m *Items) ApplyCount(d CountDelta) {
	s := m.counts[d.Item]
	replaceTerm(&s, d.Sub, d.Add)
	if s.IsZero() {
		delete(m.counts, d.Item)
	} else {
		m.counts[d.Item] = s
	}
	m.markOf(d.Item).all = true
	for i := range m.partners[d.Item] {
		k := m.markOf(i)
		k.changed = append(k.changed, d.Item)
	}
}

// ApplyPair applies a pair change on item I's side; I's list is marked
// (unless the pair was pruned: then only its co-raters are counted).
func (m *Items) ApplyPair(d PairDelta) {
	if users, ok := m.pruned[d.I][d.J]; ok {
		if users += coRaters(d); users == 0 {
			deleteIn(m.pruned, d.I, d.J)
		} else {
			m.pruned[d.I][d.J] = users
		}
		return
	}
	row := m.pairs[d.I]
	if row == nil {
		row = map[string]pair{}
		m.pairs[d.I] = row
	}
	s, had := row[d.J]
	replaceTerm(&s.count, d.Sub, d.Add)
	s.users += coRaters(d)
	switch {
	case s.count.IsZero():
		deleteIn(m.pairs, d.I, d.J)
		if had {
			m.unlink(d.I, d.J)
		}
	case !had:
		row[d.J] = s
		m.link(d.I, d.J)
	default:
		row[d.J] = s
	}
	k := m.markOf(d.I)
	k.paired = append(k.paired, d.J)
}

// coRaters is a pair change's change of co-raters: +1 for a user who joins
// it, −1 for one who leaves it.
func coRaters(d PairDelta) int32 {
	switch {
	case d.Sub == 0:
		return 1
	case d.Add == 0:
		return -1
	}
	return 0
}

// deleteIn deletes row i's entry j, and the row once empty.
func deleteIn[V any](rows map[string]map[string]V, i, j string) {
	delete(rows[i], j)
	if len(rows[i]) == 0 {
		delete(rows, i)
	}
}

// prune stops tracking pair (I, J) on I's side: it leaves I's candidates,
// and J's count changes no longer rescore I's list.
func (m *Items) prune(i, j string) {
	p, ok := m.pairs[i][j]
	if !ok {
		return
	}
	deleteIn(m.pairs, i, j)
	m.unlink(i, j)
	if m.pruned[i] == nil {
		m.pruned[i] = map[string]int32{}
	}
	m.pruned[i][j] = p.users
}

// ApplyHot applies a change of an item's users in the hot window.
func (m *Items) ApplyHot(d HotDelta) {
	if n := m.hot[d.Item] + d.Users; n == 0 {
		delete(m.hot, d.Item)
	} else {
		m.hot[d.Item] = n
	}
	m.hotChanged = true
}

// HotTop returns the k items with the most users in the hot window (ties
// by item ascending) when a hot delta was applied since the last call;
// else nil and false.
func (m *Items) HotTop(k int) ([]model.PopularItem, bool) {
	if !m.hotChanged {
		return nil, false
	}
	m.hotChanged = false
	top := make([]model.PopularItem, 0, len(m.hot))
	for i, n := range m.hot {
		top = append(top, model.PopularItem{Item: i, Users: n})
	}
	slices.SortFunc(top, comparePopular)
	return top[:min(k, len(top))], true
}

// comparePopular orders hot items: most users first, ties by item.
func comparePopular(a, b model.PopularItem) int {
	return cmp.Or(cmp.Compare(b.Users, a.Users), cmp.Compare(a.Item, b.Item))
}

// link records that I has a pair with J.
func (m *Items) link(i, j string) {
	p := m.partners[j]
	if p == nil {
		p = map[string]struct{}{}
		m.partners[j] = p
	}
	p[i] = struct{}{}
}

// unlink forgets it.
func (m *Items) unlink(i, j string) { deleteIn(m.partners, j, i) }

// replaceTerm removes the term sub and adds add (either may be 0: none).
func replaceTerm(s *exactsum.Sum, sub, add float64) {
	if sub > 0 {
		s.Sub(sub)
	}
	if add > 0 {
		s.Add(add)
	}
}

// Neighbors is item i's n best neighbours by model.CoratingScore, in the
// project's order (model.Order): the batch job's --measure=corating list.
// It scans i's every pair.
func (m *Items) Neighbors(i string, n int) []model.Neighbor {
	ci := m.counts[i].Float64()
	var best []model.Neighbor
	for j, p := range m.pairs[i] {
		best = model.Insert(best, model.Neighbor{Item: j, Score: m.score(p, ci, j)}, n)
	}
	return best
}

// score is candidate j's score in a list of an item of count ci.
func (m *Items) score(p pair, ci float64, j string) float64 {
	return model.CoratingScore(p.count.Float64(), ci, m.counts[j].Float64())
}

// Changed returns, ascending, the items marked since the last call whose
// lists this side holds (owns(i); nil: all): those whose neighbour list may
// differ, each to be rescored (Rescore) before the next call.
func (m *Items) Changed(owns func(item string) bool) []string {
	for i := range m.pending {
		delete(m.best, i) // not rescored: its candidates are stale
	}
	clear(m.pending)
	out := make([]string, 0, len(m.dirty))
	for i, k := range m.dirty {
		if owns == nil || owns(i) {
			out = append(out, i)
			m.pending[i] = k
		}
	}
	clear(m.dirty)
	slices.Sort(out)
	return out
}

// Rescore is Neighbors(i, n) for an item Changed returned, computed from
// its candidates at its last Rescore and what changed since (the scores of
// the others are the same bits): it scans i's pairs only when its own
// count changed, or too few of its best candidates are known to still
// rank first. It keeps the best 2n candidates for the next time. With p,
// it then prunes the candidates whose pair changed and that the Hoeffding
// bound keeps out of the list, and returns them.
func (m *Items) Rescore(i string, n int, p Pruning) (top []model.Neighbor, pruned []string) {
	k, prev := m.pending[i], m.best[i]
	delete(m.pending, i)
	list, complete := m.candidates(i, n, k, prev)
	if k != nil && len(list) >= n {
		pruned = m.pruneChanged(i, list[n-1].Score, k.paired, p)
		if len(pruned) > 0 {
			list = slices.DeleteFunc(list, func(c model.Neighbor) bool { return slices.Contains(pruned, c.Item) })
		}
	}
	m.keepBest(i, list, complete)
	return slices.Clone(list[:min(n, len(list))]), pruned
}

// candidates is i's best 2n candidates, and whether they are all of them.
func (m *Items) candidates(i string, n int, k *mark, prev *candidates) ([]model.Neighbor, bool) {
	keep := 2 * n
	if k == nil || k.all || prev == nil {
		return m.rescan(i, keep)
	}
	changed := append(k.changed, k.paired...)
	slices.Sort(changed)
	changed = slices.Compact(changed)
	isChanged := func(j string) bool { _, found := slices.BinarySearch(changed, j); return found }
	list := make([]model.Neighbor, 0, len(prev.list)+len(changed))
	for _, c := range prev.list {
		if !isChanged(c.Item) {
			list = append(list, c)
		}
	}
	ci, row := m.counts[i].Float64(), m.pairs[i]
	for _, j := range changed {
		if p, ok := row[j]; ok {
			list = append(list, model.Neighbor{Item: j, Score: m.score(p, ci, j)})
		}
	}
	slices.SortFunc(list, model.Neighbor.Compare)
	complete := prev.complete
	if !complete {
		// A candidate outside prev ranks after its last: so may any past it now.
		last := prev.list[len(prev.list)-1]
		cut, _ := slices.BinarySearchFunc(list, last, func(a, b model.Neighbor) int {
			if a.Compare(b) <= 0 {
				return -1
			}
			return 1
		})
		list = list[:cut]
		if len(list) < n {
			return m.rescan(i, keep)
		}
	}
	if len(list) > keep {
		list, complete = list[:keep], false
	}
	return list, complete
}

// rescan scores every pair of i and returns the best keep.
func (m *Items) rescan(i string, keep int) ([]model.Neighbor, bool) {
	list := m.Neighbors(i, keep)
	return list, len(list) == len(m.pairs[i])
}

// pruneChanged prunes the candidates of i among those whose pair changed
// (paired) that p keeps out of a list whose n-th score is threshold, and
// returns them, ascending.
func (m *Items) pruneChanged(i string, threshold float64, paired []string, p Pruning) []string {
	if p.Delta == 0 || len(paired) == 0 {
		return nil
	}
	slices.Sort(paired)
	var out []string
	bound := p.bound()
	// Since threshold − s ≤ threshold, fewer co-raters than this never
	// prune: most pairs are skipped before they are scored.
	fewest := bound / (threshold * threshold)
	ci, row := m.counts[i].Float64(), m.pairs[i]
	for _, j := range slices.Compact(paired) {
		c, ok := row[j]
		if !ok || float64(c.users) <= fewest {
			continue
		}
		if d := threshold - m.score(c, ci, j); d > 0 && float64(c.users)*d*d > bound {
			out = append(out, j)
		}
	}
	for _, j := range out {
		m.prune(i, j)
	}
	return out
}

// keepBest records i's best candidates; none are kept for an item without
// pairs.
func (m *Items) keepBest(i string, list []model.Neighbor, complete bool) {
	if len(list) == 0 {
		delete(m.best, i)
		return
	}
	m.best[i] = &candidates{list: list, complete: complete}
}
