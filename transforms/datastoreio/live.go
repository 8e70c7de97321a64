package datastoreio

import (
	"cmp"
	"context"
	"slices"
	"sync/atomic"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/incremental"
	"golang.org/x/sync/errgroup"
)

func init() {
	register.DoFn4x1[state.Provider, timers.Provider, int, incremental.Update, error](&liveFn{})
	register.DoFn2x0[context.Context, incremental.HotList](&liveHotFn{})
	register.DoFn1x2[incremental.Update, int, incremental.Update](&liveShardFn{})
	register.Function1x1(recentAsList)
}

var (
	liveWritten = beam.NewCounter("datastoreio", "live_written")
	liveStale   = beam.NewCounter("datastoreio", "live_stale")
	liveNear    = beam.NewCounter("datastoreio", "live_near")
)

// liveShards is how many keys the live lists are written under: each
// key's lists are written one flush at a time, in batches of up to
// simstore.MaxLiveBatch, and the keys flush in parallel.
const liveShards = 16

// WriteLive upserts the streaming job's list updates (a PCollection of
// incremental.Update) into the live layout of cfg (simstore.LayoutLive;
// cfg.Layout is ignored) while the job runs. The updates are keyed by a
// hash of their item into liveShards keys; each key gathers them until the
// watermark passes the end of the earliest bucket it holds, then writes
// the latest list of each item (simstore.PutLive: read, and written only
// over an earlier end, without a transaction, since a runner fires a key's
// timers one at a time and an item has one key), so a retried or
// overtaking write never takes an item back; with cfg.LiveTolerance, a
// list whose items and order are stored and whose scores moved less than
// it is not written either. It counts the lists written (live_written),
// those the store already held as late ones (live_stale) and those within
// the tolerance (live_near). A write that fails fails the bundle, for the runner to
// retry.
//
// The job's hot lists (a PCollection of incremental.HotList) are written
// alike, the latest of each bundle, as the layout's hot list, and the
// users' recent items (a PCollection of incremental.Recent) as the
// layout's users (simstore.Keys.Recents), in the lists' order.
func WriteLive(s beam.Scope, cfg Config, updates, hot, recent beam.PCollection) {
	s = s.Scope("datastoreio.WriteLive")
	cfg = cfg.withDefaults()
	cfg.Layout = simstore.LayoutLive
	write := func(s beam.Scope, lists beam.PCollection, recent bool) {
		keyed := beam.ParDo(s, &liveShardFn{Shards: liveShards}, lists)
		beam.ParDo0(s, &liveFn{Config: cfg, Recent: recent, Pending: state.MakeBagState[incremental.Update]("pending"),
			Next: state.MakeValueState[int64]("next"), Timer: timers.InEventTime("flush")}, keyed)
	}
	write(s, updates, false)
	beam.ParDo0(s, &liveHotFn{Config: cfg}, hot)
	write(s.Scope("Recent"), beam.ParDo(s, recentAsList, recent), true)
}

// liveShardFn keys a list by its item's shard.
type liveShardFn struct{ Shards int }

func (f *liveShardFn) ProcessElement(u incremental.Update) (int, incremental.Update) {
	return idhash.Shard(u.Item, f.Shards), u
}

// recentAsList is a user's recent items as the live layout stores them:
// a list keyed by the user, each item scored by the unix time of the
// user's latest event on it (exact in a float64).
func recentAsList(r incremental.Recent) incremental.Update {
	u := incremental.Update{End: r.End, Item: r.User, Neighbors: make([]model.Neighbor, len(r.Items))}
	for k, x := range r.Items {
		u.Neighbors[k] = model.Neighbor{Item: x.Item, Score: float64(x.Time)}
	}
	return u
}

// liveFn writes a key's lists: the items' lists, or with Recent the users'
// recent items (recentAsList). A list waits in the bag until the
// watermark passes the end of the earliest bucket pending (Next); the
// timer then writes every list pending, the latest of each item.
//
// The timer starts the write and the bundle waits for its writes at
// FinishBundle: a runner may fire many keys' timers in one bundle, one
// after another (Prism fires all of a stage's), and each key's lists are
// usually one batch, so writing them in turn would cost a round trip to
// Datastore per key. A bundle commits (its bag cleared) only after its
// writes landed; a failed write fails it, for the runner to retry. A
// key's second flush in a bundle waits for its first, so an item's lists
// still land in order.
type liveFn struct {
	Config Config
	Recent bool

	Pending state.Bag[incremental.Update]
	Next    state.Value[int64]
	Timer   timers.EventTime

	client *datastore.Client
	// The bundle's writes: its context, the writes in flight, each key's
	// latest (closed when done), and their counts.
	ctx                  context.Context
	writes               *errgroup.Group
	inFlight             map[int]chan struct{}
	written, stale, near atomic.Int64
}

