package als

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// gauss solves a·x = b (n×n, row-major) by Gaussian elimination with
// partial pivoting: an independent reference for the Cholesky solves.
func gauss(a, b []float64) []float64 {
	n := len(b)
	m := make([][]float64, n)
	for i := range m {
		m[i] = append(append([]float64{}, a[i*n:(i+1)*n]...), b[i])
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		m[c], m[p] = m[p], m[c]
		for r := c + 1; r < n; r++ {
			f := m[r][c] / m[c][c]
			for k := c; k <= n; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := m[r][n]
		for k := r + 1; k < n; k++ {
			s -= m[r][k] * x[k]
		}
		x[r] = s / m[r][r]
	}
	return x
}

func randomRows(rng *rand.Rand, n, rank int) []float64 {
	ys := make([]float64, n*rank)
	for k := range ys {
		ys[k] = rng.NormFloat64()
	}
	return ys
}

func closeTo(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	for k := range want {
		if d := math.Abs(got[k] - want[k]); d > tol*math.Max(1, math.Abs(want[k])) || math.IsNaN(got[k]) {
			t.Fatalf("%s[%d] = %v, want %v (|diff| %g > %g)", what, k, got[k], want[k], d, tol)
		}
	}
}

// TestExplicitSolve: the solve equals Gaussian elimination on the normal
// equations written out densely, Σ y yᵀ + λ n I and Σ r y.
func TestExplicitSolve(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ n, rank int }{{1, 1}, {3, 2}, {10, 8}, {40, 16}, {5, 16}} {
		ys, rs := randomRows(rng, tc.n, tc.rank), randomRows(rng, tc.n, 1)
		const lambda = 0.1
		a, b := make([]float64, tc.rank*tc.rank), make([]float64, tc.rank)
		for k := range tc.n {
			y := ys[k*tc.rank : (k+1)*tc.rank]
			for i := range tc.rank {
				b[i] += rs[k] * y[i]
				for j := range tc.rank {
					a[i*tc.rank+j] += y[i] * y[j]
				}
			}
		}
		for i := range tc.rank {
			a[i*tc.rank+i] += lambda * float64(tc.n)
		}
		got := make([]float64, tc.rank)
		if err := NewSolver(tc.rank).Explicit(ys, rs, lambda, got); err != nil {
			t.Fatal(err)
		}
		closeTo(t, fmt.Sprintf("n=%d rank=%d", tc.n, tc.rank), got, gauss(a, b), 1e-9)
	}
}

// TestImplicitSolve: the solve from the Gram matrix plus the row's own
// items equals the full normal equations over every item (confidence 1
// and preference 0 for the unrated ones), solved by Gaussian elimination.
func TestImplicitSolve(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const items, rank, alpha, lambda = 50, 6, 40.0, 0.5
	ys := randomRows(rng, items, rank)
	gram := GramOf(rowIDs(items), ys, rank, 1).Matrix()
	rated := []int{3, 7, 8, 21, 49}
	rs := []float64{1, 0.5, 6, 2, 2}
	var rowYs []float64
	for _, i := range rated {
		rowYs = append(rowYs, ys[i*rank:(i+1)*rank]...)
	}
	got := make([]float64, rank)
	if err := NewSolver(rank).Implicit(gram, rowYs, rs, alpha, lambda, got); err != nil {
		t.Fatal(err)
	}
	a, b := make([]float64, rank*rank), make([]float64, rank)
	for i := range items {
		c, p := 1.0, 0.0
		for k, r := range rated {
			if r == i {
				c, p = 1+alpha*rs[k], 1
			}
		}
		y := ys[i*rank : (i+1)*rank]
		for x := range rank {
			b[x] += c * p * y[x]
			for z := range rank {
				a[x*rank+z] += c * y[x] * y[z]
			}
		}
	}
	for x := range rank {
		a[x*rank+x] += lambda
	}
	closeTo(t, "implicit", got, gauss(a, b), 1e-9)

	if err := NewSolver(rank).Implicit(gram, rowYs[:rank], []float64{0}, alpha, lambda, got); err == nil || !strings.Contains(err.Error(), "must be > 0") {
		t.Errorf("a zero implicit score: %v", err)
	}
}

