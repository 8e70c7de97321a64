package incremental

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
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
	register.DoFn7x1[state.Provider, timers.Provider, int, UserEvents, func(int, DeltaBatch), func(Recent), func(Late), error](&userFn{})
	register.DoFn6x1[state.Provider, timers.Provider, int, DeltaBatch, func(Update), func(int, shardHot), error](&itemFn{})
	register.Emitter3[beam.EventTime, int, UserEvents]()
	register.Emitter2[int, DeltaBatch]()
	register.Emitter1[Late]()
	register.Emitter1[Recent]()
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
	// Hot are the hot-window user changes of the shard's items.
	Hot []HotDelta
}

// Update is an item's neighbour list after the buckets up to End, written
// only when it differs from the item's last one; no neighbours means the
// item has left the window (its stored list is to be deleted).
type Update struct {
	End       int64            `json:"end"`
	Item      string           `json:"item"`
	Neighbors []model.Neighbor `json:"neighbors"`
}

// Recent is a user's most recent items (Config.RecentN of the window's,
// latest first, each with the time of the user's latest event on it)
// after the buckets up to End, written only when they change; none means
// the user has left the window.
type Recent struct {
	End   int64        `json:"end"`
	User  string       `json:"user"`
	Items []RecentItem `json:"items"`
}

// Config are the model's settings.
type Config struct {
	Window Window
	// Rules clip the ratings (Clip); the aggregate is max.
	Rules model.Rules
	// TopN is the length of the lists, HotN of the hot list, RecentN of
	// the users' recent items (0: none kept).
	TopN, HotN, RecentN int
	// Prune is the lists' pruning (none by default: the model is exact).
	Prune Pruning
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
	case c.RecentN < 0:
		return fmt.Errorf("--recent_n=%d: want at least 0 (0: no recent items)", c.RecentN)
	case c.HotN < 0 || c.HotN == 0 && c.Window.Hot > 0:
		return fmt.Errorf("--hot_n=%d: want at least 1 (or --hot_window=0: no hot list)", c.HotN)
	case c.UserShards <= 0 || c.ItemShards <= 0:
		return fmt.Errorf("--user_shards=%d, --item_shards=%d: want at least 1 each", c.UserShards, c.ItemShards)
	}
	if err := c.Prune.Validate(); err != nil {
		return err
	}
	return c.Window.Validate()
}

// Model keeps TencentRec's item-based CF over events, a PCollection of
// UserEvent timestamped with their times, in event time: it returns every
// Update, every HotList (when the window keeps one, Window.Hot), every
// Recent (when RecentN > 0) and the events refused (Late). The model after the buckets up to an Update's End
// equals the batch --measure=corating --aggregate=max model over
// [Window.Since(End), End), and the hot list the HotN items with the most
// users in [Window.HotSince(End), End), and a Recent the user's RecentN
// latest items of the events in [Window.Since(End), End), whatever the runner, bundling or
// order of delivery (within the lateness). It uses value and bag state and
// event-time timers only, which the Prism, Dataflow and Flink runners all
// support.
func Model(s beam.Scope, c Config, events beam.PCollection) (updates, hot, recent, late beam.PCollection) {
	s = s.Scope("incremental.Model")
	keyed := beam.ParDo(s, &userShardFn{Shards: c.UserShards}, events)
	deltas, recent, late := beam.ParDo3(s, &userFn{Window: c.Window, Rules: c.Rules, RecentN: c.RecentN, ItemShards: c.ItemShards,
		Pending: state.MakeBagState[UserEvents]("pending"), Snapshot: state.MakeValueState[userShard]("users"),
		Journal: state.MakeBagState[userShard]("journal"), Version: state.MakeValueState[int64]("version"),
		Next: state.MakeValueState[int64]("next"), Timer: timers.InEventTime("bucket"), Copies: copiesName("users")}, keyed)
	updates, shardsHot := beam.ParDo2(s, &itemFn{TopN: c.TopN, HotN: c.HotN, Prune: c.Prune, ItemShards: c.ItemShards,
		Pending: state.MakeBagState[DeltaBatch]("pending"), Snapshot: state.MakeValueState[itemShard]("items"),
		Journal: state.MakeBagState[itemLog]("journal"), Version: state.MakeValueState[int64]("version"),
		Next: state.MakeValueState[int64]("next"), Timer: timers.InEventTime("bucket"), Copies: copiesName("items")}, deltas)
	hot = beam.ParDo(s, &hotFn{HotN: c.HotN, Pending: state.MakeBagState[shardHot]("pending"),
		Shards: state.MakeValueState[hotShards]("shards"), Next: state.MakeValueState[int64]("next"),
		Timer: timers.InEventTime("bucket")}, shardsHot)
	return updates, hot, recent, late
}

// copiesName names a side's copies (workerCopies) apart from every other Model's
// in the process (tests run several pipelines in one).
func copiesName(side string) string {
	return fmt.Sprintf("%s-%016x", side, rand.Uint64())
}

// prunedPairs counts the pairs Pruning dropped from a list's candidates.
var prunedPairs = beam.NewCounter("incremental", "pruned_pairs")

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

