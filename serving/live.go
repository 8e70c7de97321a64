package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/simstore"
)

// liveOverlap is how far before the latest write it has seen a live
// follower asks for changes again: a write is stamped before it commits,
// so one stamped earlier than a write already read may commit after it.
// The overlap is read as stamps (simstore.LiveFeed.Stamps); a list is
// fetched only when its stamp is not the one held, and kept only when
// its End is later.
const liveOverlap = 5 * time.Second

// liveFollower serves the live layout the streaming job upserts
// (simstore.LayoutLive): it reads every list once, then, every interval,
// only the lists written since (simstore.LiveFeed), and serves a
// model rebuilt from the lists it holds, with the job's hot list as the
// fallback (the popular file's until the job has written one), and the
// users' recent items (followed alike) for GET
// /v1/users/{user}/recommendations. A list replaces the one held only
// when its End is later. It is used by one goroutine.
type liveFollower struct {
	store   *simstore.Store
	srv     *server
	popular []model.PopularItem
	// lists are the lists held, tombstones included (for their End);
	// seen is the latest write stamp read; hotEnd is the End of the hot
	// list held in popular (0: the file's, if any).
	lists  map[string]simstore.LiveList
	seen   time.Time
	hotEnd int64
	// recent are the users' recent items held (by user, tombstones
	// included), seenRecent the latest write stamp read of them.
	recent     map[string]simstore.LiveList
	seenRecent time.Time
}

// follow reads feed's entities: all of them the first time, then those
// whose stamp, since the last stamp seen less the overlap, is not the one
// held. It keeps each whose End is later than the one held, and returns
// how many it kept.
func follow(ctx context.Context, feed simstore.LiveFeed, held map[string]simstore.LiveList, seen *time.Time) (int, error) {
	var lists []simstore.LiveList
	var err error
	if seen.IsZero() {
		lists, err = feed.Changes(ctx, time.Time{})
	} else {
		lists, err = changed(ctx, feed, held, seen)
	}
	if err != nil {
		return 0, err
	}
	kept := 0
	for _, l := range lists {
		if l.UpdatedAt.After(*seen) {
			*seen = l.UpdatedAt
		}
		if h, ok := held[l.Item]; ok && h.End >= l.End {
			continue
		}
		held[l.Item] = l
		kept++
	}
	return kept, nil
}

// changed reads the stamps written since seen less the overlap, advances
// seen to the latest, and returns the entities whose stamp is not held.
func changed(ctx context.Context, feed simstore.LiveFeed, held map[string]simstore.LiveList, seen *time.Time) ([]simstore.LiveList, error) {
	stamps, err := feed.Stamps(ctx, seen.Add(-liveOverlap))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, st := range stamps {
		if st.UpdatedAt.After(*seen) {
			*seen = st.UpdatedAt
		}
		if h, ok := held[st.Name]; !ok || !h.UpdatedAt.Equal(st.UpdatedAt) {
			names = append(names, st.Name)
		}
	}
	return feed.Get(ctx, names)
}

// poll reads the lists and users' recent items written since the last
// poll, and the hot list, and returns how many changed what it holds.
func (f *liveFollower) poll(ctx context.Context) (int, error) {
	lists, err := follow(ctx, f.store.ListFeed(), f.lists, &f.seen)
	if err != nil {
		return 0, err
	}
	users, err := follow(ctx, f.store.RecentFeed(), f.recent, &f.seenRecent)
	if err != nil {
		return 0, err
	}
	changed := lists + users
	hot, end, found, err := f.store.LiveHot(ctx)
	if err != nil {
		return 0, err
	}
	if found && end > f.hotEnd {
		f.popular, f.hotEnd = hot, end
		changed++
	}
	return changed, nil
}

// model builds the served model from the lists held, labelled with the
// latest End among them: live@<unix seconds>.
func (f *liveFollower) model() (*recommend.Model, error) {
	var lists []model.Neighbors
	var end int64
	for _, item := range slices.Sorted(maps.Keys(f.lists)) {
		l := f.lists[item]
		end = max(end, l.End)
		if len(l.Neighbors) > 0 {
			lists = append(lists, model.Neighbors{Item: item, Neighbors: l.Neighbors})
		}
	}
	m, err := recommend.BuildWithBound(lists, f.popular, fmt.Sprintf("live@%d", end), recommend.ScoreBound(model.Similarity{Measure: model.Corating}))
	if err != nil {
		return nil, err
	}
	recent := make(map[string][]string, len(f.recent))
	for user, l := range f.recent {
		if len(l.Neighbors) > 0 {
			items := make([]string, len(l.Neighbors))
			for k, n := range l.Neighbors {
				items[k] = n.Item
			}
			recent[user] = items
		}
	}
	m.SetRecent(recent)
	return m, nil
}

// check polls and serves a new model when a list changed (or none is
// served yet). On error the served model stays.
func (f *liveFollower) check(ctx context.Context) error {
	changed, err := f.poll(ctx)
	if err == nil && (changed > 0 || f.srv.model.Load() == nil) {
		var m *recommend.Model
		start := time.Now()
		if m, err = f.model(); err == nil {
			f.srv.setModel(m)
			f.srv.metrics.reloads[0].Add(1)
			slog.Debug("live lists applied", "changed", changed, "version", m.Version(), "items", m.Items(), "took", time.Since(start))
			return nil
		}
	}
	if err != nil {
		f.srv.metrics.reloads[1].Add(1)
		slog.Error("live lists not applied; serving the previous model, if any", "err", err)
	}
	return err
}

// newLiveFollower follows the live layout of kind in namespace through
// client, which the caller owns, with the popular file's fallback (""
// for none).
func newLiveFollower(client *datastore.Client, namespace, kind, popular string) (*liveFollower, error) {
	store, err := simstore.New(client, simstore.Options{Namespace: namespace, Kind: kind, Layout: simstore.LayoutLive})
	if err != nil {
		return nil, err
	}
	f := &liveFollower{store: store, lists: map[string]simstore.LiveList{}, recent: map[string]simstore.LiveList{}}
	if popular != "" {
		if f.popular, err = recommend.ReadPopularFile(popular); err != nil {
			return nil, err
		}
	}
	return f, nil
}
