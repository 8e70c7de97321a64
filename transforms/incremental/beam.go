package incremental

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/model"
)

func init() {
	register.DoFn3x0[beam.EventTime, UserEvent, func(beam.EventTime, int, UserEvents)](&userShardFn{})
	register.DoFn6x1[state.Provider, timers.Provider, int, UserEvents, func(int, DeltaBatch), func(Late), error](&userFn{})
	register.DoFn5x1[state.Provider, timers.Provider, int, DeltaBatch, func(Update), error](&itemFn{})
	register.Emitter3[beam.EventTime, int, UserEvents]()
	register.Emitter2[int, DeltaBatch]()
	register.Emitter1[Late]()
	register.Emitter1[Update]()
}

// UserEvent is the model's input: a user's event, its element timestamp
// the event's time.
type UserEvent struct {
	User  string
	Event Event
}

// UserEvents are the events of one bundle for one user shard: the unit the
// user side's state takes (one state append per batch, not per event).
type UserEvents struct {
	Events []UserEvent
}

// Late is an event the model refused (User.Add): too late, or invalid.
type Late struct {
	Event  UserEvent
	Reason string
}

// DeltaBatch is what one user shard sends one item shard for the buckets
// up to End: every count change of those buckets (each item shard keeps
// every count, the denominators of its lists) and the pair changes of the
// items whose lists the item shard holds.
type DeltaBatch struct {
	End    int64
	Counts []CountDelta
	Pairs  []PairDelta
}

// Update is an item's neighbour list after the buckets up to End, written
// only when it differs from the item's last one; no neighbours means the
// item has left the window (its stored list is to be deleted).
type Update struct {
	End       int64            `json:"end"`
	Item      string           `json:"item"`
	Neighbors []model.Neighbor `json:"neighbors"`
}

// Config are the model's settings.
type Config struct {
	Window Window
	// Rules clip the ratings (Clip); the aggregate is max.
	Rules model.Rules
	// TopN is the length of the lists.
	TopN int
	// UserShards and ItemShards are the keys of either side: a timer of a
	// shard handles all its users (items) due at once, so that the deltas
	// cross the shuffle as a few large batches per bucket.
	UserShards, ItemShards int
}

// Validate reports settings the model cannot run with.
func (c Config) Validate() error {
	switch {
	case c.TopN <= 0:
		return fmt.Errorf("--top_n=%d: want at least 1", c.TopN)
	case c.UserShards <= 0 || c.ItemShards <= 0:
		return fmt.Errorf("--user_shards=%d, --item_shards=%d: want at least 1 each", c.UserShards, c.ItemShards)
	}
	return c.Window.Validate()
}

// Model keeps TencentRec's item-based CF over events, a PCollection of
// UserEvent timestamped with their times, in event time: it returns every
// Update, and the events refused (Late). The model after the buckets up to
// an Update's End equals the batch --measure=corating --aggregate=max model
// over [Window.Since(End), End), whatever the runner, bundling or order of
// delivery (within the lateness). It uses value and bag state and
// event-time timers only, which the Prism, Dataflow and Flink runners all
// support.
func Model(s beam.Scope, c Config, events beam.PCollection) (updates, late beam.PCollection) {
	s = s.Scope("incremental.Model")
	keyed := beam.ParDo(s, &userShardFn{Shards: c.UserShards}, events)
	deltas, late := beam.ParDo2(s, &userFn{Window: c.Window, Rules: c.Rules, ItemShards: c.ItemShards,
		Pending: state.MakeBagState[UserEvents]("pending"), Users: state.MakeValueState[userShard]("users"),
		Next: state.MakeValueState[int64]("next"), Timer: timers.InEventTime("bucket")}, keyed)
	updates = beam.ParDo(s, &itemFn{TopN: c.TopN, ItemShards: c.ItemShards,
		Pending: state.MakeBagState[DeltaBatch]("pending"), Items: state.MakeValueState[itemShard]("items"),
		Next: state.MakeValueState[int64]("next"), Timer: timers.InEventTime("bucket")}, deltas)
	return updates, late
}

// userShardFn batches a bundle's events by their user's shard: each event
// would otherwise cost a shuffle element and a state append (a round trip
// to the runner) on its own. A batch is timestamped with its earliest
// event.
type userShardFn struct {
	Shards int

	batches []UserEvents     // by shard
	first   []beam.EventTime // each batch's earliest event
}

