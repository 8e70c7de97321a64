package simstore

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/model"
	"golang.org/x/sync/errgroup"
)

// LayoutLive is the streaming job's layout: each item's current list
// updated in place, K/item at the root of the namespace as in the in-place
// layout, with two more properties:
//
//	K/item   {items, scores, end, updated_at}
//
// end is the event time (unix seconds) of the bucket the list was computed
// at: a list is replaced only by one of a later end (PutLive), so a retried
// or reordered write never takes an item back in time. updated_at, the
// write's time, is indexed: it is the change feed readers follow (Changes).
// An item that leaves the window keeps an entity without items, a
// tombstone holding its end, so that the order holds for it too. The
// job's hot list, the real-time fallback, is K+"Popular"/"hot" at the root
// (LiveHot), ordered by its end alike. Each user's recent items are
// K+"Recent"/user in the lists' shape and order (Keys.Recents), each item
// scored by the unix time of the user's latest event on it; a user who
// has left the window keeps a tombstone.
const LayoutLive = "live"

// MaxLiveBatch is the number of lists PutLive reads and writes per call:
// Datastore's limit of mutations per commit.
const MaxLiveBatch = 500

// liveWriters is how many batches PutLive writes at once.
const liveWriters = 8

// LiveEntity is an item's list in the live layout. Items and Scores are
// aligned, in the project's order (model.Order).
type LiveEntity struct {
	Items     []string  `datastore:"items,noindex"`
	Scores    []float64 `datastore:"scores,noindex"`
	End       int64     `datastore:"end,noindex"`
	UpdatedAt time.Time `datastore:"updated_at"`
}

// LiveList is an item's list at the bucket ending at End (unix seconds);
// no neighbours: the item has none (it left the window). UpdatedAt is
// when it was written (set by PutLive).
type LiveList struct {
	Item      string
	Neighbors []model.Neighbor
	End       int64
	UpdatedAt time.Time
}

// LiveSkips counts the lists PutLive did not write: Stale, the store held
// as late a list; Near, the stored list has the same items in the same
// order and every score within the tolerance.
type LiveSkips struct{ Stale, Near int }

// PutLive writes lists, of distinct items, to the live layout of keys
// (keys.Item("", item)), in batches of at most MaxLiveBatch, each read
// and then written: a list replaces the stored one only when its End is
// later, and, with tolerance > 0, only when its items or their order
// differ from the stored list's or a score moved by more than tolerance
// (relative, Near): a change of a popular item's count moves a score in
// every list it is in, and most such moves are too small to change what
// is served. It returns what it skipped. It takes no lock, since a transaction may touch only 25
// items: the caller writes each item from one writer at a time
// (datastoreio.WriteLive keys the lists by shard, and a runner processes
// a key's timers one at a time), so that no write of an item comes
// between its read and its write.
func PutLive(ctx context.Context, client *datastore.Client, keys Keys, lists []LiveList, now time.Time, tolerance float64) (LiveSkips, error) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(liveWriters)
	var stale, near atomic.Int64
	for lo := 0; lo < len(lists); lo += MaxLiveBatch {
		batch := lists[lo:min(lo+MaxLiveBatch, len(lists))]
		g.Go(func() error {
			s, err := putLiveBatch(ctx, client, keys, batch, now, tolerance)
			stale.Add(int64(s.Stale))
			near.Add(int64(s.Near))
			return err
		})
	}
	err := g.Wait()
	return LiveSkips{Stale: int(stale.Load()), Near: int(near.Load())}, err
}

// Near reports whether list is stored as e up to tolerance: the same
// items in the same order, each score within tolerance of the stored one,
// relative to the larger.
func Near(e LiveEntity, list []model.Neighbor, tolerance float64) bool {
	if tolerance <= 0 || len(e.Items) != len(list) || len(e.Scores) != len(list) {
		return false
	}
	for k, n := range list {
		if e.Items[k] != n.Item || math.Abs(e.Scores[k]-n.Score) > tolerance*max(math.Abs(e.Scores[k]), math.Abs(n.Score)) {
			return false
		}
	}
	return true
}

