// Package als factorises the rating matrix with alternating least squares
// on Beam, blocked as Spark MLlib's ALS is: users and items are hashed
// into blocks, each block's ratings are built once, and every half-step is
// one CoGroupByKey of the solving side's rating blocks with the messages
// the other side's blocks send them, each message carrying the factors one
// block needs from another. Iterations are unrolled when the pipeline is
// built (Beam has no loops). Implicit mode's YᵀY is summed from per-block
// parts (als.Gram: the same bits however the rows are blocked) and reaches
// every block as one more message of its half-step's CoGroupByKey, rather
// than as a side input: Prism spins its scheduler while a stage with a
// side input runs, and the solves are the long stage.
//
// The math is model/als's: each row is solved by the same als.Solver call,
// with its ratings in the same order, as the single-process als.Train, so
// the factors are the reference's bits whatever the runner, the number of
// blocks or the bundling.
package als

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/internal/lightemit"
	"github.com/recsys/itemsim/internal/parallel"
	"github.com/recsys/itemsim/model"
	als "github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/transforms/scoring"
)

func init() {
	register.DoFn4x1[context.Context, scoring.Shard, func(int32, Pairs), func(int32, Pairs), error](&pairsFn{})
	register.DoFn3x1[int32, func(*Pairs) bool, func(int32, Block), error](&blockFn{})
	register.DoFn4x0[int32, Block, func(int32, Message), func([]byte)](&initFn{})
	register.DoFn8x1[context.Context, int32, func(*Block) bool, func(*Message) bool, func(int32, Message), func([]byte), func(int32, FactorBlock), func(int32, heldPart), error](&solveFn{})
	register.Function2x2(mergeGrams)
	register.DoFn2x1[[]byte, func(int32, Message), error](&gramFn{})
	register.DoFn3x0[context.Context, int32, func(*heldPart) bool](&rmseFn{})
	register.Function3x1(gatherFactors)
	register.DoFn2x0[FactorBlock, func(int32, FactorBlock)](&replicateFn{})
	register.DoFn5x1[int32, func(*Block) bool, func(*FactorBlock) bool, func(*FactorBlock) bool, func(model.UserList), error](&userListsFn{})
	register.DoFn3x0[int32, func(*FactorBlock) bool, func(model.Neighbors)](&neighborsFn{})
	register.Function3x0(factorRows)
	// The large elements (a block's whole side each) go through emitters
	// that keep nothing: register's keep the last element, and the
	// harness caches every stage's plan, so each unrolled half-step held
	// its output until the job ended (internal/lightemit).
	lightemit.Emitter2[int32, Pairs]()
	lightemit.Emitter2[int32, Block]()
	lightemit.Emitter2[int32, Message]()
	lightemit.Emitter2[int32, FactorBlock]()
	lightemit.Emitter1[FactorBlock]()
	register.Emitter2[int32, heldPart]()
	register.Emitter1[[]byte]()
	register.Emitter1[model.UserList]()
	register.Emitter1[model.Neighbors]()
	register.Emitter1[als.FactorRow]()
	register.Iter1[Pairs]()
	register.Iter1[Block]()
	register.Iter1[Message]()
	register.Iter1[FactorBlock]()
	register.Iter1[heldPart]()
}

// Config is the factorisation's settings and how it is blocked.
type Config struct {
	als.Config
	// Blocks is the number of blocks of each side (--blocks); 0 means
	// DefaultBlocks. More blocks spread a half-step over more workers; each
	// costs up to one message per block of the other side.
	Blocks int
	// ValidationFraction is the share of ratings held out (by a hash of
	// (Seed, user, item)) and predicted after every iteration
	// (--validation_fraction): the RMSE gauges. 0 holds none out.
	ValidationFraction float64
}

// DefaultBlocks is the default number of blocks per side.
const DefaultBlocks = 16

// BlocksFor is the number of blocks per side that suits a runner: 1 on
// Prism, which runs each stage as one bundle (the solves of a block use
// every core, and more blocks only ship each factor to more of them: on
// synth-1M at rank 32, 1 block took 1.1 s per iteration, 4 took 3.0 s and
// 16 took 4.2 s), DefaultBlocks on runners that spread bundles over
// workers.
func BlocksFor(runner string) int {
	if runner == "prism" {
		return 1
	}
	return DefaultBlocks
}

