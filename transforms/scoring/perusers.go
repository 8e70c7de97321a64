package scoring

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/transforms/interactions"
)

func init() {
	register.DoFn4x0[context.Context, interactions.Event, []int64, func(string, Partial)](&weighFn{})
	register.DoFn4x0[context.Context, string, func(*Partial) bool, func(Row)](&aggregateFn{})
	register.Function2x0(eventTime)
	register.DoFn2x0[interactions.Event, func(interactions.Event)](&windowFn{})
	register.Emitter1[interactions.Event]()
	register.Function2x1(maxInt64)
	register.Emitter2[string, Partial]()
	register.Emitter1[Row]()
	register.Emitter1[int64]()
	register.Iter1[Partial]()
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

// weighFn drops events outside the window, decays the rest, and reduces
// them per user inside the bundle: one Partial per user per bundle crosses
// the shuffle, not one element per event.
type weighFn struct {
	Config  Config
	dropped int64
	users   map[string][]Weighted
}

func (f *weighFn) StartBundle(_ context.Context, _ []int64, _ func(string, Partial)) {
	f.dropped, f.users = 0, map[string][]Weighted{}
}

func (f *weighFn) ProcessElement(_ context.Context, e interactions.Event, asOf []int64, _ func(string, Partial)) {
	if e.HasTime && !f.Config.InWindow(e.Time) {
		f.dropped++
		return
	}
	w := e.Weight
	if e.HasTime && len(asOf) > 0 {
		w = f.Config.Decay(w, e.Time, asOf[0])
	}
	f.users[e.User] = append(f.users[e.User], Weighted{Item: e.Item, Weight: w})
}

func (f *weighFn) FinishBundle(ctx context.Context, _ []int64, emit func(string, Partial)) {
	for user, events := range f.users {
		emit(user, Reduce(events))
	}
	f.users = nil
	beam.NewCounter("scoring", "outside_window").Inc(ctx, f.dropped)
}

// aggregateFn merges each user's partials into the user's row.
type aggregateFn struct {
	Config                          Config
	buf                             []Partial
	users, entries, clipped, capped int64
}

func (f *aggregateFn) StartBundle(_ context.Context, _ func(Row)) {
	f.users, f.entries, f.clipped, f.capped = 0, 0, 0, 0
}

func (f *aggregateFn) ProcessElement(_ context.Context, user string, parts func(*Partial) bool, emit func(Row)) {
	f.buf = f.buf[:0]
	var p Partial
	for parts(&p) {
		f.buf = append(f.buf, p)
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