func (f *userShardFn) StartBundle(_ func(beam.EventTime, int, UserEvents)) {
	if f.batches == nil {
		f.batches, f.first = make([]UserEvents, f.Shards), make([]beam.EventTime, f.Shards)
	}
	for k := range f.batches {
		f.batches[k].Events = nil // the last bundle's batches were emitted: not ours to reuse
	}
}

func (f *userShardFn) ProcessElement(at beam.EventTime, e UserEvent, _ func(beam.EventTime, int, UserEvents)) {
	k := idhash.Shard(e.User, f.Shards)
	if len(f.batches[k].Events) == 0 || at < f.first[k] {
		f.first[k] = at
	}
	f.batches[k].Events = append(f.batches[k].Events, e)
}

func (f *userShardFn) FinishBundle(emit func(beam.EventTime, int, UserEvents)) {
	for k, b := range f.batches {
		if len(b.Events) > 0 {
			emit(f.first[k], k, b)
		}
	}
}

// userShard is the state of a shard's users.
type userShard struct{ Users map[string]*User }

// userFn keeps a shard's users. An event waits in the bag until the
// watermark passes its bucket's end; the timer then applies every user's
// due buckets and sends the deltas, timestamped just before the bucket's
// end, to the item shards.
type userFn struct {
	Window     Window
	Rules      model.Rules
	ItemShards int

	Pending state.Bag[UserEvents]
	Users   state.Value[userShard]
	Next    state.Value[int64]
	Timer   timers.EventTime
}

// ProcessElement queues the events; the outputs are the timer's.
func (f *userFn) ProcessElement(sp state.Provider, tp timers.Provider, _ int, b UserEvents, _ func(int, DeltaBatch), _ func(Late)) error {
	if err := f.Pending.Add(sp, b); err != nil {
		return err
	}
	var due int64
	for _, e := range b.Events {
		due = earliest(due, f.Window.BucketEnd(e.Event.Time))
	}
	return wake(sp, tp, &f.Next, f.Timer, due)
}

func (f *userFn) OnTimer(_ context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, _ int, _ timers.Context,
	emit func(int, DeltaBatch), late func(Late)) error {
	end := bucketOf(ts)
	pending, _, err := f.Pending.Read(sp)
	if err != nil {
		return err
	}
	shard, _, err := f.Users.Read(sp)
	if err != nil {
		return err
	}
	if shard.Users == nil {
		shard.Users = map[string]*User{}
	}
	var keep []UserEvent
	for _, b := range pending {
		for _, e := range b.Events {
			if f.Window.BucketEnd(e.Event.Time) > end {
				keep = append(keep, e)
				continue
			}
			u := shard.Users[e.User]
			if u == nil {
				u = &User{}
				shard.Users[e.User] = u
			}
			if err := u.Add(f.Window, e.Event); err != nil {
				late(Late{Event: e, Reason: err.Error()})
			}
		}
	}
	batches := make([]DeltaBatch, f.ItemShards)
	var counts []CountDelta
	var next int64
	for _, id := range slices.Sorted(maps.Keys(shard.Users)) {
		u := shard.Users[id]
		for due := u.Due(f.Window); due != 0 && due <= end; due = u.Due(f.Window) {
			c, pairs := Deltas(u.Advance(f.Window, f.Rules, due))
			counts = append(counts, c...)
			for _, p := range pairs {
				k := idhash.Shard(p.I, f.ItemShards)
				batches[k].Pairs = append(batches[k].Pairs, p)
			}
		}
		if u.Empty() {
			delete(shard.Users, id)
		} else {
			next = earliest(next, u.Due(f.Window))
		}
	}
	if len(counts) > 0 {
		for k := range batches {
			batches[k].End, batches[k].Counts = end, counts
			emit(k, batches[k])
		}
	}
	if err := f.Pending.Clear(sp); err != nil {
		return err
	}
	if len(keep) > 0 {
		if err := f.Pending.Add(sp, UserEvents{Events: keep}); err != nil {
			return err
		}
	}
	for _, e := range keep {
		next = earliest(next, f.Window.BucketEnd(e.Event.Time))
	}
	if len(shard.Users) == 0 {
		err = f.Users.Clear(sp)
	} else {
		err = f.Users.Write(sp, shard)
	}
	if err != nil {
		return err
	}
	return rearm(sp, tp, &f.Next, f.Timer, next)
}