func (c Config) blocks() int {
	if c.Blocks > 0 {
		return c.Blocks
	}
	return DefaultBlocks
}

// Validate reports settings no factorisation can run with, naming the flag.
func (c Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.Blocks < 0 || c.Blocks > MaxBlocks {
		return fmt.Errorf("--blocks=%d: want 0 (meaning %d) to %d", c.Blocks, DefaultBlocks, MaxBlocks)
	}
	if !(c.ValidationFraction >= 0 && c.ValidationFraction < 1) {
		return fmt.Errorf("--validation_fraction=%v: want a share in [0, 1)", c.ValidationFraction)
	}
	return nil
}

// MaxBlocks bounds --blocks: a half-step ships up to Blocks² messages.
const MaxBlocks = 4096

// Factors is a factorisation in the pipeline.
type Factors struct {
	// Users and Items are PCollection<KV<int32, FactorBlock>>: each block's
	// factors after the last iteration, keyed by block.
	Users, Items beam.PCollection
	// UserBlocks is PCollection<KV<int32, Block>>: the users' training
	// ratings by block (UserLists leaves them out).
	UserBlocks beam.PCollection
	// Blocks is the number of blocks per side.
	Blocks int
}

// RMSEGauge is the name of the gauge (namespace/name, %02d the iteration)
// holding the held-out RMSE after each iteration as the bits of a float64;
// ValidationGauge counts the held-out ratings it is over.
const (
	RMSEGauge       = "als/rmse_iteration_%02d_bits"
	ValidationGauge = "als/validation_ratings"
)

// Factorize factorises a PCollection of users' rows (model.Row or
// scoring.Shard, what scoring.PerUser returns: one score per (user, item),
// > 0 in implicit mode) with c. Counters: als/ratings, als/held_out,
// als/held_out_users_skipped (users whose every rating was held out).
func Factorize(s beam.Scope, rows beam.PCollection, c Config) Factors {
	s = s.Scope("als.Factorize")
	n := c.blocks()
	userPairs, itemPairs := beam.ParDo2(s, &pairsFn{Blocks: n, Seed: c.Seed, Implicit: c.Implicit, ValidationFraction: c.ValidationFraction}, scoring.Batches(s, rows))
	userBlocks := beam.ParDo(s.Scope("UserBlocks"), &blockFn{Blocks: n, Users: true}, beam.GroupByKey(s, userPairs))
	itemBlocks := beam.ParDo(s.Scope("ItemBlocks"), &blockFn{Blocks: n}, beam.GroupByKey(s, itemPairs))

	msgs, gramParts := beam.ParDo2(s.Scope("Init"), &initFn{Config: c.Config}, itemBlocks)
	var f Factors
	var held []beam.PCollection
	for it := 1; it <= c.Iterations; it++ {
		is := s.Scope(fmt.Sprintf("Iteration%02d", it))
		last := it == c.Iterations
		var users, items, errs beam.PCollection
		msgs, gramParts, users, _ = halfStep(is.Scope("Users"), c, solveFn{Config: c.Config, Users: true, Iteration: it, Send: true, Emit: last}, userBlocks, msgs, gramParts)
		msgs, gramParts, items, errs = halfStep(is.Scope("Items"), c, solveFn{Config: c.Config, Iteration: it, Send: !last, Emit: last, Validate: c.ValidationFraction > 0}, itemBlocks, msgs, gramParts)
		held = append(held, errs)
		if last {
			f = Factors{Users: users, Items: items, UserBlocks: userBlocks, Blocks: n}
		}
	}
	if c.ValidationFraction > 0 {
		rs := s.Scope("RMSE")
		beam.ParDo0(rs, &rmseFn{}, beam.GroupByKey(rs, beam.Flatten(rs, held...)))
	}
	return f
}

