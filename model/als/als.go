// Package als holds the math of alternating least squares, Beam-free:
// explicit ALS-WR (Zhou et al. 2008, λ scaled by each row's rating count,
// as Spark MLlib does) and implicit ALS (Hu, Koren & Volinsky 2008:
// confidence c = 1 + α·r, preference 1 for every rated pair, each solve
// built from the shared Gram matrix YᵀY plus the row's own items).
//
// Solver solves one row's normal equations with gonum's Cholesky, InitFactor
// seeds a factor from a hash of (seed, side, id) alone, and Train runs the
// whole factorisation in one process: the reference the Beam pipeline's
// blocked half-steps are tested against, and the speed limit they are
// measured against. Every result depends on the input and the seed only,
// never on goroutines or order.
package als

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/internal/parallel"
	"gonum.org/v1/gonum/blas"
	gonumlapack "gonum.org/v1/gonum/lapack/gonum"
)

// Config is a factorisation's settings, named as the job's flags.
type Config struct {
	// Rank is the number of latent factors (--rank).
	Rank int `json:"rank"`
	// Lambda is the regularisation (--lambda): explicit mode multiplies it
	// by each row's rating count, implicit mode uses it as is.
	Lambda float64 `json:"lambda"`
	// Implicit selects Hu, Koren & Volinsky's implicit-feedback objective
	// (--implicit); Alpha is its confidence slope (--alpha).
	Implicit bool    `json:"implicit"`
	Alpha    float64 `json:"alpha"`
	// Iterations is the number of alternations, users then items
	// (--iterations).
	Iterations int `json:"iterations"`
	// Seed seeds the initial factors (--seed).
	Seed uint64 `json:"seed"`
}

// Validate reports settings no factorisation can run with, naming the flag.
func (c Config) Validate() error {
	var errs []error
	if c.Rank < 1 || c.Rank > MaxRank {
		errs = append(errs, fmt.Errorf("--rank=%d: want 1..%d", c.Rank, MaxRank))
	}
	if c.Lambda < 0 || math.IsNaN(c.Lambda) || math.IsInf(c.Lambda, 0) {
		errs = append(errs, fmt.Errorf("--lambda=%v: want a finite number >= 0", c.Lambda))
	}
	if c.Alpha < 0 || math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0) {
		errs = append(errs, fmt.Errorf("--alpha=%v: want a finite number >= 0", c.Alpha))
	}
	if c.Iterations < 1 {
		errs = append(errs, fmt.Errorf("--iterations=%d: want at least 1", c.Iterations))
	}
	return errors.Join(errs...)
}

// MaxRank bounds --rank: a row's system is Rank² numbers, solved once per
// row and iteration.
const MaxRank = 1024

// InitFactor writes the seeded start of id's factor on side ("user" or
// "item") into dst: len(dst) Gaussian draws from hashes of (seed, side,
// id, k), scaled to unit norm, as Spark initialises its factors. It
// depends on nothing else, so every worker draws the same start.
func InitFactor(seed uint64, side, id string, dst []float64) {
	var norm float64
	for k := range dst {
		// Box-Muller from two uniforms; 1-u keeps the logarithm finite.
		u1 := idhash.Uniform(seed, side+"/"+id, strconv.Itoa(2*k))
		u2 := idhash.Uniform(seed, side+"/"+id, strconv.Itoa(2*k+1))
		dst[k] = math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
		norm += dst[k] * dst[k]
	}
	if norm = math.Sqrt(norm); norm > 0 {
		for k := range dst {
			dst[k] /= norm
		}
	}
}

// Gram accumulates YᵀY so that the matrix is the same bits whatever the
// blocking, order and parallelism of the rows. The rows fall into
// MicroBlocks fixed groups by a hash of their id; each group's y·yᵀ are
// summed in float64 in id order (a group never spans two of the
// pipeline's blocks, BlockOf), and the groups' sums are added exactly, the
// positive and the negative entries apart (exactsum takes non-negative
// terms), so merging them in any order gives the same value. Matrix rounds
// each entry once. (Adding every product exactly was as reproducible but
// cost more than all the solves.)
type Gram struct {
	rank     int
	pos, neg []exactsum.Sum // upper triangle, row-major rank×rank
	// rows counts the non-zero factors added: fewer than rank leave the
	// matrix singular.
	rows int64
}

// MicroBlocks is the number of groups GramOf sums in float64 before
// adding them exactly; MicroBlock is an id's group. The pipeline's blocks
// are unions of groups (BlockOf), so any number of blocks up to
// MicroBlocks sums the same groups.
const MicroBlocks = 4096