// TestSingular: without regularisation, a row with fewer ratings than the
// rank has no unique factor: an error that says what to change, no NaN.
func TestSingular(t *testing.T) {
	x := make([]float64, 4)
	err := NewSolver(4).Explicit(randomRows(rand.New(rand.NewPCG(5, 6)), 2, 4), []float64{1, 2}, 0, x)
	if err == nil || !strings.Contains(err.Error(), "raise --lambda or lower --rank") {
		t.Errorf("error %v, want singular with what to change", err)
	}
	if err := NewSolver(4).Explicit(nil, nil, 0, x); err != nil || x[0] != 0 {
		t.Errorf("a row without ratings: %v, %v; want the zero factor", x, err)
	}
}

// TestInitFactor: unit norm, the same for the same (seed, side, id), and
// different otherwise; over 20,000 ids its components (× √rank) have mean
// within 0.03 of 0 and variance within 0.05 of 1, as unit-normalised
// Gaussians should (fixed seed).
func TestInitFactor(t *testing.T) {
	const rank = 8
	a, b := make([]float64, rank), make([]float64, rank)
	InitFactor(7, "user", "u1", a)
	InitFactor(7, "user", "u1", b)
	if fmt.Sprint(a) != fmt.Sprint(b) || math.Abs(Dot(a, a)-1) > 1e-12 {
		t.Fatalf("%v and %v: want equal, unit norm", a, b)
	}
	for _, other := range []struct {
		seed     uint64
		side, id string
	}{{8, "user", "u1"}, {7, "item", "u1"}, {7, "user", "u2"}} {
		InitFactor(other.seed, other.side, other.id, b)
		if fmt.Sprint(a) == fmt.Sprint(b) {
			t.Errorf("%+v draws the same factor as (7, user, u1)", other)
		}
	}
	var sum, sq float64
	const ids = 20000
	for k := range ids {
		InitFactor(1, "item", fmt.Sprint(k), b)
		for _, v := range b {
			v *= math.Sqrt(rank)
			sum, sq = sum+v, sq+v*v
		}
	}
	n := float64(ids * rank)
	if mean, variance := sum/n, sq/n-(sum/n)*(sum/n); math.Abs(mean) > 0.03 || math.Abs(variance-1) > 0.05 {
		t.Errorf("mean %v, variance %v", mean, variance)
	}
}

// lowRank is every (user, item) of nu × ni scored by exact rank-2 factors.
func lowRank(nu, ni int) []Rating {
	var rs []Rating
	for u := range nu {
		for i := range ni {
			x := []float64{1 + float64(u%5), float64(u%3) - 1}
			y := []float64{0.5 + float64(i%4)/4, float64(i%7)/7 - 0.3}
			rs = append(rs, Rating{User: fmt.Sprintf("u%02d", u), Item: fmt.Sprintf("i%02d", i), Value: Dot(x, y)})
		}
	}
	return rs
}

// explicitLoss is ALS-WR's objective, written out: Σ (r − xᵀy)² +
// λ(Σ_u n_u|x_u|² + Σ_i n_i|y_i|²).
func explicitLoss(f *Factors, ratings []Rating, lambda float64) float64 {
	user, item := map[string]int{}, map[string]int{}
	for k, id := range f.Users {
		user[id] = k
	}
	for k, id := range f.Items {
		item[id] = k
	}
	var loss float64
	for _, r := range ratings {
		x, y := f.User(user[r.User]), f.Item(item[r.Item])
		d := r.Value - Dot(x, y)
		loss += d*d + lambda*(Dot(x, x)+Dot(y, y))
	}
	return loss
}

// implicitLoss is Hu, Koren & Volinsky's objective over every (user,
// item): Σ c (p − xᵀy)² + λ(Σ|x|² + Σ|y|²).
func implicitLoss(f *Factors, ratings []Rating, alpha, lambda float64) float64 {
	score := map[[2]string]float64{}
	for _, r := range ratings {
		score[[2]string{r.User, r.Item}] = r.Value
	}
	var loss float64
	for u, uid := range f.Users {
		x := f.User(u)
		loss += lambda * Dot(x, x)
		for i, iid := range f.Items {
			c, p := 1.0, 0.0
			if r, ok := score[[2]string{uid, iid}]; ok {
				c, p = 1+alpha*r, 1
			}
			d := p - Dot(x, f.Item(i))
			loss += c * d * d
		}
	}
	for i := range f.Items {
		y := f.Item(i)
		loss += lambda * Dot(y, y)
	}
	return loss
}