func putLiveBatch(ctx context.Context, client *datastore.Client, keys Keys, lists []LiveList, now time.Time, tolerance float64) (LiveSkips, error) {
	ks := make([]*datastore.Key, len(lists))
	for k, l := range lists {
		ks[k] = keys.Item("", l.Item)
	}
	stored := make([]LiveEntity, len(ks))
	err := client.GetMulti(ctx, ks, stored)
	var missing datastore.MultiError
	switch e := err.(type) {
	case nil:
	case datastore.MultiError:
		missing = e
		for _, one := range e {
			if one != nil && one != datastore.ErrNoSuchEntity {
				return LiveSkips{}, fmt.Errorf("simstore: reading %d live lists: %w", len(lists), one)
			}
		}
	default:
		return LiveSkips{}, fmt.Errorf("simstore: reading %d live lists: %w", len(lists), err)
	}
	var put []*datastore.Key
	var es []*LiveEntity
	var skips LiveSkips
	for k, l := range lists {
		found := missing == nil || missing[k] == nil
		switch {
		case found && stored[k].End >= l.End:
			skips.Stale++
			continue
		case found && Near(stored[k], l.Neighbors, tolerance):
			skips.Near++
			continue
		}
		e := &LiveEntity{End: l.End, UpdatedAt: now, Items: make([]string, len(l.Neighbors)), Scores: make([]float64, len(l.Neighbors))}
		for j, n := range l.Neighbors {
			e.Items[j], e.Scores[j] = n.Item, n.Score
		}
		put, es = append(put, ks[k]), append(es, e)
	}
	if len(put) == 0 {
		return skips, nil
	}
	if _, err := client.PutMulti(ctx, put, es); err != nil {
		return LiveSkips{}, fmt.Errorf("simstore: writing %d live lists: %w", len(put), err)
	}
	return skips, nil
}

// Changes returns the live lists written after since (every list, for
// the zero time), oldest write first. A store's writers stamp their own
// clocks, and a write stamped t may commit after a read of (t, now]: a
// reader following the feed asks again from a little before the last
// stamp it saw, and keeps a list only when its End is later than the one
// it holds.
func (s *Store) Changes(ctx context.Context, since time.Time) ([]LiveList, error) {
	return s.ListFeed().Changes(ctx, since)
}

// RecentChanges returns the users' recent items written after since, as
// Changes returns the lists: one LiveList per user, Item the user, its
// Neighbors the items, latest first, scored by the time of the user's
// latest event on each.
func (s *Store) RecentChanges(ctx context.Context, since time.Time) ([]LiveList, error) {
	return s.RecentFeed().Changes(ctx, since)
}

// LiveFeed is one kind of the live layout read as a change feed: the
// items' lists (Store.ListFeed) or the users' recent items
// (Store.RecentFeed).
type LiveFeed struct {
	s    *Store
	kind string
}

// ListFeed is the items' lists' feed.
func (s *Store) ListFeed() LiveFeed { return LiveFeed{s, s.keys.Kind} }

// RecentFeed is the users' recent items' feed.
func (s *Store) RecentFeed() LiveFeed { return LiveFeed{s, s.keys.RecentKind()} }

// LiveStamp is a live entity's name and write stamp, as the feed's index
// holds them.
type LiveStamp struct {
	Name      string
	UpdatedAt time.Time
}

// maxGet is the number of keys Datastore reads per lookup.
const maxGet = 1000

// Changes returns the entities written after since (all, for the zero
// time), oldest write first.
func (f LiveFeed) Changes(ctx context.Context, since time.Time) ([]LiveList, error) {
	var es []LiveEntity
	ks, err := f.s.client.GetAll(ctx, f.query(since), &es)
	if err != nil {
		return nil, fmt.Errorf("simstore: reading the live %s entities written after %s: %w", f.kind, since.Format(time.RFC3339Nano), err)
	}
	return liveLists(ks, es)
}

// Stamps returns the names and stamps of the entities written after
// since, oldest write first, without the entities: a projection of the
// feed's index. A reader that asks again for an overlap (see Changes)
// reads the stamps of it, and then only the entities it does not hold
// (Get): the overlap's entities are read once, not at every poll.
func (f LiveFeed) Stamps(ctx context.Context, since time.Time) ([]LiveStamp, error) {
	var es []struct {
		UpdatedAt time.Time `datastore:"updated_at"`
	}
	ks, err := f.s.client.GetAll(ctx, f.query(since).Project("updated_at"), &es)
	if err != nil {
		return nil, fmt.Errorf("simstore: reading the stamps of the live %s entities written after %s: %w", f.kind, since.Format(time.RFC3339Nano), err)
	}
	out := make([]LiveStamp, len(ks))
	for k, key := range ks {
		out[k] = LiveStamp{Name: key.Name, UpdatedAt: es[k].UpdatedAt}
	}
	return out, nil
}

