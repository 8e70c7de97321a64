package model

import (
	"cmp"
	"math"
	"slices"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/internal/idhash"
)

// Weighted is one event's (decayed) weight for an item.
type Weighted struct {
	Item   string
	Weight float64
}

// Row is one user's scores: items ascending, scores aligned, every score > 0.
type Row struct {
	User   string
	Items  []string
	Scores []float64
}

// Counts reports what Aggregate changed.
type Counts struct {
	Clipped int // scores lowered to Clip
	Capped  int // items dropped by MaxItemsPerUser
}

// Partial is some of a user's events reduced per item: items ascending,
// the exact sum and the largest of each item's weights. Partials merge in
// any order to the same result.
type Partial struct {
	Items []string
	Sums  []exactsum.Sum
	Maxes []float64
}

// Reduce reduces events (reordered in place) to a Partial.
func Reduce(events []Weighted) Partial {
	slices.SortFunc(events, func(a, b Weighted) int { return cmp.Compare(a.Item, b.Item) })
	// Count the items first so the three columns are allocated once, at
	// their size: this runs for every user of every bundle.
	items := 0
	for k := range events {
		if k == 0 || events[k].Item != events[k-1].Item {
			items++
		}
	}
	if items == 0 {
		return Partial{}
	}
	p := Partial{Items: make([]string, 0, items), Sums: make([]exactsum.Sum, 0, items), Maxes: make([]float64, 0, items)}
	for _, e := range events {
		n := len(p.Items)
		if n == 0 || p.Items[n-1] != e.Item {
			p.Items = append(p.Items, e.Item)
			p.Sums = append(p.Sums, exactsum.Sum{})
			p.Maxes = append(p.Maxes, 0)
			n++
		}
		p.Sums[n-1].Add(e.Weight)
		p.Maxes[n-1] = math.Max(p.Maxes[n-1], e.Weight)
	}
	return p
}

// Aggregate merges a user's partials into its row: one score per item
// (Rules.Score: sum or max, clipped), zero scores dropped, capped to
// MaxItemsPerUser. Sums are exact, so the row does not depend on how the
// events were split into partials or ordered.
func Aggregate(r Rules, user string, parts []Partial) (Row, Counts) {
	type entry struct {
		item string
		sum  exactsum.Sum
		max  float64
	}
	var unclipped []float64 // aligned with row.Items, for the cap
	var all []entry
	for _, p := range parts {
		for k, item := range p.Items {
			all = append(all, entry{item, p.Sums[k], p.Maxes[k]})
		}
	}
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.item, b.item) })
	row := Row{User: user}
	var counts Counts
	for i := 0; i < len(all); {
		sum, best := all[i].sum, all[i].max
		j := i + 1
		for ; j < len(all) && all[j].item == all[i].item; j++ {
			sum.Merge(all[j].sum)
			best = math.Max(best, all[j].max)
		}
		score, raw := r.Score(sum, best)
		if score < raw {
			counts.Clipped++
		}
		if score > 0 {
			row.Items = append(row.Items, all[i].item)
			row.Scores = append(row.Scores, score)
			unclipped = append(unclipped, raw)
		}
		i = j
	}
	if r.MaxItemsPerUser > 0 && len(row.Items) > r.MaxItemsPerUser {
		counts.Capped = len(row.Items) - r.MaxItemsPerUser
		row = capRow(row, unclipped, r.MaxItemsPerUser, r.Seed)
	}
	return row, counts
}

// capRow keeps the n items with the best unclipped scores, ties broken by
// a hash of (seed, user, item), then by id; items stay ascending.
func capRow(r Row, unclipped []float64, n int, seed uint64) Row {
	idx := make([]int, len(r.Items))
	tie := make([]uint64, len(r.Items))
	for i := range idx {
		idx[i] = i
		tie[i] = idhash.Pair(seed, r.User, r.Items[i])
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(unclipped[b], unclipped[a]); c != 0 {
			return c
		}
		if c := cmp.Compare(tie[a], tie[b]); c != 0 {
			return c
		}
		return cmp.Compare(r.Items[a], r.Items[b])
	})
	idx = idx[:n]
	slices.Sort(idx)
	out := Row{User: r.User, Items: make([]string, n), Scores: make([]float64, n)}
	for k, i := range idx {
		out.Items[k], out.Scores[k] = r.Items[i], r.Scores[i]
	}
	return out
}