func (f *liveFn) Setup(ctx context.Context) (err error) {
	f.client, err = newClient(ctx, f.Config)
	return err
}

func (f *liveFn) Teardown() error { return f.client.Close() }

func (f *liveFn) StartBundle(ctx context.Context) {
	f.ctx, f.writes, f.inFlight = ctx, &errgroup.Group{}, map[int]chan struct{}{}
	f.writes.SetLimit(liveShards)
}

// FinishBundle waits for the bundle's writes and counts them.
func (f *liveFn) FinishBundle(ctx context.Context) error {
	err := f.writes.Wait()
	liveWritten.Inc(ctx, f.written.Swap(0))
	liveStale.Inc(ctx, f.stale.Swap(0))
	liveNear.Inc(ctx, f.near.Swap(0))
	return err
}

func (f *liveFn) ProcessElement(sp state.Provider, tp timers.Provider, _ int, u incremental.Update) error {
	if err := f.Pending.Add(sp, u); err != nil {
		return err
	}
	next, ok, err := f.Next.Read(sp)
	if err != nil || ok && next <= u.End {
		return err
	}
	f.Timer.Set(tp, time.Unix(u.End, 0))
	return f.Next.Write(sp, u.End)
}

func (f *liveFn) OnTimer(_ beam.EventTime, sp state.Provider, _ timers.Provider, key int, _ timers.Context) error {
	pending, _, err := f.Pending.Read(sp)
	if err != nil {
		return err
	}
	latest := map[string]incremental.Update{}
	for _, u := range pending {
		if prev, ok := latest[u.Item]; !ok || u.End > prev.End {
			latest[u.Item] = u
		}
	}
	lists := make([]simstore.LiveList, 0, len(latest))
	for _, u := range latest {
		lists = append(lists, simstore.LiveList{Item: u.Item, Neighbors: u.Neighbors, End: u.End})
	}
	slices.SortFunc(lists, func(a, b simstore.LiveList) int { return cmp.Compare(a.Item, b.Item) })
	keys := simstore.Keys{Namespace: f.Config.Namespace, Kind: f.Config.Kind}
	if f.Recent {
		keys = keys.Recents()
	}
	tolerance := f.Config.LiveTolerance
	if f.Recent {
		tolerance = 0 // a user's recent items: every change is one of items
	}
	prev, done := f.inFlight[key], make(chan struct{})
	f.inFlight[key] = done
	f.writes.Go(func() error {
		defer close(done)
		if prev != nil {
			<-prev
		}
		skips, err := simstore.PutLive(f.ctx, f.client, keys, lists, time.Now(), tolerance)
		if err != nil {
			return err
		}
		f.written.Add(int64(len(lists) - skips.Stale - skips.Near))
		f.stale.Add(int64(skips.Stale))
		f.near.Add(int64(skips.Near))
		return nil
	})
	if err := f.Pending.Clear(sp); err != nil {
		return err
	}
	return f.Next.Clear(sp)
}

// liveHotFn writes each bundle's latest hot list.
type liveHotFn struct {
	Config Config

	client *datastore.Client
	latest *incremental.HotList
}

func (f *liveHotFn) Setup(ctx context.Context) (err error) {
	f.client, err = newClient(ctx, f.Config)
	return err
}

func (f *liveHotFn) Teardown() error { return f.client.Close() }

func (f *liveHotFn) StartBundle(context.Context) { f.latest = nil }

func (f *liveHotFn) ProcessElement(_ context.Context, h incremental.HotList) {
	if f.latest == nil || h.End > f.latest.End {
		f.latest = &h
	}
}

func (f *liveHotFn) FinishBundle(ctx context.Context) error {
	if f.latest == nil {
		return nil
	}
	keys := simstore.Keys{Namespace: f.Config.Namespace, Kind: f.Config.Kind}
	stale, err := simstore.PutLiveHot(ctx, f.client, keys, f.latest.Items, f.latest.End, time.Now())
	if err != nil {
		return err
	}
	if stale {
		liveStale.Inc(ctx, 1)
	} else {
		liveWritten.Inc(ctx, 1)
	}
	return nil
}
