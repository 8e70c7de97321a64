package recommend

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
)

// ALS is what the ALS job publishes for serving beside its item-item
// neighbours (which Build takes as the lists): the settings it trained
// with, its item factors and its per-user lists. Each part is optional.
type ALS struct {
	// Config is the settings the factors were trained with: fold-in
	// solves with its rank, λ, α and mode. Required with ItemFactors.
	Config *als.Config
	// ItemFactors are the item factors (--item_factors_output); without
	// them the model cannot fold a user in.
	ItemFactors []als.FactorRow
	// Users are the per-user lists (--user_output), served by
	// AppendUser.
	Users []model.UserList
}

// ErrNoFactors is FoldIn's error on a model built without item factors.
var ErrNoFactors = errors.New("the model has no item factors: load an ALS run's manifest (with item_factors and als) to fold users in")

// ErrSolve wraps a fold-in whose normal equations could not be solved: a
// property of the model (λ = 0 and too few factors), not of the request.
var ErrSolve = errors.New("the fold-in's normal equations are singular")

// factors is a model's fold-in part: the item factors in compact-id
// order, contiguous, and what every solve shares.
type factors struct {
	cfg  als.Config
	rank int
	ids  []int32   // compact ids of the items with a factor, ascending
	ys   []float64 // row k, the factor of ids[k], is ys[k*rank:(k+1)*rank]
	row  []int32   // compact id -> row, -1 for an item without a factor
	// gram is YᵀY over every item factor (als.GramOf, the bits the
	// training solved with), computed once; implicit mode only.
	gram []float64
}

// userLists are the precomputed per-user lists, flat: user k's items are
// items[off[k]:off[k+1]] (compact ids) with scores scores[...], best first.
type userLists struct {
	index  map[string]int32
	off    []int32
	items  []int32
	scores []float64
}

// BuildWithALS is BuildWithBound for a model with an ALS part: the item
// table holds the items of the lists, the popular list, the factors and
// the user lists, so a fold-in excludes, ranks and falls back over one
// set of compact ids. A factor of the wrong length or with a non-finite
// number, an item or user given twice, factors without their Config or
// with an invalid one, or a user list with an item twice or a non-finite
// score is an error naming it. User lists are sorted as neighbour lists
// are (model.Order).
func BuildWithALS(lists []model.Neighbors, popular []model.PopularItem, version string, maxScore float64, a ALS) (*Model, error) {
	extra := make([]string, 0, len(a.ItemFactors))
	for _, f := range a.ItemFactors {
		extra = append(extra, f.ID)
	}
	// User lists name, in bulk, items the factors name already: collect
	// the others only, rather than every entry of every list.
	inFactors := make(map[string]bool, len(a.ItemFactors))
	for _, f := range a.ItemFactors {
		inFactors[f.ID] = true
	}
	for _, u := range a.Users {
		for _, it := range u.Items {
			if !inFactors[it.Item] {
				inFactors[it.Item] = true
				extra = append(extra, it.Item)
			}
		}
	}
	m, err := build(lists, popular, version, maxScore, extra)
	if err != nil {
		return nil, err
	}
	if len(a.ItemFactors) > 0 {
		if m.fold, err = m.newFactors(a.Config, a.ItemFactors); err != nil {
			return nil, err
		}
	}
	if err := m.setUsers(a.Users); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Model) newFactors(cfg *als.Config, rows []als.FactorRow) (*factors, error) {
	if cfg == nil {
		return nil, errors.New("recommend: item factors without the ALS settings they were trained with")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("recommend: ALS settings: %v", err)
	}
	rank := cfg.Rank
	f := &factors{cfg: *cfg, rank: rank, ids: make([]int32, 0, len(rows)), ys: make([]float64, len(rows)*rank), row: make([]int32, len(m.items))}
	byID := make([]*als.FactorRow, len(m.items))
	for k := range rows {
		r := &rows[k]
		if r.ID == "" {
			return nil, errors.New("recommend: an item factor has no id")
		}
		id := m.ids[r.ID]
		if byID[id] != nil {
			return nil, fmt.Errorf("recommend: item %q has two factors", r.ID)
		}
		if len(r.Factor) != rank {
			return nil, fmt.Errorf("recommend: item %q: factor of %d numbers, want the rank, %d", r.ID, len(r.Factor), rank)
		}
		for _, v := range r.Factor {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("recommend: item %q: factor holds %v: the factors are corrupt", r.ID, v)
			}
		}
		byID[id] = r
	}
	for id, r := range byID {
		f.row[id] = -1
		if r != nil {
			f.row[id] = int32(len(f.ids))
			copy(f.ys[len(f.ids)*rank:], r.Factor)
			f.ids = append(f.ids, int32(id))
		}
	}
	if cfg.Implicit {
		names := make([]string, len(f.ids))
		for k, id := range f.ids {
			names[k] = m.items[id]
		}
		f.gram = als.GramOf(names, f.ys, rank, runtime.NumCPU()).Matrix()
	}
	return f, nil
}