// halfStep solves one side's blocks from the messages the other side sent
// them (and, in implicit mode, the other side's Gram parts). It returns
// this side's messages and Gram parts for the next half-step, its factors
// (when fn.Emit) and its held-out errors (when fn.Validate).
func halfStep(s beam.Scope, c Config, fn solveFn, blocks, msgs, gramParts beam.PCollection) (next, nextGram, factors, held beam.PCollection) {
	if c.Implicit {
		of := "items"
		if !fn.Users {
			of = "users"
		}
		gram := beam.ParDo(s, &gramFn{Rank: c.Rank, Lambda: c.Lambda, Of: of, Blocks: c.blocks()}, beam.Combine(s, mergeGrams, gramParts))
		msgs = beam.Flatten(s, msgs, gram)
	}
	outs := beam.ParDoN(s, &fn, beam.CoGroupByKey(s, blocks, msgs))
	return outs[0], outs[1], outs[2], outs[3]
}

// pairsFn sends each rating to its user's block and to its item's block,
// a bundle's ratings gathered into one Pairs per block and side: a few
// large elements cross the shuffle.
type pairsFn struct {
	Blocks             int
	Seed               uint64
	Implicit           bool
	ValidationFraction float64

	users, items []Pairs
}

func (f *pairsFn) ProcessElement(ctx context.Context, sh scoring.Shard, emitUsers, emitItems func(int32, Pairs)) error {
	if f.users == nil {
		f.users, f.items = make([]Pairs, f.Blocks), make([]Pairs, f.Blocks)
	}
	var ratings, heldOut, skipped int64
	held := make([]bool, 0, 64)
	for _, r := range sh.Rows {
		held, trained := held[:0], false
		for k, item := range r.Items {
			if v := r.Scores[k]; math.IsNaN(v) || math.IsInf(v, 0) || (f.Implicit && v <= 0) {
				return fmt.Errorf("als: score %v of user %q on item %q: want a finite number (> 0 when implicit)", v, r.User, item)
			}
			h := f.ValidationFraction > 0 && idhash.Uniform(f.Seed, r.User, item) < f.ValidationFraction
			held, trained = append(held, h), trained || !h
		}
		if !trained {
			// A user with no training rating has no factor to predict with.
			skipped++
			continue
		}
		ub := als.BlockOf(r.User, f.Blocks)
		for k, item := range r.Items {
			f.users[ub].add(r.User, item, r.Scores[k], held[k])
			f.items[als.BlockOf(item, f.Blocks)].add(item, r.User, r.Scores[k], held[k])
			if held[k] {
				heldOut++
			} else {
				ratings++
			}
		}
	}
	count(ctx, "ratings", ratings)
	count(ctx, "held_out", heldOut)
	count(ctx, "held_out_users_skipped", skipped)
	return nil
}

func (f *pairsFn) FinishBundle(emitUsers, emitItems func(int32, Pairs)) {
	for b := range f.users {
		if len(f.users[b].This) > 0 {
			emitUsers(int32(b), f.users[b])
		}
		if len(f.items[b].This) > 0 {
			emitItems(int32(b), f.items[b])
		}
	}
	f.users, f.items = nil, nil
}

// blockFn builds one block of one side from the pairs sent to it.
type blockFn struct {
	Blocks int
	Users  bool
}

func (f *blockFn) ProcessElement(id int32, pairs func(*Pairs) bool, emit func(int32, Block)) error {
	var parts []Pairs
	var p Pairs
	for pairs(&p) {
		parts = append(parts, p)
		p = Pairs{}
	}
	sd := itemSide
	if f.Users {
		sd = userSide
	}
	b, err := buildBlock(id, sd, f.Blocks, parts)
	if err != nil {
		return err
	}
	emit(id, b)
	return nil
}

// initFn starts the items from their seeded factors: it sends them to the
// user blocks and, in implicit mode, their Gram part.
type initFn struct{ Config als.Config }

func (f *initFn) ProcessElement(id int32, b Block, emit func(int32, Message), emitGram func([]byte)) {
	xs := initial(&b, f.Config.Seed, "item", f.Config.Rank)
	routed(&b, xs, f.Config.Rank, emit)
	if f.Config.Implicit {
		emitGram(als.GramOf(b.Ids, xs, f.Config.Rank, runtime.NumCPU()).AppendBinary(nil))
	}
}