// TestTrainLossNeverRises: each half-step minimises the objective over one
// side exactly, so the brute-force objective never rises from one
// iteration to the next (within 1e-9 relative), in both modes, on a
// sparse random matrix.
func TestTrainLossNeverRises(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var ratings []Rating
	for u := range 40 {
		for i := range 30 {
			if rng.Float64() < 0.2 {
				ratings = append(ratings, Rating{User: fmt.Sprint("u", u), Item: fmt.Sprint("i", i), Value: float64(1 + rng.IntN(5))})
			}
		}
	}
	for _, cfg := range []Config{
		{Rank: 4, Lambda: 0.05, Iterations: 10, Seed: 1},
		{Rank: 4, Lambda: 0.5, Implicit: true, Alpha: 10, Iterations: 10, Seed: 1},
	} {
		prev := math.Inf(1)
		_, err := Train(cfg, ratings, 3, func(it int, f *Factors) {
			loss := explicitLoss(f, ratings, cfg.Lambda)
			if cfg.Implicit {
				loss = implicitLoss(f, ratings, cfg.Alpha, cfg.Lambda)
			}
			if loss > prev*(1+1e-9) {
				t.Errorf("implicit %v, iteration %d: loss %v after %v", cfg.Implicit, it, loss, prev)
			}
			prev = loss
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestTrainRecoversLowRank: on a full matrix of exact rank 2, explicit ALS
// at rank 2 with λ = 1e-9 fits it: RMSE below 1e-4 after 200 iterations.
func TestTrainRecoversLowRank(t *testing.T) {
	ratings := lowRank(30, 20)
	f, err := Train(Config{Rank: 2, Lambda: 1e-9, Iterations: 200, Seed: 3}, ratings, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rmse, n := RMSE(f, ratings); rmse > 1e-4 || n != len(ratings) {
		t.Errorf("RMSE %v over %d ratings, want < 1e-4 over %d", rmse, n, len(ratings))
	}
}

// TestTrainDeterministic: the factors are bit-identical whatever the
// goroutines and the order of the ratings.
func TestTrainDeterministic(t *testing.T) {
	ratings := lowRank(25, 15)
	for _, cfg := range []Config{{Rank: 3, Lambda: 0.1, Iterations: 3, Seed: 5}, {Rank: 3, Lambda: 0.1, Implicit: true, Alpha: 2, Iterations: 3, Seed: 5}} {
		want, err := Train(cfg, ratings, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		shuffled := append([]Rating(nil), ratings...)
		rand.New(rand.NewPCG(1, 1)).Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		got, err := Train(cfg, shuffled, 4, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got.UserFactors, got.ItemFactors) != fmt.Sprint(want.UserFactors, want.ItemFactors) {
			t.Errorf("implicit %v: factors differ with 4 goroutines and shuffled ratings", cfg.Implicit)
		}
	}
}

// TestTrainRefuses: bad settings name their flag; bad ratings say what is
// wrong with which.
func TestTrainRefuses(t *testing.T) {
	good := []Rating{{"u", "i", 1}}
	for _, tc := range []struct {
		cfg     Config
		ratings []Rating
		want    string
	}{
		{Config{Rank: 0, Iterations: 1}, good, "--rank=0"},
		{Config{Rank: 2, Lambda: -1, Iterations: 1}, good, "--lambda=-1"},
		{Config{Rank: 2, Alpha: math.NaN(), Iterations: 1}, good, "--alpha=NaN"},
		{Config{Rank: 2, Iterations: 0}, good, "--iterations=0"},
		{Config{Rank: 2, Lambda: 0.1, Iterations: 1}, nil, "no ratings"},
		{Config{Rank: 2, Lambda: 0.1, Iterations: 1}, []Rating{{"u", "i", 1}, {"u", "i", 2}}, `user "u" rates item "i" twice`},
		{Config{Rank: 2, Lambda: 0.1, Iterations: 1, Implicit: true}, []Rating{{"u", "i", 0}}, "> 0 when implicit"},
		{Config{Rank: 2, Lambda: 0.1, Iterations: 1}, []Rating{{"u", "i", math.Inf(1)}}, "want a finite number"},
		{Config{Rank: 3, Lambda: 0, Iterations: 1}, good, "raise --lambda or lower --rank"},
	} {
		if _, err := Train(tc.cfg, tc.ratings, 1, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v, %v: error %v, want %q", tc.cfg, tc.ratings, err, tc.want)
		}
	}
}

// rowIDs are n ids, ascending.
func rowIDs(n int) []string {
	ids := make([]string, n)
	for k := range ids {
		ids[k] = fmt.Sprintf("r%05d", k)
	}
	return ids
}

// TestGram: the Gram matrix equals YᵀY written out (within 1e-12 of the
// sum of the products' magnitudes), and is bit-identical however the rows
// are split into blocks, summed on goroutines and merged.
func TestGram(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n, rank = 300, 5
	ys := randomRows(rng, n, rank)
	for k := range ys {
		ys[k] *= math.Pow(10, float64(rng.IntN(13)-6)) // magnitudes 1e-6..1e6: rounding would show
	}
	ids := rowIDs(n)
	want, scale := make([]float64, rank*rank), make([]float64, rank*rank)
	for r := range n {
		for i := range rank {
			for j := range rank {
				want[i*rank+j] += ys[r*rank+i] * ys[r*rank+j]
				scale[i*rank+j] += math.Abs(ys[r*rank+i] * ys[r*rank+j])
			}
		}
	}
	got := GramOf(ids, ys, rank, 1).Matrix()
	for k := range want {
		if d := math.Abs(got[k] - want[k]); d > 1e-12*scale[k] {
			t.Fatalf("Gram[%d] = %v, want %v (|diff| %g > 1e-12 of %g)", k, got[k], want[k], d, scale[k])
		}
	}
	withZeros := append(slices.Clone(ys), make([]float64, 2*rank)...)
	if rows := GramOf(append(slices.Clone(ids), "zz0", "zz1"), withZeros, rank, 1).Rows(); rows != n {
		t.Errorf("Rows = %d after %d factors and 2 zero ones, want %d", rows, n, n)
	}
	// The pipeline's way: blocks of micro-blocks (BlockOf), each summed on
	// its own goroutines, crossing a shuffle in binary, merged in any
	// order: the same bits as one process on one goroutine.
	for _, blocks := range []int{2, 7} {
		var byBlock [][]int
		byBlock = make([][]int, blocks)
		for r, id := range ids {
			b := BlockOf(id, blocks)
			byBlock[b] = append(byBlock[b], r)
		}
		merged := NewGram(rank)
		for _, b := range rng.Perm(blocks) {
			var bIDs []string
			var bYs []float64
			for _, r := range byBlock[b] {
				bIDs, bYs = append(bIDs, ids[r]), append(bYs, ys[r*rank:(r+1)*rank]...)
			}
			decoded, err := DecodeGram(GramOf(bIDs, bYs, rank, 3).AppendBinary(nil))
			if err != nil {
				t.Fatal(err)
			}
			merged.Merge(decoded)
		}
		if merged.Rows() != n {
			t.Errorf("%d merged blocks count %d rows, want %d", blocks, merged.Rows(), n)
		}
		if fmt.Sprint(merged.Matrix()) != fmt.Sprint(got) {
			t.Errorf("%d blocks merged: %v, want the bits of %v", blocks, merged.Matrix(), got)
		}
	}
	for _, bad := range [][]byte{nil, {0}, {3}, append(GramOf(ids, ys, rank, 1).AppendBinary(nil), 0)} {
		if _, err := DecodeGram(bad); err == nil {
			t.Errorf("DecodeGram(% x...) accepted a corrupt encoding", bad[:min(len(bad), 4)])
		}
	}
}