func (m *Model) setUsers(lists []model.UserList) error {
	u := &m.perUser
	u.index = make(map[string]int32, len(lists))
	u.off = make([]int32, 1, len(lists)+1)
	for _, l := range lists {
		if l.User == "" {
			return errors.New("recommend: a user list has no user")
		}
		if _, dup := u.index[l.User]; dup {
			return fmt.Errorf("recommend: user %q has two lists", l.User)
		}
		u.index[l.User] = int32(len(u.off) - 1)
		lo := len(u.items)
		for _, it := range l.Items {
			if math.IsNaN(it.Score) || math.IsInf(it.Score, 0) {
				return fmt.Errorf("recommend: user %q: item %q has score %v", l.User, it.Item, it.Score)
			}
			u.items, u.scores = append(u.items, m.ids[it.Item]), append(u.scores, it.Score)
		}
		ids, scores := u.items[lo:], u.scores[lo:]
		sortList(ids, scores)
		for k := 1; k < len(ids); k++ {
			if ids[k] == ids[k-1] {
				return fmt.Errorf("recommend: user %q lists item %q twice", l.User, m.items[ids[k]])
			}
		}
		u.off = append(u.off, int32(len(u.items)))
	}
	return nil
}

// Users is the number of users with a precomputed list.
func (m *Model) Users() int { return len(m.perUser.index) }

// Factors is the number of items with a factor; 0 when the model cannot
// fold users in.
func (m *Model) Factors() int {
	if m.fold == nil {
		return 0
	}
	return len(m.fold.ids)
}

// AppendUser appends to dst[:0] the first n items (n > 0) of user's
// precomputed list, best first, as the ALS job wrote it (the user's own
// items already removed); a user without a list gets the n most popular
// items, Fallback set. A stored list is not topped up: the server does
// not know the user's own items, which the popular list might hold.
func (m *Model) AppendUser(dst []Scored, user string, n int) Result {
	if k, ok := m.perUser.index[user]; ok {
		lo, hi := m.perUser.off[k], m.perUser.off[k+1]
		hi = min(hi, lo+int32(max(n, 0)))
		out := dst[:0]
		for i := lo; i < hi; i++ {
			out = append(out, Scored{m.items[m.perUser.items[i]], m.perUser.scores[i]})
		}
		return Result{Items: out}
	}
	a := m.scratch.Get().(*accumulator)
	defer m.scratch.Put(a)
	items := m.fallback(a, dst[:0], Options{N: n})
	return Result{Items: items, Popular: len(items), Fallback: true}
}

// FoldIn ranks every item with a factor for a new user whose items and
// weights (aligned, as Profile returns them) are the request's: it solves
// the user's factor from the factors of the items that have one, with the
// settings the model was trained with (implicit: x = (YᵀY + Σ (c−1) y yᵀ
// + λI)⁻¹ Σ c y with c = 1 + α·w; explicit: the ridge solve with λ·n, the
// weights read as ratings), scores each item by xᵀy (als.Dot, computed as
// one matrix-vector product) and returns the top
// o.N by model.Order, the request's items excluded unless o.IncludeSeen.
// Items the model does not know are ignored; when none of the request's
// items has a factor the answer is the popular list (Fallback), and
// o.TopUp fills a list shorter than o.N from it. o.Neighbors and
// o.Normalize concern neighbour scoring and are ignored. The error is
// ErrNoFactors, or ErrSolve wrapped (singular normal equations, which
// λ > 0 rules out).
func (m *Model) FoldIn(items []string, weights []float64, o Options) (Result, error) {
	if m.fold == nil {
		return Result{}, ErrNoFactors
	}
	a := m.scratch.Get().(*accumulator)
	defer m.scratch.Put(a)
	prof := a.events[:0]
	for k, it := range items {
		if id, ok := m.ids[it]; ok {
			prof = append(prof, idWeight{id, weights[k]})
		}
	}
	a.events = prof[:0]
	// The solve sums in id order, which is item order, whatever the
	// caller's: the order Profile gives and training solved in.
	slices.SortStableFunc(prof, func(x, y idWeight) int { return cmp.Compare(x.id, y.id) })
	return m.foldIn(a, prof, nil, o)
}

