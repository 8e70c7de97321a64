package scoring

import (
	"context"
	"fmt"
	"maps"
	"math"
	"reflect"
	"runtime"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/internal/parallel"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/interactions"
)

func init() {
	register.DoFn3x0[context.Context, interactions.Batch, func(int64, PartialShard)](&weighFn{})
	register.DoFn4x0[context.Context, interactions.Batch, []int64, func(int64, PartialShard)](&newestWeighFn{})
	register.DoFn4x0[context.Context, int64, func(*PartialShard) bool, func(Shard)](&aggregateFn{})
	register.DoFn2x0[interactions.Batch, func(int64)](&newestFn{})
	register.Function2x1(maxInt64)
	register.Emitter2[int64, PartialShard]()
	register.Emitter1[Shard]()
	register.Function2x0(shardRows)
	register.DoFn2x0[model.Row, func(Shard)](&batchFn{})
	register.Emitter1[model.Row]()
	register.Emitter1[int64]()
	register.Iter1[PartialShard]()
}

// PerUser scores a PCollection<interactions.Batch> into a
// PCollection<Shard>: every user with at least one item scored above zero
// has a row in exactly one shard. Counters:
// scoring/outside_window, scoring/users, scoring/entries, scoring/clipped,
// scoring/capped_entries.
func PerUser(s beam.Scope, batches beam.PCollection, c Config) beam.PCollection {
	s = s.Scope("scoring.PerUser")
	var weighted beam.PCollection
	if c.HalfLife > 0 && c.AsOf == 0 {
		// The newest event in the window; an empty input gives no element
		// and, downstream, no rows.
		asOf := beam.Combine(s, maxInt64, beam.ParDo(s, &newestFn{Config: c}, batches))
		weighted = beam.ParDo(s, &newestWeighFn{Config: c}, batches, beam.SideInput{Input: asOf})
	} else {
		weighted = beam.ParDo(s, &weighFn{Config: c}, batches)
	}
	return beam.ParDo(s, &aggregateFn{Config: c}, beam.GroupByKey(s, weighted))
}

func maxInt64(a, b int64) int64 { return max(a, b) }

// Rows turns a PCollection<Shard> into a PCollection<model.Row>, for consumers
// that want one element per user.
func Rows(s beam.Scope, shards beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("scoring.Rows"), shardRows, shards)
}

func shardRows(sh Shard, emit func(model.Row)) {
	for _, r := range sh.Rows {
		emit(r)
	}
}

// Batches returns rows as a PCollection<Shard>: a PCollection<Shard> (what
// PerUser returns) as it is, and a PCollection<model.Row> in batches of up to
// BatchRows rows. The composites that read rows (dimsum.Table,
// dimsum.Similarities, popularity.Top) call it, so they take either form:
// one row per element works on every runner, batches cross a shuffle
// cheaper (Prism pays per element).
func Batches(s beam.Scope, rows beam.PCollection) beam.PCollection {
	switch t := rows.Type().Type(); t {
	case reflect.TypeOf(Shard{}):
		return rows
	case reflect.TypeOf(model.Row{}):
		return beam.ParDo(s.Scope("scoring.Batches"), &batchFn{}, rows)
	default:
		panic(fmt.Sprintf("scoring.Batches: rows are a PCollection<%v>, want model.Row or scoring.Shard", t))
	}
}

// BatchRows is the largest batch Batches makes of single rows.
const BatchRows = 4096

// batchFn gathers a bundle's rows into Shards of up to BatchRows rows.
type batchFn struct{ rows []model.Row }

func (f *batchFn) ProcessElement(r model.Row, emit func(Shard)) {
	f.rows = append(f.rows, r)
	if len(f.rows) == BatchRows {
		f.FinishBundle(emit)
	}
}

func (f *batchFn) FinishBundle(emit func(Shard)) {
	if len(f.rows) > 0 {
		emit(Shard{Rows: f.rows})
		f.rows = nil
	}
}

// newestFn emits the newest time of a batch's timed events inside the
// window.
type newestFn struct{ Config Config }

func (f *newestFn) ProcessElement(b interactions.Batch, emit func(int64)) {
	newest, found := int64(math.MinInt64), false
	for _, e := range b.Events {
		if e.HasTime && f.Config.InWindow(e.Time) {
			newest, found = max(newest, e.Time), true
		}
	}
	if found {
		emit(newest)
	}
}

// weighing drops events outside the window, decays the rest, and reduces
// them per user inside the bundle: one PartialShard per shard per flush
// crosses the shuffle, not one element per event or per user. It flushes
// every maxPendingEvents events, so a bundle that reads a whole file holds
// a bounded part of it.
type weighing struct {
	dropped int64
	pending int
	users   map[string][]model.Weighted
}

// maxPendingEvents bounds the events a weighing holds (about 100 MB).
const maxPendingEvents = 1 << 20

func (w *weighing) start() {
	w.dropped, w.pending, w.users = 0, 0, map[string][]model.Weighted{}
}