// MicroBlock is the group in [0, MicroBlocks) of an id: FNV-1a of the id,
// the same in every process.
func MicroBlock(id string) int { return int(idhash.String(id) % MicroBlocks) }

// BlockOf is the block in [0, n) of an id when one side's ids are split
// into n <= MicroBlocks blocks: its micro-block's, so that every
// micro-block lies in one block.
func BlockOf(id string, n int) int32 { return int32(MicroBlock(id) % n) }

// NewGram returns the Gram matrix of no factors.
func NewGram(rank int) *Gram {
	return &Gram{rank: rank, pos: make([]exactsum.Sum, rank*rank), neg: make([]exactsum.Sum, rank*rank)}
}

// GramOf is the Gram matrix of the rows ids (ascending) with factors ys
// (rank numbers each, concatenated), summed on workers goroutines (at
// least one): every micro-block of ids must be whole among them, as in a
// block or a side's full table.
func GramOf(ids []string, ys []float64, rank, workers int) *Gram {
	if len(ys) != len(ids)*rank {
		panic(fmt.Sprintf("als: GramOf of %d ids and %d numbers at rank %d", len(ids), len(ys), rank))
	}
	// Rows by micro-block, each block's in id order (the sort is stable).
	order := make([]int32, len(ids))
	micro := make([]int32, len(ids))
	for k, id := range ids {
		order[k], micro[k] = int32(k), int32(MicroBlock(id))
	}
	slices.SortStableFunc(order, func(a, b int32) int { return int(micro[a]) - int(micro[b]) })
	var starts []int
	for k, r := range order {
		if k == 0 || micro[r] != micro[order[k-1]] {
			starts = append(starts, k)
		}
	}
	starts = append(starts, len(order))
	workers = max(workers, 1)
	parts := make([]*Gram, workers)
	partial := make([][]float64, workers)
	parallel.For(workers, len(starts)-1, func(w, m int) {
		if parts[w] == nil {
			parts[w], partial[w] = NewGram(rank), make([]float64, rank*rank)
		}
		p := partial[w]
		clear(p)
		for _, r := range order[starts[m]:starts[m+1]] {
			y := ys[int(r)*rank : int(r+1)*rank]
			if Dot(y, y) != 0 {
				parts[w].rows++
			}
			addOuter(p, y, 1)
		}
		parts[w].addMatrix(p)
	})
	g := NewGram(rank)
	for _, p := range parts {
		if p != nil {
			g.Merge(p)
		}
	}
	return g
}

// addMatrix adds the upper triangle of the row-major m exactly.
func (g *Gram) addMatrix(m []float64) {
	for i := range g.rank {
		for j := i; j < g.rank; j++ {
			if v := m[i*g.rank+j]; v < 0 {
				g.neg[i*g.rank+j].Add(-v)
			} else {
				g.pos[i*g.rank+j].Add(v)
			}
		}
	}
}

// Merge adds o's factors.
func (g *Gram) Merge(o *Gram) {
	g.rows += o.rows
	for k := range g.pos {
		g.pos[k].Merge(o.pos[k])
		g.neg[k].Merge(o.neg[k])
	}
}

// AppendBinary appends g's binary form (DecodeGram reads it) to b: the
// rank, then each upper-triangle entry's exact sums, so that partial
// matrices can cross a shuffle and merge to the same bits.
func (g *Gram) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(binary.AppendUvarint(b, uint64(g.rank)), uint64(g.rows))
	for i := range g.rank {
		for j := i; j < g.rank; j++ {
			b = g.neg[i*g.rank+j].AppendBinary(g.pos[i*g.rank+j].AppendBinary(b))
		}
	}
	return b
}

// DecodeGram reads what AppendBinary wrote.
func DecodeGram(b []byte) (*Gram, error) {
	rank, n := binary.Uvarint(b)
	if n <= 0 || rank < 1 || rank > MaxRank {
		return nil, errCorruptGram
	}
	b = b[n:]
	g := NewGram(int(rank))
	rows, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errCorruptGram
	}
	g.rows, b = int64(rows), b[n:]
	for i := range g.rank {
		for j := i; j < g.rank; j++ {
			for _, s := range []*exactsum.Sum{&g.pos[i*g.rank+j], &g.neg[i*g.rank+j]} {
				var err error
				if *s, n, err = exactsum.Decode(b); err != nil {
					return nil, err
				}
				b = b[n:]
			}
		}
	}
	if len(b) != 0 {
		return nil, errCorruptGram
	}
	return g, nil
}

var errCorruptGram = errors.New("als: corrupt Gram matrix encoding")