// AppendFoldIn is FoldIn(p.Profile(events)) with the result's items
// appended to dst[:0], as AppendRecommendations is for Recommend: the
// events are profiled straight into compact ids, and the solver and its
// scratch are the pooled accumulator's, so a request allocates only what
// the Cholesky factorisation does.
func (m *Model) AppendFoldIn(dst []Scored, p Profiler, events []Event, o Options) (Result, error) {
	if m.fold == nil {
		return Result{}, ErrNoFactors
	}
	if p.Scoring.MaxItemsPerUser > 0 {
		items, weights, err := p.Profile(events)
		if err != nil {
			return Result{}, err
		}
		res, err := m.FoldIn(items, weights, o)
		res.Items = append(dst[:0], res.Items...)
		return res, err
	}
	a := m.scratch.Get().(*accumulator)
	defer m.scratch.Put(a)
	prof, err := m.profile(a, p, events)
	if err != nil {
		return Result{}, err
	}
	return m.foldIn(a, prof, dst[:0], o)
}

// foldIn solves for the profile prof (compact ids ascending, weights > 0)
// and selects the top o.N into dst, then resets a.
func (m *Model) foldIn(a *accumulator, prof []idWeight, dst []Scored, o Options) (Result, error) {
	defer a.reset()
	if o.N <= 0 {
		return Result{}, nil
	}
	x, err := m.solve(a, prof)
	if err != nil {
		return Result{}, err
	}
	if x == nil {
		items := m.fallback(a, dst, o)
		return Result{Items: items, Popular: len(items), Fallback: true}, nil
	}
	// Every item's score xᵀy at once, as the job's user lists score
	// (als.Scores).
	f := m.fold
	if len(a.scores) != len(f.ids) {
		a.scores = make([]float64, len(f.ids))
	}
	als.Scores(f.ys, x, a.scores)
	best := a.best[:0]
	for k, id := range f.ids {
		if !o.IncludeSeen && a.flag[id]&flagSeen != 0 {
			continue
		}
		c := model.Candidate{ID: id, Score: a.scores[k]}
		// As in accumulator.top: reject most candidates inline.
		if len(best) == o.N && c.Compare(best[o.N-1]) >= 0 {
			continue
		}
		best = model.Insert(best, c, o.N)
	}
	a.best = best
	out := slices.Grow(dst, len(best))
	for _, c := range best {
		out = append(out, Scored{m.items[c.ID], c.Score})
		// Marked so that a top-up skips them; fewer than o.N means
		// every eligible item with a factor is here.
		a.flag[c.ID] |= flagTouched
		a.touched = append(a.touched, c.ID)
	}
	res := Result{Items: out}
	if o.TopUp && len(out) < o.N {
		res.Items = m.fallback(a, out, o)
		res.Popular = len(res.Items) - len(out)
	}
	return res, nil
}

// solve marks the profile's items as the user's and solves the user's
// factor from those with a factor, in a's scratch, with the settings the
// factors were trained with: the training's own solve, bit for bit, for
// the same items and weights. The factor is nil when no item has one.
func (m *Model) solve(a *accumulator, prof []idWeight) ([]float64, error) {
	f := m.fold
	if a.solver == nil || len(a.x) != f.rank {
		a.solver, a.x = als.NewSolver(f.rank), make([]float64, f.rank)
	}
	ys, rs := a.ys[:0], a.rs[:0]
	for _, w := range prof {
		a.seen = append(a.seen, w.id)
		a.flag[w.id] |= flagSeen
		if r := f.row[w.id]; r >= 0 {
			ys = append(ys, f.ys[int(r)*f.rank:int(r+1)*f.rank]...)
			rs = append(rs, w.weight)
		}
	}
	a.ys, a.rs = ys[:0], rs[:0]
	if len(rs) == 0 {
		return nil, nil
	}
	var err error
	if f.cfg.Implicit {
		err = a.solver.Implicit(f.gram, ys, rs, f.cfg.Alpha, f.cfg.Lambda, a.x)
	} else {
		err = a.solver.Explicit(ys, rs, f.cfg.Lambda, a.x)
	}
	if err != nil {
		return nil, fmt.Errorf("recommend: %w: folding in %d items: %v", ErrSolve, len(rs), err)
	}
	return a.x, nil
}
