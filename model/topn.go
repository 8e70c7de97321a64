package model

import (
	"cmp"
	"slices"
)

// Order is the one top-N order of the project: the higher score first, ties
// broken by the smaller id. It returns a negative number when (scoreA, idA)
// ranks before (scoreB, idB), a positive one when after, and 0 for equal
// pairs. Ids are unique within a list, so the order is total and every
// selection by it gives the same list whatever the input's order. Scores
// are never NaN (a NaN would compare equal to every score). It is written
// with operators, not cmp.Compare, so that Compare methods built on it
// inline: a server request compares thousands of candidates.
func Order[S, ID cmp.Ordered](scoreA S, idA ID, scoreB S, idB ID) int {
	switch {
	case scoreA > scoreB:
		return -1
	case scoreA < scoreB:
		return 1
	case idA < idB:
		return -1
	case idA > idB:
		return 1
	}
	return 0
}

// Ranked is an element of a top-N list: Compare is Order applied to its
// score and id.
type Ranked[E any] interface {
	Compare(E) int
}

// Insert adds e to best, a list of at most n elements best first, keeping
// the n best, and returns the list. It reuses best's array: a caller that
// keeps the returned slice allocates only while the list grows to n.
func Insert[E Ranked[E]](best []E, e E, n int) []E {
	if n <= 0 || len(best) >= n && e.Compare(best[n-1]) >= 0 {
		return best
	}
	at, _ := slices.BinarySearchFunc(best, e, E.Compare)
	if len(best) < n {
		best = append(best, e)
	}
	copy(best[at+1:], best[at:len(best)-1])
	best[at] = e
	return best
}

// Merge returns the n best of a and b, two lists best first, as a new
// list best first. The order is total, so the result does not depend on
// which list is which; an element in both lists would appear twice, so
// callers merge lists of distinct ids.
func Merge[E Ranked[E]](a, b []E, n int) []E {
	out := make([]E, 0, max(0, min(n, len(a)+len(b))))
	for len(out) < n && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || len(a) > 0 && a[0].Compare(b[0]) < 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// Candidate is a scored item by compact id: its rank in a sorted table of
// item ids, so that id order is item-id order and Order on candidates is
// Order on the items.
type Candidate struct {
	ID    int32
	Score float64
}

// Compare orders candidates by Order: higher score first, then smaller id.
func (c Candidate) Compare(d Candidate) int { return Order(c.Score, c.ID, d.Score, d.ID) }
