package scoring

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/transforms/interactions"
)

func init() {
	register.DoFn4x0[context.Context, interactions.Event, []int64, func(string, Weighted)](&weighFn{})
	register.DoFn4x0[context.Context, string, func(*Weighted) bool, func(Row)](&aggregateFn{})
	register.Function2x0(eventTime)
	register.DoFn2x0[interactions.Event, func(interactions.Event)](&windowFn{})
	register.Emitter1[interactions.Event]()
	register.Function2x1(maxInt64)
	register.Emitter2[string, Weighted]()
	register.Emitter1[Row]()
	register.Emitter1[int64]()
	register.Iter1[Weighted]()
}

// PerUser scores a PCollection<interactions.Event> into a PCollection<Row>,
// one per user with at least one item scored above zero. Counters:
// scoring/outside_window, scoring/users, scoring/entries, scoring/clipped,
// scoring/capped_entries.
func PerUser(s beam.Scope, events beam.PCollection, c Config) beam.PCollection {
	s = s.Scope("scoring.PerUser")
	asOf := beam.Create(s, c.AsOf)
	if c.HalfLife > 0 && c.AsOf == 0 {
		// The newest event in the window; an empty input gives no element
		// and, downstream, no rows.
		asOf = beam.Combine(s, maxInt64, beam.ParDo(s, eventTime, beam.ParDo(s, &windowFn{Config: c}, events)))
	}
	weighted := beam.ParDo(s, &weighFn{Config: c}, events, beam.SideInput{Input: asOf})
	return beam.ParDo(s, &aggregateFn{Config: c}, beam.GroupByKey(s, weighted))
}

func eventTime(e interactions.Event, emit func(int64)) { emit(e.Time) }

func maxInt64(a, b int64) int64 { return max(a, b) }

// windowFn keeps the events inside the window, to find the newest one.
type windowFn struct{ Config Config }

func (f *windowFn) ProcessElement(e interactions.Event, emit func(interactions.Event)) {
	if !e.HasTime || f.Config.InWindow(e.Time) {
		emit(e)
	}
}

// weighFn drops events outside the window, decays the rest and keys them by
// user.
type weighFn struct {
	Config  Config
	dropped int64
}

func (f *weighFn) StartBundle(_ context.Context, _ []int64, _ func(string, Weighted)) {
	f.dropped = 0
}

func (f *weighFn) ProcessElement(_ context.Context, e interactions.Event, asOf []int64, emit func(string, Weighted)) {
	if e.HasTime && !f.Config.InWindow(e.Time) {
		f.dropped++
		return
	}
	w := e.Weight
	if e.HasTime && len(asOf) > 0 {
		w = f.Config.Decay(w, e.Time, asOf[0])
	}
	emit(e.User, Weighted{Item: e.Item, Weight: w})
}

func (f *weighFn) FinishBundle(ctx context.Context, _ []int64, _ func(string, Weighted)) {
	beam.NewCounter("scoring", "outside_window").Inc(ctx, f.dropped)
}

// aggregateFn builds each user's row; the event buffer is reused across
// users.
type aggregateFn struct {
	Config                          Config
	buf                             []Weighted
	users, entries, clipped, capped int64
}

func (f *aggregateFn) StartBundle(_ context.Context, _ func(Row)) {
	f.users, f.entries, f.clipped, f.capped = 0, 0, 0, 0
}

func (f *aggregateFn) ProcessElement(_ context.Context, user string, events func(*Weighted) bool, emit func(Row)) {
	f.buf = f.buf[:0]
	var w Weighted
	for events(&w) {
		f.buf = append(f.buf, w)
	}
	row, counts := Aggregate(f.Config, user, f.buf)
	f.clipped += int64(counts.Clipped)
	f.capped += int64(counts.Capped)
	if len(row.Items) == 0 {
		return
	}
	f.users++
	f.entries += int64(len(row.Items))
	emit(row)
}

func (f *aggregateFn) FinishBundle(ctx context.Context, _ func(Row)) {
	beam.NewCounter("scoring", "users").Inc(ctx, f.users)
	beam.NewCounter("scoring", "entries").Inc(ctx, f.entries)
	beam.NewCounter("scoring", "clipped").Inc(ctx, f.clipped)
	beam.NewCounter("scoring", "capped_entries").Inc(ctx, f.capped)
}