// itemShard is the state of a shard's items: the model's item side and
// the lists last written.
type itemShard struct {
	Model *Items
	Lists map[string][]model.Neighbor
}

// itemFn keeps a shard's items. A batch waits in the bag until the
// watermark passes its End; the timer applies the batches up to there and
// writes the lists that changed.
type itemFn struct {
	TopN       int
	ItemShards int

	Pending state.Bag[DeltaBatch]
	Items   state.Value[itemShard]
	Next    state.Value[int64]
	Timer   timers.EventTime
}

// ProcessElement queues the batch; the output is the timer's.
func (f *itemFn) ProcessElement(sp state.Provider, tp timers.Provider, _ int, b DeltaBatch, _ func(Update)) error {
	if err := f.Pending.Add(sp, b); err != nil {
		return err
	}
	return wake(sp, tp, &f.Next, f.Timer, b.End)
}

func (f *itemFn) OnTimer(_ context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, shardKey int, _ timers.Context,
	emit func(Update)) error {
	end := bucketOf(ts)
	pending, _, err := f.Pending.Read(sp)
	if err != nil {
		return err
	}
	shard, _, err := f.Items.Read(sp)
	if err != nil {
		return err
	}
	if shard.Model == nil {
		shard = itemShard{Model: NewItems(), Lists: map[string][]model.Neighbor{}}
	}
	var keep []DeltaBatch
	var next int64
	for _, b := range pending {
		if b.End > end {
			keep = append(keep, b)
			next = earliest(next, b.End)
			continue
		}
		for _, d := range b.Counts {
			shard.Model.ApplyCount(d)
		}
		for _, d := range b.Pairs {
			shard.Model.ApplyPair(d)
		}
	}
	for _, i := range shard.Model.Changed(func(i string) bool { return idhash.Shard(i, f.ItemShards) == shardKey }) {
		list := shard.Model.Neighbors(i, f.TopN)
		if slices.Equal(list, shard.Lists[i]) {
			continue
		}
		emit(Update{End: end, Item: i, Neighbors: list})
		if len(list) == 0 {
			delete(shard.Lists, i)
		} else {
			shard.Lists[i] = list
		}
	}
	if err := f.Pending.Clear(sp); err != nil {
		return err
	}
	for _, b := range keep {
		if err := f.Pending.Add(sp, b); err != nil {
			return err
		}
	}
	if len(shard.Model.counts) == 0 && len(shard.Lists) == 0 {
		err = f.Items.Clear(sp)
	} else {
		err = f.Items.Write(sp, shard)
	}
	if err != nil {
		return err
	}
	return rearm(sp, tp, &f.Next, f.Timer, next)
}

// bucketOf is the bucket end (unix seconds) of a timer firing from its
// timestamp: the timer's output timestamp, a millisecond before the end,
// on Prism; rounding up gives the end from either that or the firing time.
func bucketOf(ts beam.EventTime) int64 {
	ms := mtime.Time(ts).Milliseconds()
	return -model.FloorDiv(-ms, 1000)
}

// earliest is the earlier of two times, 0 meaning none.
func earliest(a, b int64) int64 {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// wake makes the timer fire at bucket end at (unix seconds) if it is set
// for later or not at all.
func wake(sp state.Provider, tp timers.Provider, next *state.Value[int64], timer timers.EventTime, at int64) error {
	cur, ok, err := next.Read(sp)
	if err != nil || ok && cur <= at {
		return err
	}
	return rearm(sp, tp, next, timer, at)
}

// rearm sets the timer to at (0: none). It fires once the watermark has
// reached the bucket end, and holds the output watermark a millisecond
// before it: the outputs are timestamped there, before the bucket end at
// which the next stage's timer for the same bucket fires.
func rearm(sp state.Provider, tp timers.Provider, next *state.Value[int64], timer timers.EventTime, at int64) error {
	if at == 0 {
		timer.Clear(tp)
		return next.Clear(sp)
	}
	fire := time.Unix(at, 0)
	timer.Set(tp, fire, timers.WithOutputTimestamp(fire.Add(-time.Millisecond)))
	return next.Write(sp, at)
}