// solveFn is one half-step of one side: it solves a block's rows from the
// messages it received and sends its factors on.
type solveFn struct {
	Config als.Config
	// Users is the side solved; Iteration counts from 1.
	Users     bool
	Iteration int
	// Send emits the messages (and implicit mode's Gram part) of the next
	// half-step; Emit emits the factors; Validate emits the held-out
	// squared errors.
	Send, Emit, Validate bool
}

func (f *solveFn) ProcessElement(ctx context.Context, id int32, blocks func(*Block) bool, msgs func(*Message) bool, emit func(int32, Message), emitGram func([]byte), emitFactors func(int32, FactorBlock), emitHeld func(int32, heldPart)) error {
	var b Block
	if !blocks(&b) {
		return nil // the Gram matrix sent to a block that has no ratings
	}
	var inbound []Message
	var gram []float64
	var m Message
	for msgs(&m) {
		if m.From == gramFrom {
			gram = m.Factors
		} else {
			inbound = append(inbound, m)
		}
		m = Message{}
	}
	if f.Config.Implicit && gram == nil {
		return fmt.Errorf("als: block %d got no Gram matrix", id)
	}
	rank := f.Config.Rank
	from, err := inbox(&b, rank, inbound)
	if err != nil {
		return err
	}
	xs, err := solve(f.Config, &b, from, gram)
	if err != nil {
		side := "items"
		if f.Users {
			side = "users"
		}
		return fmt.Errorf("iteration %d, %s: %w", f.Iteration, side, err)
	}
	if f.Send {
		routed(&b, xs, rank, emit)
		if f.Config.Implicit {
			emitGram(als.GramOf(b.Ids, xs, rank, runtime.NumCPU()).AppendBinary(nil))
		}
	}
	if f.Emit {
		emitFactors(id, FactorBlock{Ids: b.Ids, Factors: xs})
	}
	if f.Validate {
		sum, n := heldError(&b, xs, from, rank)
		emitHeld(int32(f.Iteration), heldPart{SquaredErrors: sum.AppendBinary(nil), N: n})
	}
	return nil
}

// mergeGrams adds two encoded Gram parts exactly.
func mergeGrams(a, b []byte) ([]byte, error) {
	ga, err := als.DecodeGram(a)
	if err != nil {
		return nil, err
	}
	gb, err := als.DecodeGram(b)
	if err != nil {
		return nil, err
	}
	ga.Merge(gb)
	return ga.AppendBinary(nil), nil
}

// gramFrom marks the message carrying the Gram matrix.
const gramFrom = -1

// gramFn rounds the merged Gram matrix of the other side's factors
// ("items" or "users"), once, and sends it to each of the Blocks blocks.
// With λ = 0, fewer non-zero factors than the rank leave YᵀY, and every
// implicit solve, singular: it fails the run before the first solve,
// saying what to change.
type gramFn struct {
	Rank   int
	Lambda float64
	Of     string
	Blocks int
}

func (f *gramFn) ProcessElement(b []byte, emit func(int32, Message)) error {
	g, err := als.DecodeGram(b)
	if err != nil {
		return err
	}
	if f.Lambda == 0 && g.Rows() < int64(f.Rank) {
		return fmt.Errorf("als: YᵀY of the %d %s with a factor is singular at --rank=%d with --lambda=0: lower --rank to at most %d or set --lambda above 0", g.Rows(), f.Of, f.Rank, g.Rows())
	}
	m := g.Matrix()
	for to := range f.Blocks {
		emit(int32(to), Message{From: gramFrom, Factors: m})
	}
	return nil
}

// heldPart is one block's held-out squared errors (an exactsum encoding)
// and their number.
type heldPart struct {
	SquaredErrors []byte
	N             int64
}

// rmseFn sets an iteration's RMSE gauge from its blocks' parts, summed
// exactly.
type rmseFn struct{}