// add weighs a batch; decay says whether timed events decay relative to
// asOf.
func (w *weighing) add(c Config, b interactions.Batch, decay bool, asOf int64, emit func(int64, PartialShard)) {
	for _, e := range b.Events {
		if e.HasTime && !c.InWindow(e.Time) {
			w.dropped++
			continue
		}
		weight := e.Weight
		if decay && e.HasTime {
			weight = c.Decay(weight, e.Time, asOf)
		}
		w.users[e.User] = append(w.users[e.User], model.Weighted{Item: e.Item, Weight: weight})
	}
	if w.pending += len(b.Events); w.pending >= maxPendingEvents {
		w.flush(c, emit)
	}
}

// flush emits the buffered users' partials grouped by shard. The users'
// reductions run on the machine's cores (Prism runs a stage as one bundle):
// each shard's partial is built by one goroutine, and the shards are
// emitted in order on the calling one.
func (w *weighing) flush(c Config, emit func(int64, PartialShard)) {
	shards := make([]PartialShard, c.shards())
	events := make([][][]model.Weighted, len(shards))
	for user, evs := range w.users {
		k := ShardOf(user, len(shards))
		shards[k].Users = append(shards[k].Users, user)
		events[k] = append(events[k], evs)
	}
	parallel.For(runtime.GOMAXPROCS(0), len(shards), func(_, k int) {
		ps := &shards[k]
		ps.Parts = make([]model.Partial, len(ps.Users))
		for u, evs := range events[k] {
			ps.Parts[u] = model.Reduce(evs)
		}
	})
	for k, ps := range shards {
		if len(ps.Users) > 0 {
			emit(int64(k), ps)
		}
	}
	w.pending, w.users = 0, map[string][]model.Weighted{}
}

func (w *weighing) finish(ctx context.Context, c Config, emit func(int64, PartialShard)) {
	w.flush(c, emit)
	w.users = nil
	beam.NewCounter("scoring", "outside_window").Inc(ctx, w.dropped)
}

// weighFn weighs events when the decay's reference time is known before
// the run (Config.AsOf) or there is no decay. It takes no side input: on
// Prism (v2.77.0) a running stage that reads a side input keeps the
// scheduler busy, at about a core, until it finishes.
type weighFn struct {
	Config Config
	w      weighing
}

func (f *weighFn) StartBundle(_ context.Context, _ func(int64, PartialShard)) { f.w.start() }

func (f *weighFn) ProcessElement(_ context.Context, b interactions.Batch, emit func(int64, PartialShard)) {
	f.w.add(f.Config, b, f.Config.HalfLife > 0, f.Config.AsOf, emit)
}

func (f *weighFn) FinishBundle(ctx context.Context, emit func(int64, PartialShard)) {
	f.w.finish(ctx, f.Config, emit)
}

// newestWeighFn weighs events decaying relative to the newest event in the
// window, a side input (empty when no event is timed: nothing decays).
type newestWeighFn struct {
	Config Config
	w      weighing
}

func (f *newestWeighFn) StartBundle(_ context.Context, _ []int64, _ func(int64, PartialShard)) {
	f.w.start()
}

func (f *newestWeighFn) ProcessElement(_ context.Context, b interactions.Batch, asOf []int64, emit func(int64, PartialShard)) {
	if len(asOf) == 0 {
		f.w.add(f.Config, b, false, 0, emit)
		return
	}
	f.w.add(f.Config, b, true, asOf[0], emit)
}

func (f *newestWeighFn) FinishBundle(ctx context.Context, _ []int64, emit func(int64, PartialShard)) {
	f.w.finish(ctx, f.Config, emit)
}

// aggregateFn merges each user's partials in a shard into the user's row.
type aggregateFn struct {
	Config                          Config
	users, entries, clipped, capped int64
}

func (f *aggregateFn) StartBundle(_ context.Context, _ func(Shard)) {
	f.users, f.entries, f.clipped, f.capped = 0, 0, 0, 0
}

func (f *aggregateFn) ProcessElement(_ context.Context, _ int64, shards func(*PartialShard) bool, emit func(Shard)) {
	byUser := map[string][]model.Partial{}
	var ps PartialShard
	for shards(&ps) {
		for k, user := range ps.Users {
			byUser[user] = append(byUser[user], ps.Parts[k])
		}
	}
	var out Shard
	for _, user := range slices.Sorted(maps.Keys(byUser)) {
		row, counts := model.Aggregate(f.Config.Rules, user, byUser[user])
		f.clipped += int64(counts.Clipped)
		f.capped += int64(counts.Capped)
		if len(row.Items) == 0 {
			continue
		}
		f.users++
		f.entries += int64(len(row.Items))
		out.Rows = append(out.Rows, row)
	}
	if len(out.Rows) > 0 {
		emit(out)
	}
}

func (f *aggregateFn) FinishBundle(ctx context.Context, _ func(Shard)) {
	beam.NewCounter("scoring", "users").Inc(ctx, f.users)
	beam.NewCounter("scoring", "entries").Inc(ctx, f.entries)
	beam.NewCounter("scoring", "clipped").Inc(ctx, f.clipped)
	beam.NewCounter("scoring", "capped_entries").Inc(ctx, f.capped)
}