// Get returns the entities of names that exist, in the order of names.
func (f LiveFeed) Get(ctx context.Context, names []string) ([]LiveList, error) {
	var out []LiveList
	for lo := 0; lo < len(names); lo += maxGet {
		batch := names[lo:min(lo+maxGet, len(names))]
		ks := make([]*datastore.Key, len(batch))
		for k, name := range batch {
			ks[k] = f.s.keys.root(f.kind, name)
		}
		es := make([]LiveEntity, len(ks))
		err := f.s.client.GetMulti(ctx, ks, es)
		if errs, ok := err.(datastore.MultiError); ok {
			var found []*datastore.Key
			var kept []LiveEntity
			for k, one := range errs {
				switch one {
				case nil:
					found, kept = append(found, ks[k]), append(kept, es[k])
				case datastore.ErrNoSuchEntity:
				default:
					return nil, fmt.Errorf("simstore: reading %d live %s entities: %w", len(ks), f.kind, one)
				}
			}
			ks, es, err = found, kept, nil
		}
		if err != nil {
			return nil, fmt.Errorf("simstore: reading %d live %s entities: %w", len(ks), f.kind, err)
		}
		lists, err := liveLists(ks, es)
		if err != nil {
			return nil, err
		}
		out = append(out, lists...)
	}
	return out, nil
}

// query is the feed's entities written after since, oldest write first.
func (f LiveFeed) query(since time.Time) *datastore.Query {
	return datastore.NewQuery(f.kind).Namespace(f.s.keys.Namespace).FilterField("updated_at", ">", since).Order("updated_at")
}

// liveLists decodes live entities.
func liveLists(ks []*datastore.Key, es []LiveEntity) ([]LiveList, error) {
	out := make([]LiveList, len(es))
	for k, e := range es {
		if len(e.Items) != len(e.Scores) {
			return nil, fmt.Errorf("simstore: live list %q has %d items and %d scores", ks[k].Name, len(e.Items), len(e.Scores))
		}
		l := LiveList{Item: ks[k].Name, Neighbors: make([]model.Neighbor, len(e.Items)), End: e.End, UpdatedAt: e.UpdatedAt}
		for j := range e.Items {
			l.Neighbors[j] = model.Neighbor{Item: e.Items[j], Score: e.Scores[j]}
		}
		out[k] = l
	}
	return out, nil
}

// LiveHotName is the key name of the live layout's hot list,
// K+"Popular"/"hot" at the root: the streaming job's real-time fallback.
const LiveHotName = "hot"

// LiveHot is the live layout's hot list: the items with the most users in
// the job's hot window at the bucket ending at End, most first; Items and
// Users are aligned.
type LiveHot struct {
	Items     []string  `datastore:"items,noindex"`
	Users     []int64   `datastore:"users,noindex"`
	End       int64     `datastore:"end,noindex"`
	UpdatedAt time.Time `datastore:"updated_at,noindex"`
}

// liveHotKey is the hot list's key.
func (k Keys) liveHotKey() *datastore.Key { return k.root(k.PopularKind(), LiveHotName) }

// PutLiveHot writes the hot list at end, in a transaction that keeps the
// stored one when its end is as late; it reports whether it was stale.
func PutLiveHot(ctx context.Context, client *datastore.Client, keys Keys, items []model.PopularItem, end int64, now time.Time) (stale bool, err error) {
	key := keys.liveHotKey()
	_, err = client.RunInTransaction(ctx, func(tx *datastore.Transaction) error {
		var stored LiveHot
		switch err := tx.Get(key, &stored); {
		case err == nil && stored.End >= end:
			stale = true
			return nil
		case err != nil && err != datastore.ErrNoSuchEntity:
			return err
		}
		stale = false
		e := &LiveHot{End: end, UpdatedAt: now, Items: make([]string, len(items)), Users: make([]int64, len(items))}
		for k, p := range items {
			e.Items[k], e.Users[k] = p.Item, p.Users
		}
		_, err := tx.Put(key, e)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("simstore: writing the live hot list: %w", err)
	}
	return stale, nil
}

// LiveHot returns the live layout's hot list and its end; found is false
// when none is stored.
func (s *Store) LiveHot(ctx context.Context) (items []model.PopularItem, end int64, found bool, err error) {
	var e LiveHot
	switch err := s.client.Get(ctx, s.keys.liveHotKey(), &e); {
	case err == datastore.ErrNoSuchEntity:
		return nil, 0, false, nil
	case err != nil:
		return nil, 0, false, fmt.Errorf("simstore: reading the live hot list: %w", err)
	}
	if len(e.Items) != len(e.Users) {
		return nil, 0, false, fmt.Errorf("simstore: the live hot list has %d items and %d counts", len(e.Items), len(e.Users))
	}
	items = make([]model.PopularItem, len(e.Items))
	for k := range e.Items {
		items[k] = model.PopularItem{Item: e.Items[k], Users: e.Users[k]}
	}
	return items, e.End, true, nil
}
