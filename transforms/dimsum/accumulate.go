package dimsum

import (
	"slices"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/internal/parallel"
	"github.com/recsys/itemsim/model"
)

// PartialRow holds some users' contributions to the pairs (i, j), j > i, of
// one item i: column ids ascending, fixed-point sums aligned, and, when the
// measure needs them (model.Similarity.NeedsPairCounts), the number of
// users behind each sum.
type PartialRow struct {
	J      []int32
	Sums   []exactsum.Sum
	Counts []int32
}

// Row is an item's final upper-triangle similarities: j > i ascending,
// s_ij aligned in S and, for an asymmetric measure only, s_ji in R.
type Row struct {
	J []int32
	S []float64
	R []float64
}

// Accumulator gathers users' sampled entries and turns them into one
// PartialRow per item with the row-by-row (Gustavson) product: the buffered
// rows are transposed by counting sort, and each item's pairs are summed in
// a dense array indexed by item id. No map is touched per pair. Several
// goroutines sum disjoint items, so a flush uses the cores a bundle would
// otherwise leave idle (Prism runs a stage as one bundle); each item's row
// is computed by one of them alone, so the bits do not depend on how many.
type Accumulator struct {
	// Buffered user rows in compressed sparse row form.
	start []int32 // row r is col[start[r]:start[r+1]]
	col   []int32
	val   []float64
	pairs int

	// counts says whether to count each pair's users; minima whether a
	// pair's term is its entries' minimum instead of their product
	// (model.Measure.SumsMinima).
	counts, minima bool

	// Scratch reused across flushes, sized to the item count.
	count   []int32
	trans   []int32 // positions in col, grouped by item
	rowEnd  []int32 // end of the row that position k belongs to
	rows    []PartialRow
	workers []sumScratch
}

// sumScratch is one goroutine's dense accumulator.
type sumScratch struct {
	dense []exactsum.Sum
	users []int32 // each pair's users, when counted
	stamp []int32
	seen  []int32
}

// flushChunk is the number of items a flush goroutine claims at a time:
// small enough to balance the long rows of popular items, large enough that
// claiming costs nothing.
const flushChunk = 64

// NewAccumulator returns an accumulator for n items whose flushes sum on
// the given number of goroutines (at least 1) the pair terms of measure m;
// counts asks for each pair's number of users beside its sum
// (PartialRow.Counts).
func NewAccumulator(n, workers int, m model.Measure, counts bool) *Accumulator {
	a := &Accumulator{
		start:   []int32{0},
		counts:  counts,
		minima:  m.SumsMinima(),
		count:   make([]int32, n+1),
		rows:    make([]PartialRow, n),
		workers: make([]sumScratch, max(workers, 1)),
	}
	for w := range a.workers {
		a.workers[w] = sumScratch{dense: make([]exactsum.Sum, n), stamp: make([]int32, n)}
		if counts {
			a.workers[w].users = make([]int32, n)
		}
	}
	return a
}

// Add buffers one user's kept entries: ids strictly ascending, values the
// contribution factors. It returns the number of pairs the row adds.
func (a *Accumulator) Add(ids []int32, vals []float64) int {
	if len(ids) < 2 {
		return 0 // a lone entry has no pair
	}
	a.col = append(a.col, ids...)
	a.val = append(a.val, vals...)
	a.start = append(a.start, int32(len(a.col)))
	n := len(ids) * (len(ids) - 1) / 2
	a.pairs += n
	return n
}

// Pending is the number of pairs buffered since the last flush.
func (a *Accumulator) Pending() int { return a.pairs }

// Flush emits one PartialRow per item that has a pair with a larger item,
// items ascending, on the calling goroutine, and empties the buffer.
func (a *Accumulator) Flush(emit func(i int32, row PartialRow)) {
	if a.pairs == 0 {
		a.reset()
		return
	}
	a.transpose()
	n := len(a.rows)
	chunks := (n + flushChunk - 1) / flushChunk
	parallel.For(len(a.workers), chunks, func(w, c int) {
		a.workers[w].sum(a, c*flushChunk, min((c+1)*flushChunk, n))
	})
	for i := range a.rows {
		if a.rows[i].J != nil {
			emit(int32(i), a.rows[i])
			a.rows[i] = PartialRow{}
		}
	}
	for w := range a.workers {
		clear(a.workers[w].stamp)
	}
	a.reset()
}

