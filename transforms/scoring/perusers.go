package scoring

import (
	"context"
	"maps"
	"math"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/transforms/interactions"
)

func init() {
	register.DoFn4x0[context.Context, interactions.Batch, []int64, func(int64, PartialShard)](&weighFn{})
	register.DoFn4x0[context.Context, int64, func(*PartialShard) bool, func(Shard)](&aggregateFn{})
	register.DoFn2x0[interactions.Batch, func(int64)](&newestFn{})
	register.Function2x1(maxInt64)
	register.Emitter2[int64, PartialShard]()
	register.Emitter1[Shard]()
	register.Function2x0(shardRows)
	register.Emitter1[Row]()
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
	asOf := beam.Create(s, c.AsOf)
	if c.HalfLife > 0 && c.AsOf == 0 {
		// The newest event in the window; an empty input gives no element
		// and, downstream, no rows.
		asOf = beam.Combine(s, maxInt64, beam.ParDo(s, &newestFn{Config: c}, batches))
	}
	weighted := beam.ParDo(s, &weighFn{Config: c}, batches, beam.SideInput{Input: asOf})
	return beam.ParDo(s, &aggregateFn{Config: c}, beam.GroupByKey(s, weighted))
}

func maxInt64(a, b int64) int64 { return max(a, b) }

// Rows turns a PCollection<Shard> into a PCollection<Row>, for consumers
// that want one element per user.
func Rows(s beam.Scope, shards beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("scoring.Rows"), shardRows, shards)
}

func shardRows(sh Shard, emit func(Row)) {
	for _, r := range sh.Rows {
		emit(r)
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

// weighFn drops events outside the window, decays the rest, and reduces
// them per user inside the bundle: one PartialShard per shard per bundle
// crosses the shuffle, not one element per event or per user. It flushes
// every maxPendingEvents events, so a bundle that reads a whole file holds
// a bounded part of it.
type weighFn struct {
	Config  Config
	dropped int64
	pending int
	users   map[string][]Weighted
}

// maxPendingEvents bounds the events weighFn holds (about 100 MB).
const maxPendingEvents = 1 << 20

func (f *weighFn) StartBundle(_ context.Context, _ []int64, _ func(int64, PartialShard)) {
	f.dropped, f.pending, f.users = 0, 0, map[string][]Weighted{}
}

func (f *weighFn) ProcessElement(_ context.Context, b interactions.Batch, asOf []int64, emit func(int64, PartialShard)) {
	for _, e := range b.Events {
		if e.HasTime && !f.Config.InWindow(e.Time) {
			f.dropped++
			continue
		}
		w := e.Weight
		if e.HasTime && len(asOf) > 0 {
			w = f.Config.Decay(w, e.Time, asOf[0])
		}
		f.users[e.User] = append(f.users[e.User], Weighted{Item: e.Item, Weight: w})
	}
	if f.pending += len(b.Events); f.pending >= maxPendingEvents {
		f.flush(emit)
	}
}

// flush emits the buffered users' partials grouped by shard.
func (f *weighFn) flush(emit func(int64, PartialShard)) {
	shards := make([]PartialShard, f.Config.shards())
	for user, events := range f.users {
		ps := &shards[ShardOf(user, len(shards))]
		ps.Users = append(ps.Users, user)
		ps.Parts = append(ps.Parts, Reduce(events))
	}
	for k, ps := range shards {
		if len(ps.Users) > 0 {
			emit(int64(k), ps)
		}
	}
	f.pending, f.users = 0, map[string][]Weighted{}
}

func (f *weighFn) FinishBundle(ctx context.Context, _ []int64, emit func(int64, PartialShard)) {
	f.flush(emit)
	f.users = nil
	beam.NewCounter("scoring", "outside_window").Inc(ctx, f.dropped)
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
	byUser := map[string][]Partial{}
	var ps PartialShard
	for shards(&ps) {
		for k, user := range ps.Users {
			byUser[user] = append(byUser[user], ps.Parts[k])
		}
	}
	var out Shard
	for _, user := range slices.Sorted(maps.Keys(byUser)) {
		row, counts := Aggregate(f.Config, user, byUser[user])
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
