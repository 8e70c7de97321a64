package incremental

import (
	"slices"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/model"
)

// Items is the item side of the model, or one shard of it: itemCount of
// every item, and pairCount of the pairs (I, J) of the items I it holds
// the lists of, as exact sums, with the items whose neighbour lists may
// have changed since the last Changed. A count that returns to 0 is
// dropped, so the state holds the window's items and pairs only.
type Items struct {
	counts map[string]exactsum.Sum
	pairs  map[string]map[string]exactsum.Sum // I → J → pairCount(I, J)
	// partners maps J to the items I with a pair (I, J) here: the lists a
	// change of J's count rescores.
	partners map[string]map[string]struct{}
	dirty    map[string]bool
}

// NewItems returns an empty item side.
func NewItems() *Items {
	return &Items{counts: map[string]exactsum.Sum{}, pairs: map[string]map[string]exactsum.Sum{},
		partners: map[string]map[string]struct{}{}, dirty: map[string]bool{}}
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
	m.dirty[d.Item] = true
	for i := range m.partners[d.Item] {
		m.dirty[i] = true
	}
}

// ApplyPair applies a pair change on item I's side; I's list is marked.
func (m *Items) ApplyPair(d PairDelta) {
	row := m.pairs[d.I]
	if row == nil {
		row = map[string]exactsum.Sum{}
		m.pairs[d.I] = row
	}
	s, had := row[d.J]
	replaceTerm(&s, d.Sub, d.Add)
	switch {
	case s.IsZero():
		delete(row, d.J)
		if len(row) == 0 {
			delete(m.pairs, d.I)
		}
		if had {
			m.unlink(d.I, d.J)
		}
	case !had:
		row[d.J] = s
		m.link(d.I, d.J)
	default:
		row[d.J] = s
	}
	m.dirty[d.I] = true
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
func (m *Items) unlink(i, j string) {
	delete(m.partners[j], i)
	if len(m.partners[j]) == 0 {
		delete(m.partners, j)
	}
}

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
func (m *Items) Neighbors(i string, n int) []model.Neighbor {
	ci := m.counts[i].Float64()
	var best []model.Neighbor
	for j, pair := range m.pairs[i] {
		s := model.CoratingScore(pair.Float64(), ci, m.counts[j].Float64())
		best = model.Insert(best, model.Neighbor{Item: j, Score: s}, n)
	}
	return best
}

// Changed returns, ascending, the items marked since the last call whose
// lists this side holds (owns(i); nil: all): those whose neighbour list may
// differ.
func (m *Items) Changed(owns func(item string) bool) []string {
	out := make([]string, 0, len(m.dirty))
	for i := range m.dirty {
		if owns == nil || owns(i) {
			out = append(out, i)
		}
	}
	clear(m.dirty)
	slices.Sort(out)
	return out
}