// Rows is the number of non-zero factors added.
func (g *Gram) Rows() int64 { return g.rows }

// Matrix is YᵀY as a rank×rank row-major matrix.
func (g *Gram) Matrix() []float64 {
	m := make([]float64, g.rank*g.rank)
	for i := range g.rank {
		for j := i; j < g.rank; j++ {
			m[i*g.rank+j] = g.pos[i*g.rank+j].Float64() - g.neg[i*g.rank+j].Float64()
		}
	}
	mirror(m, g.rank)
	return m
}

// addOuter adds w·y·yᵀ to the upper triangle of the row-major a.
func addOuter(a, y []float64, w float64) {
	rank := len(y)
	for i, yi := range y {
		wi := w * yi
		row := a[i*rank : (i+1)*rank]
		for j := i; j < rank; j++ {
			row[j] += wi * y[j]
		}
	}
}

// mirror copies a's upper triangle to its lower one.
func mirror(a []float64, rank int) {
	for i := range rank {
		for j := i + 1; j < rank; j++ {
			a[j*rank+i] = a[i*rank+j]
		}
	}
}

// Solver solves one row's normal equations; it holds the scratch of one
// goroutine, reused from row to row.
type Solver struct {
	rank int
	a    []float64
	b    []float64
}

// NewSolver returns a Solver for factors of rank numbers.
func NewSolver(rank int) *Solver {
	return &Solver{rank: rank, a: make([]float64, rank*rank), b: make([]float64, rank)}
}

// Explicit writes into dst the factor minimising Σ_k (r_k − xᵀy_k)² +
// λ·n·|x|² over the row's n ratings rs of the items (or users) whose
// factors are ys (n rows of rank numbers): x = (Σ y yᵀ + λ n I)⁻¹ Σ r y.
// A row without ratings gets the zero factor.
func (s *Solver) Explicit(ys, rs []float64, lambda float64, dst []float64) error {
	clear(s.a)
	clear(s.b)
	for k, r := range rs {
		y := ys[k*s.rank : (k+1)*s.rank]
		addOuter(s.a, y, 1)
		for i, v := range y {
			s.b[i] += r * v
		}
	}
	return s.solve(lambda*float64(len(rs)), len(rs), dst)
}

// Implicit writes into dst the factor minimising Σ_all c (p − xᵀy)² + λ|x|²
// where the row's n rated items (factors ys, scores rs > 0) have preference
// 1 and confidence c = 1 + α·r, and every other item preference 0 and
// confidence 1: x = (G + Σ (c−1) y yᵀ + λ I)⁻¹ Σ c y, with G = YᵀY over
// all items (Gram.Matrix). It costs O(n·rank² + rank³), whatever the item count.
func (s *Solver) Implicit(gram, ys, rs []float64, alpha, lambda float64, dst []float64) error {
	copy(s.a, gram)
	clear(s.b)
	for k, r := range rs {
		if !(r > 0) {
			return fmt.Errorf("als: score %v: implicit scores must be > 0", r)
		}
		y := ys[k*s.rank : (k+1)*s.rank]
		c := 1 + alpha*r
		addOuter(s.a, y, c-1)
		for i, v := range y {
			s.b[i] += c * v
		}
	}
	return s.solve(lambda, len(rs), dst)
}

// solve adds ridge to the diagonal of s.a (upper triangle filled), solves
// s.a x = s.b by Cholesky and writes x to dst. It calls gonum's LAPACK
// (Dpotrf, Dpotrs) on the scratch in place: mat.Cholesky would also
// estimate the condition number and allocate, which cost more than the
// factorisation at these sizes.
func (s *Solver) solve(ridge float64, n int, dst []float64) error {
	if n == 0 {
		clear(dst)
		return nil
	}
	for i := range s.rank {
		s.a[i*s.rank+i] += ridge
	}
	if ok := lapackImpl.Dpotrf(blas.Upper, s.rank, s.a, s.rank); !ok {
		return fmt.Errorf("als: the normal equations of a row with %d ratings are singular at rank %d with ridge %g: raise --lambda or lower --rank", n, s.rank, ridge)
	}
	copy(dst, s.b)
	lapackImpl.Dpotrs(blas.Upper, s.rank, 1, s.a, s.rank, dst, 1)
	return nil
}

// lapackImpl is gonum's pure-Go LAPACK.
var lapackImpl gonumlapack.Implementation

// Dot is xᵀy, the predicted score of a user with factor x for an item with
// factor y.
func Dot(x, y []float64) float64 {
	var s float64
	for k, v := range x {
		s += v * y[k]
	}
	return s
}