func (f *rmseFn) ProcessElement(ctx context.Context, iteration int32, parts func(*heldPart) bool) {
	var sum exactsum.Sum
	var n int64
	var p heldPart
	for parts(&p) {
		s, _, err := exactsum.Decode(p.SquaredErrors)
		if err != nil {
			panic(err) // heldError encoded it
		}
		sum.Merge(s)
		n += p.N
	}
	rmse := math.NaN()
	if n > 0 {
		rmse = math.Sqrt(sum.Float64() / float64(n))
	}
	gauge(fmt.Sprintf(RMSEGauge, iteration)).Set(ctx, int64(math.Float64bits(rmse)))
	if iteration == 1 {
		gauge(ValidationGauge).Set(ctx, n)
	}
}

// gatherFactors merges FactorBlocks into one table, ids ascending.
func gatherFactors(_ int, blocks func(*FactorBlock) bool, emit func(FactorBlock)) error {
	var ids []string
	var xs [][]float64
	var b FactorBlock
	rank := 0
	for blocks(&b) {
		if len(b.Ids) > 0 {
			rank = len(b.Factors) / len(b.Ids)
		}
		for k, id := range b.Ids {
			ids = append(ids, id)
			xs = append(xs, b.Factors[k*rank:(k+1)*rank])
		}
		b = FactorBlock{}
	}
	order := make([]int, len(ids))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int { return compareStrings(ids[a], ids[b]) })
	t := FactorBlock{Ids: make([]string, len(ids)), Factors: make([]float64, 0, len(ids)*rank)}
	for k, o := range order {
		if k > 0 && ids[o] == t.Ids[k-1] {
			return fmt.Errorf("als: %q has two factors", ids[o])
		}
		t.Ids[k] = ids[o]
		t.Factors = append(t.Factors, xs[o]...)
	}
	emit(t)
	return nil
}

// Table gathers a side's factors (a PCollection<KV<int32, FactorBlock>>)
// into a PCollection of one FactorBlock, ids ascending.
func Table(s beam.Scope, factors beam.PCollection) beam.PCollection {
	s = s.Scope("als.Table")
	return beam.ParDo(s, gatherFactors, beam.GroupByKey(s, beam.AddFixedKey(s, beam.DropKey(s, factors))))
}

// replicateFn sends the table to every block, keyed by block.
type replicateFn struct{ Blocks int }

func (f *replicateFn) ProcessElement(t FactorBlock, emit func(int32, FactorBlock)) {
	for b := range f.Blocks {
		emit(int32(b), t)
	}
}

// UserLists ranks every item for every user of f and keeps each user's n
// best (model.Order) that the user has not rated: a
// PCollection<model.UserList>, one per user with a factor. Each user block
// receives the whole item table, so the work spreads over the user blocks.
func UserLists(s beam.Scope, f Factors, n int) beam.PCollection {
	s = s.Scope("als.UserLists")
	tables := beam.ParDo(s, &replicateFn{Blocks: f.Blocks}, Table(s, f.Items))
	return beam.ParDo(s, &userListsFn{N: n}, beam.CoGroupByKey(s, f.UserBlocks, f.Users, tables))
}

// userListsFn ranks the items for one block's users.
type userListsFn struct{ N int }

func (f *userListsFn) ProcessElement(id int32, blocks func(*Block) bool, users func(*FactorBlock) bool, tables func(*FactorBlock) bool, emit func(model.UserList)) error {
	var b Block
	var x, t FactorBlock
	if !blocks(&b) || !users(&x) || !tables(&t) {
		return nil // a block of the replicated table that has no users
	}
	if !slices.Equal(b.Ids, x.Ids) {
		return fmt.Errorf("als: user block %d's factors are not its users'", id)
	}
	rank := len(x.Factors) / max(len(x.Ids), 1)
	lists := make([]model.UserList, len(b.Ids))
	forRows(len(b.Ids), t.Factors, rank, func(r *als.Ranker, k int) {
		own := make([]string, 0, b.Start[k+1]-b.Start[k])
		for i := b.Start[k]; i < b.Start[k+1]; i++ {
			own = append(own, b.Needs[b.From[i]][b.Index[i]])
		}
		best := r.Top(x.Factors[k*rank:(k+1)*rank], als.Seen(t.Ids, own), f.N)
		lists[k] = model.UserList{User: b.Ids[k], Items: named(best, t.Ids)}
	})
	for _, l := range lists {
		emit(l)
	}
	return nil
}

