package dimsum

import (
	"slices"

	"github.com/recsys/itemsim/internal/exactsum"
)

// PartialRow holds some users' contributions to the pairs (i, j), j > i, of
// one item i: column ids ascending, fixed-point sums aligned.
type PartialRow struct {
	J    []int32
	Sums []exactsum.Sum
}

// Row is an item's final upper-triangle similarities: j > i ascending,
// scores aligned.
type Row struct {
	J []int32
	S []float64
}

// Accumulator gathers users' sampled entries and turns them into one
// PartialRow per item with the row-by-row (Gustavson) product: the buffered
// rows are transposed by counting sort, and each item's pairs are summed in
// a dense array indexed by item id. No map is touched per pair.
type Accumulator struct {
	// Buffered user rows in compressed sparse row form.
	start []int32 // row r is col[start[r]:start[r+1]]
	col   []int32
	val   []float64
	pairs int

	// Scratch reused across flushes, sized to the item count.
	count  []int32
	dense  []exactsum.Sum
	stamp  []int32
	trans  []int32 // positions in col, grouped by item
	rowEnd []int32 // end of the row that position k belongs to
	seen   []int32
}

// NewAccumulator returns an accumulator for n items.
func NewAccumulator(n int) *Accumulator {
	return &Accumulator{
		start: []int32{0},
		count: make([]int32, n+1),
		dense: make([]exactsum.Sum, n),
		stamp: make([]int32, n),
	}
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
// items ascending, and empties the buffer.
func (a *Accumulator) Flush(emit func(i int32, row PartialRow)) {
	if a.pairs == 0 {
		a.reset()
		return
	}
	n := len(a.dense)
	clear(a.count)
	for _, c := range a.col {
		a.count[c+1]++
	}
	for i := 1; i <= n; i++ {
		a.count[i] += a.count[i-1]
	}
	a.trans = slices.Grow(a.trans[:0], len(a.col))[:len(a.col)]
	a.rowEnd = slices.Grow(a.rowEnd[:0], len(a.col))[:len(a.col)]
	fill := a.count[:n] // count[i] is now where item i's run starts; advance it while filling
	for r := 0; r+1 < len(a.start); r++ {
		end := a.start[r+1]
		for k := a.start[r]; k < end; k++ {
			c := a.col[k]
			a.trans[fill[c]] = k
			fill[c]++
			a.rowEnd[k] = end
		}
	}
	// fill[i] is now the end of item i's run, which is the start of i+1's.
	begin := int32(0)
	for i := 0; i < n; i++ {
		end := fill[i]
		if end == begin {
			continue
		}
		a.seen = a.seen[:0]
		tag := int32(i + 1)
		for _, k := range a.trans[begin:end] {
			vi := a.val[k]
			for q := k + 1; q < a.rowEnd[k]; q++ {
				j := a.col[q]
				if a.stamp[j] != tag {
					a.stamp[j] = tag
					a.dense[j] = exactsum.Sum{}
					a.seen = append(a.seen, j)
				}
				a.dense[j].Add(vi * a.val[q])
			}
		}
		begin = end
		if len(a.seen) == 0 {
			continue // i is last in all its rows
		}
		slices.Sort(a.seen)
		row := PartialRow{J: slices.Clone(a.seen), Sums: make([]exactsum.Sum, len(a.seen))}
		for x, j := range a.seen {
			row.Sums[x] = a.dense[j]
		}
		emit(int32(i), row)
	}
	clear(a.stamp)
	a.reset()
}

func (a *Accumulator) reset() {
	a.start = a.start[:1]
	a.col, a.val, a.pairs = a.col[:0], a.val[:0], 0
}

// Merger adds PartialRows of one item into its final Row, with a dense
// array that grows to the largest item id seen.
type Merger struct {
	dense []exactsum.Sum
	stamp []int32
	seen  []int32
	tag   int32
}

// Merge sums the partial rows next() yields (false when done).
func (m *Merger) Merge(next func(*PartialRow) bool) Row {
	m.tag++
	if m.tag == 0 { // wrapped: stale stamps could collide
		clear(m.stamp)
		m.tag = 1
	}
	m.seen = m.seen[:0]
	var p PartialRow
	for next(&p) {
		if last := int(p.J[len(p.J)-1]); last >= len(m.dense) {
			grow := max(last+1, 2*len(m.dense))
			m.dense = append(m.dense, make([]exactsum.Sum, grow-len(m.dense))...)
			m.stamp = append(m.stamp, make([]int32, grow-len(m.stamp))...)
		}
		for x, j := range p.J {
			if m.stamp[j] != m.tag {
				m.stamp[j] = m.tag
				m.dense[j] = exactsum.Sum{}
				m.seen = append(m.seen, j)
			}
			m.dense[j].Merge(p.Sums[x])
		}
	}
	slices.Sort(m.seen)
	row := Row{J: slices.Clone(m.seen), S: make([]float64, len(m.seen))}
	for x, j := range m.seen {
		row.S[x] = m.dense[j].Float64()
	}
	return row
}
