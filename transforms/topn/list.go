package topn

import "slices"

// Candidate is a neighbour by compact item id (its rank in the item table,
// so id order is item-id order).
type Candidate struct {
	ID    int32
	Score float64
}

// Better orders candidates: higher score first, then smaller id.
func Better(a, b Candidate) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.ID < b.ID)
}

// List is a bounded list of candidates, best first.
type List struct {
	C []Candidate
}

// Insert adds c, keeping the n best.
func (l *List) Insert(c Candidate, n int) {
	if len(l.C) == n && !Better(c, l.C[n-1]) {
		return
	}
	at, _ := slices.BinarySearchFunc(l.C, c, func(e, t Candidate) int {
		if Better(e, t) {
			return -1
		}
		if Better(t, e) {
			return 1
		}
		return 0
	})
	if len(l.C) < n {
		l.C = append(l.C, Candidate{})
	}
	copy(l.C[at+1:], l.C[at:len(l.C)-1])
	l.C[at] = c
}

// Merge returns the n best of two lists, best first. The order is total,
// so the result does not depend on which list is which. A candidate reaches
// an item once (each pair is summed in one place), so no duplicates meet.
func Merge(a, b List, n int) List {
	out := List{C: make([]Candidate, 0, min(n, len(a.C)+len(b.C)))}
	x, y := a.C, b.C
	for len(out.C) < n && (len(x) > 0 || len(y) > 0) {
		switch {
		case len(y) == 0 || (len(x) > 0 && Better(x[0], y[0])):
			out.C, x = append(out.C, x[0]), x[1:]
		default:
			out.C, y = append(out.C, y[0]), y[1:]
		}
	}
	return out
}

// Combiner merges partial top-N lists of an item into its final list: a
// typed combiner, so runners that lift combiners merge before the shuffle.
type Combiner struct {
	N int
}

// CreateAccumulator returns an empty list.
func (c *Combiner) CreateAccumulator() List { return List{} }

// AddInput merges a partial list in.
func (c *Combiner) AddInput(acc, in List) List { return Merge(acc, in, c.N) }

// MergeAccumulators merges two partial lists.
func (c *Combiner) MergeAccumulators(a, b List) List { return Merge(a, b, c.N) }

// ExtractOutput returns the final list.
func (c *Combiner) ExtractOutput(acc List) List { return acc }
