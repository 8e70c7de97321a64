package incremental

import (
	"slices"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/model"
)

// Items is the item side of the model: itemCount per item and pairCount
// per pair, seen from each of its items, as exact sums, and the items
// whose neighbour lists may have changed since the last Changed. A count
// that returns to 0 is dropped, so the state holds the window's items and
// pairs only.
type Items struct {
	Counts map[string]exactsum.Sum
	Pairs  map[string]map[string]exactsum.Sum
	dirty  map[string]bool
}

// NewItems returns an empty item side.
func NewItems() *Items {
	return &Items{Counts: map[string]exactsum.Sum{}, Pairs: map[string]map[string]exactsum.Sum{}, dirty: map[string]bool{}}
}

// ApplyCount applies a count change. Every score of the item changes, in
// its own list and in its partners': they are all marked.
func (m *Items) ApplyCount(d CountDelta) {
	s := m.Counts[d.Item]
	replaceTerm(&s, d.Sub, d.Add)
	if s.IsZero() {
		delete(m.Counts, d.Item)
	} else {
		m.Counts[d.Item] = s
	}
	m.dirty[d.Item] = true
	for j := range m.Pairs[d.Item] {
		m.dirty[j] = true
	}
}

// ApplyPair applies a pair change on item I's side; I's list is marked.
func (m *Items) ApplyPair(d PairDelta) {
	row := m.Pairs[d.I]
	if row == nil {
		row = map[string]exactsum.Sum{}
		m.Pairs[d.I] = row
	}
	s := row[d.J]
	replaceTerm(&s, d.Sub, d.Add)
	if s.IsZero() {
		delete(row, d.J)
		if len(row) == 0 {
			delete(m.Pairs, d.I)
		}
	} else {
		row[d.J] = s
	}
	m.dirty[d.I] = true
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
	ci := m.Counts[i].Float64()
	var best []model.Neighbor
	for j, pair := range m.Pairs[i] {
		s := model.CoratingScore(pair.Float64(), ci, m.Counts[j].Float64())
		best = model.Insert(best, model.Neighbor{Item: j, Score: s}, n)
	}
	return best
}

// Changed returns, ascending, the items marked since the last call: those
// whose neighbour list may differ.
func (m *Items) Changed() []string {
	out := make([]string, 0, len(m.dirty))
	for i := range m.dirty {
		out = append(out, i)
	}
	clear(m.dirty)
	slices.Sort(out)
	return out
}