// userShard is a shard's users: the snapshot of the user side's state,
// and an entry of its journal (the users a timer changed; an Empty one was
// removed).
type userShard struct{ Users map[string]*User }

// userFn keeps a shard's users. An event waits in the bag until the
// watermark passes its bucket's end; the timer then applies every user's
// due buckets and sends the deltas, timestamped just before the bucket's
// end, to the item shards. The users are a snapshot and a journal in the
// runner, and a copy in the worker (userCache).
type userFn struct {
	Window     Window
	Rules      model.Rules
	RecentN    int
	ItemShards int

	Pending  state.Bag[UserEvents]
	Snapshot state.Value[userShard]
	Journal  state.Bag[userShard]
	Version  state.Value[int64]
	Next     state.Value[int64]
	Timer    timers.EventTime

	// Copies names the worker's copies of the shards' states (workerCopies).
	Copies string
}

// ProcessElement queues the events; the outputs are the timer's.
func (f *userFn) ProcessElement(sp state.Provider, tp timers.Provider, _ int, b UserEvents, _ func(int, DeltaBatch), _ func(Recent), _ func(Late)) error {
	if err := f.Pending.Add(sp, b); err != nil {
		return err
	}
	var due int64
	for _, e := range b.Events {
		due = earliest(due, f.Window.BucketEnd(e.Event.Time))
	}
	return wake(sp, tp, &f.Next, f.Timer, due)
}

func (f *userFn) OnTimer(_ context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, shardKey int, _ timers.Context,
	emit func(int, DeltaBatch), emitRecent func(Recent), late func(Late)) error {
	end := bucketOf(ts)
	pending, _, err := f.Pending.Read(sp)
	if err != nil {
		return err
	}
	var due, keep []UserEvent
	for _, b := range pending {
		for _, e := range b.Events {
			if f.Window.BucketEnd(e.Event.Time) > end {
				keep = append(keep, e)
			} else {
				due = append(due, e)
			}
		}
	}
	c, held, err := current(sp, &f.Version, f.Copies, shardKey, func() (*userCache, error) {
		snapshot, _, err := f.Snapshot.Read(sp)
		if err != nil {
			return nil, err
		}
		journal, _, err := f.Journal.Read(sp)
		return newUserCache(f.Window, snapshot, journal), err
	})
	if err != nil {
		return err
	}
	users := c.state
	batches, changed, recents := users.advance(f.Window, f.Rules, f.RecentN, f.ItemShards, end, due, late)
	for k, b := range batches {
		emit(k, b)
	}
	for _, r := range recents {
		emitRecent(r)
	}
	if err := f.Pending.Clear(sp); err != nil {
		return err
	}
	next := users.next()
	if len(keep) > 0 {
		if err := f.Pending.Add(sp, UserEvents{Events: keep}); err != nil {
			return err
		}
		for _, e := range keep {
			next = earliest(next, f.Window.BucketEnd(e.Event.Time))
		}
	}
	switch {
	case len(users.users) == 0:
		err = clearShard(sp, &f.Snapshot, &f.Journal, &f.Version, f.Copies, shardKey)
	case len(changed.Users) == 0:
		c.version = held
	case users.fold():
		err = writeSnapshot(sp, &f.Snapshot, &f.Journal, &f.Version, c, userShard{Users: users.users})
	default:
		err = appendJournal(sp, &f.Journal, &f.Version, c, changed)
	}
	if err != nil {
		return err
	}
	return rearm(sp, tp, &f.Next, f.Timer, next)
}

// itemShard is a shard's items, the snapshot of the item side's state: the
// model's item side and the lists last written.
type itemShard struct {
	Model *Items
	Lists map[string][]model.Neighbor
	// Hot is the shard's hot list last written.
	Hot []model.PopularItem
}

// itemFn keeps a shard's items. A batch waits in the bag until the
// watermark passes its End; the timer applies the batches up to there and
// writes the lists that changed. The items are a snapshot and a journal in
// the runner, and a copy in the worker (itemCache).
type itemFn struct {
	TopN, HotN int
	Prune      Pruning
	ItemShards int

	Pending  state.Bag[DeltaBatch]
	Snapshot state.Value[itemShard]
	Journal  state.Bag[itemLog]
	Version  state.Value[int64]
	Next     state.Value[int64]
	Timer    timers.EventTime

	// Copies names the worker's copies of the shards' states (workerCopies).
	Copies string
}

// ProcessElement queues the batch; the output is the timer's.
func (f *itemFn) ProcessElement(sp state.Provider, tp timers.Provider, _ int, b DeltaBatch, _ func(Update), _ func(int, shardHot)) error {
	if err := f.Pending.Add(sp, b); err != nil {
		return err
	}
	return wake(sp, tp, &f.Next, f.Timer, b.End)
}

