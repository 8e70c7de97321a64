package als

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/internal/parallel"
	als "github.com/recsys/itemsim/model/als"
)

// Pairs is some ratings headed for one block of one side: This are the
// block's side's ids, Other the other side's, aligned with Values. Held
// marks the ratings of the validation split, predicted but never trained on.
type Pairs struct {
	This, Other []string
	Values      []float64
	Held        []bool
}

func (p *Pairs) add(this, other string, v float64, held bool) {
	p.This, p.Other, p.Values, p.Held = append(p.This, this), append(p.Other, other), append(p.Values, v), append(p.Held, held)
}

// Block is one block of one side's ratings (Spark's in- and out-blocks in
// one): the rows it solves, where each rating's factor comes from, and
// where its own factors go.
type Block struct {
	ID int32
	// Ids are the block's users (or items), ascending: row k is Ids[k].
	Ids []string
	// Start delimits the rows' training ratings: row k's are
	// [Start[k], Start[k+1]), by the other side's id ascending (the order the
	// reference solves in, so the sums round alike).
	Start []int32
	// From and Index locate each rating's other-side factor: the message
	// from block From, at position Index.
	From, Index []int32
	Values      []float64
	// Needs[b] are the other side's ids of block b that the block's ratings
	// (training and held-out) refer to, ascending: the message from b
	// carries their factors in this order.
	Needs [][]string
	// Routes[b] are the positions in Ids of the rows block b of the other
	// side needs, ascending: what this block sends b after solving.
	Routes [][]int32
	// HeldStart, HeldFrom, HeldIndex and HeldValues are the rows' held-out
	// ratings, as the training ones (the item side only).
	HeldStart           []int32
	HeldFrom, HeldIndex []int32
	HeldValues          []float64
}

// Rows is the number of rows (ids) in the block.
func (b *Block) Rows() int { return len(b.Ids) }

// Trained reports whether row k has training ratings: rows without (items
// rated only in the validation split) keep the zero factor and predict
// nothing.
func (b *Block) Trained(k int) bool { return b.Start[k+1] > b.Start[k] }

// Message carries the factors block From of one side sends a block of the
// other side: Rank numbers for each id of the receiver's Needs[From].
type Message struct {
	From    int32
	Factors []float64
}

// FactorBlock is some ids and their factors, Rank numbers each.
type FactorBlock struct {
	Ids     []string
	Factors []float64
}

// side says how a side's blocks treat held-out ratings: the user side
// sends the factors of users with held-out ratings too (routesHeld), the
// item side receives them and predicts (keepsHeld).
type side struct {
	routesHeld, keepsHeld bool
}

var (
	userSide = side{routesHeld: true}
	itemSide = side{keepsHeld: true}
)

