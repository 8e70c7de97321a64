package als

import (
	"fmt"
	"math"
	"slices"

	"github.com/recsys/itemsim/internal/parallel"
)

// Rating is one (user, item) score; Train takes at most one per pair (the
// scoring rules aggregate a user's events on an item first).
type Rating struct {
	User, Item string
	Value      float64
}

// Factors is a factorisation: each side's ids, sorted, and their factors,
// Rank numbers per id concatenated in id order.
type Factors struct {
	Rank                     int
	Users, Items             []string
	UserFactors, ItemFactors []float64
}

// User is the factor of the k-th user.
func (f *Factors) User(k int) []float64 { return f.UserFactors[k*f.Rank : (k+1)*f.Rank] }

// Item is the factor of the k-th item.
func (f *Factors) Item(k int) []float64 { return f.ItemFactors[k*f.Rank : (k+1)*f.Rank] }

// rows is one side's ratings in compressed rows: row k's entries are
// cols[start[k]:start[k+1]] (the other side's indices, ascending) with
// values vals[...].
type rows struct {
	start []int
	cols  []int32
	vals  []float64
}

// index returns the sorted distinct ids and each id's position.
func index(ids []string) ([]string, map[string]int32) {
	sorted := slices.Compact(slices.Sorted(slices.Values(ids)))
	pos := make(map[string]int32, len(sorted))
	for k, id := range sorted {
		pos[id] = int32(k)
	}
	return sorted, pos
}

// compress groups (row, col, value) triples by row, columns ascending.
func compress(n int, row, col []int32, vals []float64) rows {
	r := rows{start: make([]int, n+1), cols: make([]int32, len(row)), vals: make([]float64, len(row))}
	for _, k := range row {
		r.start[k+1]++
	}
	for k := range n {
		r.start[k+1] += r.start[k]
	}
	next := slices.Clone(r.start[:n])
	order := make([]int, len(row))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int { return int(col[a]) - int(col[b]) })
	for _, k := range order {
		p := next[row[k]]
		r.cols[p], r.vals[p] = col[k], vals[k]
		next[row[k]]++
	}
	return r
}

// Train factorises ratings with cfg in this process, solving rows on
// workers goroutines (0: one), and calls each(i, f) after iteration i
// (1-based) when not nil. Every iteration solves the users from the items,
// then the items from the users. The factors depend on ratings and
// cfg.Seed only: not on workers, nor on the ratings' order.
func Train(cfg Config, ratings []Rating, workers int, each func(int, *Factors)) (*Factors, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(ratings) == 0 {
		return nil, fmt.Errorf("als: no ratings")
	}
	users, items := make([]string, len(ratings)), make([]string, len(ratings))
	for k, r := range ratings {
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || (cfg.Implicit && r.Value <= 0) {
			return nil, fmt.Errorf("als: rating %v of user %q on item %q: want a finite number (> 0 when implicit)", r.Value, r.User, r.Item)
		}
		users[k], items[k] = r.User, r.Item
	}
	f := &Factors{Rank: cfg.Rank}
	var userPos, itemPos map[string]int32
	f.Users, userPos = index(users)
	f.Items, itemPos = index(items)
	u, i, v := make([]int32, len(ratings)), make([]int32, len(ratings)), make([]float64, len(ratings))
	for k, r := range ratings {
		u[k], i[k], v[k] = userPos[r.User], itemPos[r.Item], r.Value
	}
	byUser, byItem := compress(len(f.Users), u, i, v), compress(len(f.Items), i, u, v)
	for k := range len(f.Users) {
		cols := byUser.cols[byUser.start[k]:byUser.start[k+1]]
		for c := 1; c < len(cols); c++ {
			if cols[c] == cols[c-1] {
				return nil, fmt.Errorf("als: user %q rates item %q twice: aggregate each (user, item) first", f.Users[k], f.Items[cols[c]])
			}
		}
	}
	f.UserFactors, f.ItemFactors = make([]float64, len(f.Users)*cfg.Rank), make([]float64, len(f.Items)*cfg.Rank)
	for k, id := range f.Users {
		InitFactor(cfg.Seed, "user", id, f.User(k))
	}
	for k, id := range f.Items {
		InitFactor(cfg.Seed, "item", id, f.Item(k))
	}
	workers = max(workers, 1)
	solvers := make([]*Solver, workers)
	scratch := make([][]float64, workers)
	for w := range solvers {
		solvers[w] = NewSolver(cfg.Rank)
	}
	for it := 1; it <= cfg.Iterations; it++ {
		if err := halfStep(cfg, byUser, f.Items, f.ItemFactors, f.UserFactors, solvers, scratch); err != nil {
			return nil, fmt.Errorf("iteration %d, users: %w", it, err)
		}
		if err := halfStep(cfg, byItem, f.Users, f.UserFactors, f.ItemFactors, solvers, scratch); err != nil {
			return nil, fmt.Errorf("iteration %d, items: %w", it, err)
		}
		if each != nil {
			each(it, f)
		}
	}
	return f, nil
}

// halfStep solves every row of r from the other side's factors (of the
// ids otherIDs) into dst.
func halfStep(cfg Config, r rows, otherIDs []string, other, dst []float64, solvers []*Solver, scratch [][]float64) error {
	rank := cfg.Rank
	var gram []float64
	if cfg.Implicit {
		gram = GramOf(otherIDs, other, rank, len(solvers)).Matrix()
	}
	n := len(r.start) - 1
	errs := make([]error, n)
	parallel.For(len(solvers), n, func(w, k int) {
		cols, vals := r.cols[r.start[k]:r.start[k+1]], r.vals[r.start[k]:r.start[k+1]]
		ys := scratch[w][:0]
		for _, c := range cols {
			ys = append(ys, other[int(c)*rank:(int(c)+1)*rank]...)
		}
		scratch[w] = ys
		x := dst[k*rank : (k+1)*rank]
		if cfg.Implicit {
			errs[k] = solvers[w].Implicit(gram, ys, vals, cfg.Alpha, cfg.Lambda, x)
		} else {
			errs[k] = solvers[w].Explicit(ys, vals, cfg.Lambda, x)
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// RMSE is the root mean squared error of f's predictions on ratings whose
// user and item f knows, and how many those were.
func RMSE(f *Factors, ratings []Rating) (rmse float64, n int) {
	_, userPos := index(f.Users)
	_, itemPos := index(f.Items)
	var sum float64
	for _, r := range ratings {
		u, ok1 := userPos[r.User]
		i, ok2 := itemPos[r.Item]
		if !ok1 || !ok2 {
			continue
		}
		d := r.Value - Dot(f.User(int(u)), f.Item(int(i)))
		sum += d * d
		n++
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return math.Sqrt(sum / float64(n)), n
}

// FactorRow is one line of a factors file (the job's --item_factors_output
// and --user_factors_output): an id and its Rank numbers.
type FactorRow struct {
	ID     string    `json:"id"`
	Factor []float64 `json:"factor"`
}