func (f *itemFn) OnTimer(ctx context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, shardKey int, _ timers.Context,
	emit func(Update), emitHot func(int, shardHot)) error {
	end := bucketOf(ts)
	pending, _, err := f.Pending.Read(sp)
	if err != nil {
		return err
	}
	var due, keep []DeltaBatch
	var next int64
	for _, b := range pending {
		if b.End > end {
			keep = append(keep, b)
			next = earliest(next, b.End)
		} else {
			due = append(due, b)
		}
	}
	c, held, err := current(sp, &f.Version, f.Copies, shardKey, func() (*itemCache, error) {
		snapshot, _, err := f.Snapshot.Read(sp)
		if err != nil {
			return nil, err
		}
		journal, _, err := f.Journal.Read(sp)
		return newItemCache(snapshot, journal), err
	})
	if err != nil {
		return err
	}
	items := c.state
	entry := items.apply(due, f.TopN, f.HotN, f.Prune, func(i string) bool { return idhash.Shard(i, f.ItemShards) == shardKey }, end)
	for _, u := range entry.Lists {
		emit(u)
	}
	prunedPairs.Inc(ctx, int64(len(entry.Pruned)))
	if entry.HotSet {
		emitHot(0, shardHot{Shard: shardKey, End: end, Items: entry.Hot})
	}
	if err := f.Pending.Clear(sp); err != nil {
		return err
	}
	for _, b := range keep {
		if err := f.Pending.Add(sp, b); err != nil {
			return err
		}
	}
	switch {
	case items.empty():
		err = clearShard(sp, &f.Snapshot, &f.Journal, &f.Version, f.Copies, shardKey)
	case len(due) == 0:
		c.version = held
	case items.fold():
		err = writeSnapshot(sp, &f.Snapshot, &f.Journal, &f.Version, c, items.shard)
	default:
		err = appendJournal(sp, &f.Journal, &f.Version, c, entry)
	}
	if err != nil {
		return err
	}
	return rearm(sp, tp, &f.Next, f.Timer, next)
}

// versioned is a worker's copy of a shard's state and the version of the
// runner's state it equals, 0 while it may differ (a timer is changing it).
type versioned[C any] struct {
	version int64
	state   C
}

// workerCopies is the process's copies of the shards' states, by the Copies of
// their DoFn and shard: shared by the DoFn's instances, since a runner may
// run a stage's bundles on several at once, and each would otherwise
// decode again the shards the others wrote.
var workerCopies struct {
	sync.Mutex
	copies map[copyKey]any // *versioned[C]
}

type copyKey struct {
	fn    string
	shard int
}

// current returns the worker's copy of the state of fn's shard key,
// decoded afresh (decode) unless it is of the version the runner holds,
// and that version (0: none). The copy's version is reset until the timer
// writes a new one (or restores the one held, having changed nothing): a
// bundle that fails midway leaves a copy no version matches.
func current[C any](sp state.Provider, version *state.Value[int64], fn string, key int,
	decode func() (C, error)) (c *versioned[C], v int64, err error) {
	v, _, err = version.Read(sp)
	if err != nil {
		return nil, 0, err
	}
	k := copyKey{fn, key}
	workerCopies.Lock()
	c, _ = workerCopies.copies[k].(*versioned[C])
	workerCopies.Unlock()
	if c == nil || v == 0 || c.version != v {
		s, err := decode()
		if err != nil {
			return nil, 0, err
		}
		c = &versioned[C]{state: s}
		workerCopies.Lock()
		if workerCopies.copies == nil {
			workerCopies.copies = map[copyKey]any{}
		}
		workerCopies.copies[k] = c
		workerCopies.Unlock()
	}
	c.version = 0
	return c, v, nil
}

// appendJournal appends a timer's changes to the runner's journal and
// gives the state a new version.
func appendJournal[C, J any](sp state.Provider, journal *state.Bag[J], version *state.Value[int64], c *versioned[C], entry J) error {
	if err := journal.Add(sp, entry); err != nil {
		return err
	}
	return bump(sp, version, c)
}

// writeSnapshot replaces the runner's snapshot and journal by the state
// and gives it a new version.
func writeSnapshot[C, S, J any](sp state.Provider, snapshot *state.Value[S], journal *state.Bag[J], version *state.Value[int64], c *versioned[C], s S) error {
	if err := snapshot.Write(sp, s); err != nil {
		return err
	}
	if err := journal.Clear(sp); err != nil {
		return err
	}
	return bump(sp, version, c)
}

// bump writes a new random version (never 0) to the runner and the copy:
// random, so that two workers' copies never share one.
func bump[C any](sp state.Provider, version *state.Value[int64], c *versioned[C]) error {
	v := rand.Int64() | 1
	if err := version.Write(sp, v); err != nil {
		return err
	}
	c.version = v
	return nil
}

// clearShard drops an empty shard's state from the runner and the worker.
func clearShard[S, J any](sp state.Provider, snapshot *state.Value[S], journal *state.Bag[J], version *state.Value[int64],
	fn string, key int) error {
	workerCopies.Lock()
	delete(workerCopies.copies, copyKey{fn, key})
	workerCopies.Unlock()
	for _, clear := range []func(state.Provider) error{snapshot.Clear, journal.Clear, version.Clear} {
		if err := clear(sp); err != nil {
			return err
		}
	}
	return nil
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