// buildBlock makes block id of a side with n blocks on the other side from
// all the pairs sent to it. It fails on a pair rated twice.
func buildBlock(id int32, sd side, n int, parts []Pairs) (Block, error) {
	type rating struct {
		this, other string
		v           float64
		held        bool
	}
	var rs []rating
	for _, p := range parts {
		for k := range p.This {
			rs = append(rs, rating{p.This[k], p.Other[k], p.Values[k], p.Held[k]})
		}
	}
	slices.SortFunc(rs, func(a, b rating) int {
		if c := compareStrings(a.this, b.this); c != 0 {
			return c
		}
		return compareStrings(a.other, b.other)
	})
	b := Block{ID: id, Needs: make([][]string, n), Routes: make([][]int32, n)}
	needs := make([]map[string]bool, n)
	for k, r := range rs {
		if k > 0 && rs[k-1].this == r.this && rs[k-1].other == r.other {
			return b, fmt.Errorf("als: %q and %q are rated together twice: aggregate each (user, item) first", r.this, r.other)
		}
		if k == 0 || rs[k-1].this != r.this {
			b.Ids = append(b.Ids, r.this)
		}
		from := als.BlockOf(r.other, n)
		row := int32(len(b.Ids) - 1)
		if !r.held || sd.keepsHeld {
			if needs[from] == nil {
				needs[from] = map[string]bool{}
			}
			needs[from][r.other] = true
		}
		if !r.held || sd.routesHeld {
			if route := b.Routes[from]; len(route) == 0 || route[len(route)-1] != row {
				b.Routes[from] = append(route, row)
			}
		}
	}
	for from, set := range needs {
		b.Needs[from] = slices.Sorted(func(yield func(string) bool) {
			for id := range set {
				if !yield(id) {
					return
				}
			}
		})
	}
	b.Start, b.HeldStart = make([]int32, len(b.Ids)+1), make([]int32, len(b.Ids)+1)
	row := -1
	for k, r := range rs {
		if k == 0 || rs[k-1].this != r.this {
			row++
		}
		from := als.BlockOf(r.other, n)
		index, _ := slices.BinarySearch(b.Needs[from], r.other)
		switch {
		case !r.held:
			b.From, b.Index, b.Values = append(b.From, from), append(b.Index, int32(index)), append(b.Values, r.v)
			b.Start[row+1]++
		case sd.keepsHeld:
			b.HeldFrom, b.HeldIndex, b.HeldValues = append(b.HeldFrom, from), append(b.HeldIndex, int32(index)), append(b.HeldValues, r.v)
			b.HeldStart[row+1]++
		}
	}
	for k := range b.Ids {
		b.Start[k+1] += b.Start[k]
		b.HeldStart[k+1] += b.HeldStart[k]
	}
	return b, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// initial is a block's seeded start: each trained row's als.InitFactor on
// side, the zero factor for the others.
func initial(b *Block, seed uint64, sideName string, rank int) []float64 {
	xs := make([]float64, b.Rows()*rank)
	for k, id := range b.Ids {
		if b.Trained(k) {
			als.InitFactor(seed, sideName, id, xs[k*rank:(k+1)*rank])
		}
	}
	return xs
}

// inbox arranges a block's messages by sender, checking that each carries
// the factors the block needs.
func inbox(b *Block, rank int, msgs []Message) ([][]float64, error) {
	from := make([][]float64, len(b.Needs))
	for _, m := range msgs {
		if m.From < 0 || int(m.From) >= len(from) || from[m.From] != nil {
			return nil, fmt.Errorf("als: block %d got a second or unknown message from block %d", b.ID, m.From)
		}
		if want := len(b.Needs[m.From]) * rank; len(m.Factors) != want {
			return nil, fmt.Errorf("als: block %d got %d numbers from block %d, want %d", b.ID, len(m.Factors), m.From, want)
		}
		from[m.From] = m.Factors
	}
	for k, ids := range b.Needs {
		if len(ids) > 0 && from[k] == nil {
			return nil, fmt.Errorf("als: block %d got no factors from block %d", b.ID, k)
		}
	}
	return from, nil
}

// solve solves every row of b from the other side's factors (arranged by
// inbox), gram the other side's YᵀY in implicit mode, on the machine's
// cores: rows are independent and each is solved as the reference solves
// it.
func solve(cfg als.Config, b *Block, from [][]float64, gram []float64) ([]float64, error) {
	rank := cfg.Rank
	xs := make([]float64, b.Rows()*rank)
	workers := runtime.NumCPU()
	solvers, scratch := make([]*als.Solver, workers), make([][]float64, workers)
	for w := range solvers {
		solvers[w] = als.NewSolver(rank)
	}
	errs := make([]error, b.Rows())
	parallel.For(workers, b.Rows(), func(w, k int) {
		lo, hi := b.Start[k], b.Start[k+1]
		ys := scratch[w][:0]
		for r := lo; r < hi; r++ {
			i := int(b.Index[r]) * rank
			ys = append(ys, from[b.From[r]][i:i+rank]...)
		}
		scratch[w] = ys
		x := xs[k*rank : (k+1)*rank]
		if cfg.Implicit {
			errs[k] = solvers[w].Implicit(gram, ys, b.Values[lo:hi], cfg.Alpha, cfg.Lambda, x)
		} else {
			errs[k] = solvers[w].Explicit(ys, b.Values[lo:hi], cfg.Lambda, x)
		}
		if errs[k] != nil {
			errs[k] = fmt.Errorf("%q: %w", b.Ids[k], errs[k])
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return xs, nil
}

// routed are the messages b sends after solving xs: to each block of the
// other side, the factors of the rows it needs, in its Needs order (Ids
// and Needs are both ascending).
func routed(b *Block, xs []float64, rank int, emit func(int32, Message)) {
	for to, route := range b.Routes {
		if len(route) == 0 {
			continue
		}
		m := Message{From: b.ID, Factors: make([]float64, 0, len(route)*rank)}
		for _, k := range route {
			m.Factors = append(m.Factors, xs[int(k)*rank:(int(k)+1)*rank]...)
		}
		emit(int32(to), m)
	}
}

// heldError is the exact sum of squared errors of b's held-out ratings
// whose row is trained (users without training ratings are left out before
// blocking), and their number.
func heldError(b *Block, xs []float64, from [][]float64, rank int) (exactsum.Sum, int64) {
	var sum exactsum.Sum
	var n int64
	for k := range b.Rows() {
		if !b.Trained(k) {
			continue
		}
		x := xs[k*rank : (k+1)*rank]
		for r := b.HeldStart[k]; r < b.HeldStart[k+1]; r++ {
			i := int(b.HeldIndex[r]) * rank
			d := b.HeldValues[r] - als.Dot(x, from[b.HeldFrom[r]][i:i+rank])
			sum.AddProduct(math.Abs(d), math.Abs(d))
			n++
		}
	}
	return sum, n
}