// named turns ranked candidates into neighbours named by ids.
func named(best []model.Candidate, ids []string) []model.Neighbor {
	out := make([]model.Neighbor, len(best))
	for k, c := range best {
		out[k] = model.Neighbor{Item: ids[c.ID], Score: c.Score}
	}
	return out
}

// ItemNeighbors lists, for every item of f, the n items whose factors have
// the largest cosine with its own (above zero and at least min), in the
// similarity job's format: a PCollection<model.Neighbors>. Each item block
// receives the whole item table and lists its own items.
func ItemNeighbors(s beam.Scope, f Factors, n int, minScore float64) beam.PCollection {
	s = s.Scope("als.ItemNeighbors")
	tables := beam.ParDo(s, &replicateFn{Blocks: f.Blocks}, Table(s, f.Items))
	return beam.ParDo(s, &neighborsFn{N: n, Min: minScore, Blocks: f.Blocks}, beam.GroupByKey(s, tables))
}

// neighborsFn lists the neighbours of one block's items.
type neighborsFn struct {
	N      int
	Min    float64
	Blocks int
}

func (f *neighborsFn) ProcessElement(block int32, tables func(*FactorBlock) bool, emit func(model.Neighbors)) {
	var t FactorBlock
	if !tables(&t) {
		return
	}
	rank := len(t.Factors) / max(len(t.Ids), 1)
	unit := unitRows(t.Factors, rank)
	var mine []int
	for k, id := range t.Ids {
		if als.BlockOf(id, f.Blocks) == block {
			mine = append(mine, k)
		}
	}
	lists := make([]model.Neighbors, len(mine))
	forRows(len(mine), unit, rank, func(r *als.Ranker, k int) {
		i := mine[k]
		var kept []model.Candidate
		for _, c := range r.Top(unit[i*rank:(i+1)*rank], []int32{int32(i)}, f.N) {
			if c.Score > 0 && c.Score >= f.Min {
				kept = append(kept, model.Candidate{ID: c.ID, Score: min(c.Score, 1)})
			}
		}
		lists[k] = model.Neighbors{Item: t.Ids[i], Neighbors: named(kept, t.Ids)}
	})
	for _, l := range lists {
		if len(l.Neighbors) > 0 {
			emit(l)
		}
	}
}

// unitRows returns the rows of xs scaled to unit length (zero rows stay
// zero), so that their dot products are cosines.
func unitRows(xs []float64, rank int) []float64 {
	out := make([]float64, len(xs))
	for off := 0; off < len(xs); off += rank {
		x := xs[off : off+rank]
		if norm := math.Sqrt(als.Dot(x, x)); norm > 0 {
			for k, v := range x {
				out[off+k] = v / norm
			}
		}
	}
	return out
}

// FactorRows turns a side's factors (a PCollection<KV<int32, FactorBlock>>)
// into a PCollection<als.FactorRow>, one per id.
func FactorRows(s beam.Scope, factors beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("als.FactorRows"), factorRows, factors)
}

func factorRows(_ int32, b FactorBlock, emit func(als.FactorRow)) {
	rank := len(b.Factors) / max(len(b.Ids), 1)
	for k, id := range b.Ids {
		emit(als.FactorRow{ID: id, Factor: b.Factors[k*rank : (k+1)*rank]})
	}
}

func count(ctx context.Context, name string, n int64) {
	if n > 0 {
		beam.NewCounter("als", name).Inc(ctx, n)
	}
}

// gauge is the gauge of a namespace/name.
func gauge(name string) beam.Gauge {
	ns, n, _ := strings.Cut(name, "/")
	return beam.NewGauge(ns, n)
}

// forRows calls f for k in [0, n) on the machine's cores, each goroutine
// with its own Ranker of the table (rank numbers per item).
func forRows(n int, table []float64, rank int, f func(r *als.Ranker, k int)) {
	workers := runtime.NumCPU()
	rankers := make([]*als.Ranker, workers)
	parallel.For(workers, n, func(w, k int) {
		if rankers[w] == nil {
			rankers[w] = als.NewRanker(table, rank)
		}
		f(rankers[w], k)
	})
}