// transpose groups the buffered positions by item: item i's positions are
// trans[count[i]:count[i+1]].
func (a *Accumulator) transpose() {
	n := len(a.rows)
	clear(a.count)
	for _, c := range a.col {
		a.count[c+1]++
	}
	for i := 1; i <= n; i++ {
		a.count[i] += a.count[i-1]
	}
	a.trans = slices.Grow(a.trans[:0], len(a.col))[:len(a.col)]
	a.rowEnd = slices.Grow(a.rowEnd[:0], len(a.col))[:len(a.col)]
	fill := slices.Clone(a.count[:n]) // where each item's next position goes
	for r := 0; r+1 < len(a.start); r++ {
		end := a.start[r+1]
		for k := a.start[r]; k < end; k++ {
			c := a.col[k]
			a.trans[fill[c]] = k
			fill[c]++
			a.rowEnd[k] = end
		}
	}
}

// sum computes the rows of items [lo, hi) into a.rows.
func (sc *sumScratch) sum(a *Accumulator, lo, hi int) {
	for i := lo; i < hi; i++ {
		begin, end := a.count[i], a.count[i+1]
		if end == begin {
			continue
		}
		sc.seen = sc.seen[:0]
		tag := int32(i + 1)
		for _, k := range a.trans[begin:end] {
			vi := a.val[k]
			for q := k + 1; q < a.rowEnd[k]; q++ {
				j := a.col[q]
				if sc.stamp[j] != tag {
					sc.stamp[j] = tag
					sc.dense[j] = exactsum.Sum{}
					sc.seen = append(sc.seen, j)
					if a.counts {
						sc.users[j] = 0
					}
				}
				term := vi * a.val[q]
				if a.minima {
					term = min(vi, a.val[q])
				}
				sc.dense[j].Add(term)
				if a.counts {
					sc.users[j]++
				}
			}
		}
		if len(sc.seen) == 0 {
			continue // i is last in all its rows
		}
		slices.Sort(sc.seen)
		row := PartialRow{J: slices.Clone(sc.seen), Sums: make([]exactsum.Sum, len(sc.seen))}
		for x, j := range sc.seen {
			row.Sums[x] = sc.dense[j]
		}
		if a.counts {
			row.Counts = make([]int32, len(sc.seen))
			for x, j := range sc.seen {
				row.Counts[x] = sc.users[j]
			}
		}
		a.rows[i] = row
	}
}

func (a *Accumulator) reset() {
	a.start = a.start[:1]
	a.col, a.val, a.pairs = a.col[:0], a.val[:0], 0
}

// Merger adds PartialRows of one item into its final Row, with a dense
// array that grows to the largest item id seen.
type Merger struct {
	dense []exactsum.Sum
	users []int64 // each pair's users, when the partial rows count them
	stamp []int32
	seen  []int32
	tag   int32
}

// Merge sums the partial rows of item i that next() yields (false when
// done) and turns each pair's sum (and users, when counted) into its
// scores with p.Scores.
func (m *Merger) Merge(p Params, i int32, next func(*PartialRow) bool) Row {
	m.tag++
	if m.tag == 0 { // wrapped: stale stamps could collide
		clear(m.stamp)
		m.tag = 1
	}
	m.seen = m.seen[:0]
	var part PartialRow
	for next(&part) {
		if last := int(part.J[len(part.J)-1]); last >= len(m.dense) {
			grow := max(last+1, 2*len(m.dense))
			m.dense = append(m.dense, make([]exactsum.Sum, grow-len(m.dense))...)
			m.stamp = append(m.stamp, make([]int32, grow-len(m.stamp))...)
			m.users = append(m.users, make([]int64, grow-len(m.users))...)
		}
		for x, j := range part.J {
			if m.stamp[j] != m.tag {
				m.stamp[j] = m.tag
				m.dense[j] = exactsum.Sum{}
				m.users[j] = 0
				m.seen = append(m.seen, j)
			}
			m.dense[j].Merge(part.Sums[x])
			if part.Counts != nil {
				m.users[j] += int64(part.Counts[x])
			}
		}
	}
	slices.Sort(m.seen)
	row := Row{J: slices.Clone(m.seen), S: make([]float64, len(m.seen))}
	if !p.Symmetric() {
		row.R = make([]float64, len(m.seen))
	}
	for x, j := range m.seen {
		ij, ji := p.Scores(i, j, m.dense[j].Float64(), m.users[j])
		row.S[x] = ij
		if row.R != nil {
			row.R[x] = ji
		}
	}
	return row
}
