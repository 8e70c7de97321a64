package incremental

import (
	"slices"

	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/model"
)

// A shard's state lives in the runner as a snapshot and a journal: the
// changes since the snapshot, appended at every timer. A worker keeps the
// state it decoded (a userCache, an itemCache) between timers, so that a
// timer costs what its bucket touched: it reads only the small version the
// runner holds, and appends only the users (the deltas) it changed. When the
// version is not the one the worker wrote last (another worker, a retried
// bundle, a restart), the worker decodes the snapshot and replays the
// journal. The journal is folded into a new snapshot once it holds more
// than the snapshot (amortised O(1) per change), so a cold read costs at
// most about twice the state.

// minJournal is the journal's length (in entries) below which it is never
// folded: folding a small state every bucket would cost more than replaying.
const minJournal = 1 << 14

// userCache is a shard's users as a worker holds them between timers.
type userCache struct {
	users map[string]*User
	// due lists, per bucket end, users whose Due may be then: each user's
	// actual Due is listed; an entry left by an earlier Due is skipped.
	due map[int64][]string
	// size is the snapshot's length, journaled the journal's, in SliceBests
	// and events.
	size, journaled int
}

// newUserCache decodes a shard's users: the snapshot, then the journal's
// entries in order (an Empty user in an entry: removed).
func newUserCache(w Window, snapshot userShard, journal []userShard) *userCache {
	c := &userCache{users: map[string]*User{}, due: map[int64][]string{}}
	for _, s := range append([]userShard{snapshot}, journal...) {
		for id, u := range s.Users {
			if u.Empty() {
				delete(c.users, id)
			} else {
				c.users[id] = u
			}
		}
	}
	c.size = userSize(c.users)
	for _, s := range journal {
		c.journaled += userSize(s.Users)
	}
	for id, u := range c.users {
		c.schedule(w, id, u)
	}
	return c
}

// userSize is a state's length in SliceBests and events, one at least per user.
func userSize(users map[string]*User) int {
	n := 0
	for _, u := range users {
		n += 1 + len(u.Best) + len(u.Pending)
	}
	return n
}

// schedule lists user id at its Due.
func (c *userCache) schedule(w Window, id string, u *User) {
	if due := u.Due(w); due != 0 {
		c.due[due] = append(c.due[due], id)
	}
}

// next is the earliest bucket end a user is listed at, 0 for none.
func (c *userCache) next() int64 {
	var next int64
	for due := range c.due {
		next = earliest(next, due)
	}
	return next
}

// advance applies the bucket ending at end: the events (of its bucket or
// earlier; User.Add refuses the late ones, passed to late) and every user's
// due buckets up to end. It returns the deltas for each item shard and the
// users it changed (an Empty user: removed), the journal's entry, and the
// users whose recent items (the recent latest) changed, ids ascending.
func (c *userCache) advance(w Window, rules model.Rules, recent, itemShards int, end int64, events []UserEvent,
	late func(Late)) ([]DeltaBatch, userShard, []Recent) {
	var touched []string
	for _, e := range events {
		u := c.users[e.User]
		if u == nil {
			u = &User{}
		}
		if err := u.Add(w, e.Event); err != nil {
			late(Late{Event: e, Reason: err.Error()})
			continue
		}
		c.users[e.User] = u
		touched = append(touched, e.User)
	}
	for due, ids := range c.due {
		if due <= end {
			touched = append(touched, ids...)
			delete(c.due, due)
		}
	}
	slices.Sort(touched)
	touched = slices.Compact(touched)
	batches := make([]DeltaBatch, itemShards)
	var counts []CountDelta
	var recents []Recent
	changed := userShard{Users: map[string]*User{}}
	hot := false
	for _, id := range touched {
		u := c.users[id]
		advanced := false
		hotItems := u.HotItems(w, u.Applied)
		recentBefore := slices.Clone(u.Recent)
		for due := u.Due(w); due != 0 && due <= end; due = u.Due(w) {
			cs, pairs := Deltas(u.Advance(w, rules, recent, due))
			counts = append(counts, cs...)
			for _, p := range pairs {
				k := idhash.Shard(p.I, itemShards)
				batches[k].Pairs = append(batches[k].Pairs, p)
			}
			now := u.HotItems(w, due)
			for _, d := range HotDeltas(hotItems, now) {
				k := idhash.Shard(d.Item, itemShards)
				batches[k].Hot, hot = append(batches[k].Hot, d), true
			}
			hotItems = now
			advanced = true
		}
		if !advanced {
			continue // listed at a Due it has since left; it is listed at its own
		}
		changed.Users[id] = u
		if !slices.Equal(u.Recent, recentBefore) {
			recents = append(recents, Recent{End: end, User: id, Items: slices.Clone(u.Recent)})
		}
		c.journaled += 1 + len(u.Best) + len(u.Pending) + len(u.Recent)
		if u.Empty() {
			delete(c.users, id)
		} else {
			c.schedule(w, id, u)
		}
	}
	if len(counts) == 0 && !hot {
		return nil, changed, recents
	}
	for k := range batches {
		batches[k].End, batches[k].Counts = end, counts
	}
	return batches, changed, recents
}

// fold reports whether the journal is due to be folded into a snapshot of
// the users, and resets the lengths for it when it is.
func (c *userCache) fold() bool {
	if c.journaled <= max(c.size, minJournal) {
		return false
	}
	c.size, c.journaled = userSize(c.users), 0
	return true
}

// itemLog is a journal entry of an item shard: the delta batches a timer
// applied and the lists it wrote (an empty list: deleted).
type itemLog struct {
	Batches []DeltaBatch
	Lists   []Update
	// Hot is the shard's hot list it wrote, when HotSet.
	HotSet bool
	Hot    []model.PopularItem
	// Pruned are the pairs its rescoring pruned.
	Pruned []prunedPair
}

// prunedPair is a pair (I, J) that Pruning dropped from I's candidates.
type prunedPair struct{ I, J string }

// itemCache is a shard's items as a worker holds them between timers.
type itemCache struct {
	shard itemShard
	// size is the snapshot's length, journaled the journal's, in counts,
	// pairs and lists (deltas and lists for the journal).
	size, journaled int
}

// newItemCache decodes a shard's items: the snapshot, then the journal's
// entries in order.
func newItemCache(snapshot itemShard, journal []itemLog) *itemCache {
	if snapshot.Model == nil {
		snapshot = itemShard{Model: NewItems(), Lists: map[string][]model.Neighbor{}}
	}
	c := &itemCache{shard: snapshot}
	for _, e := range journal {
		c.replay(e)
	}
	c.shard.Model.Changed(nil) // the marks of the replay were the lists' changes, written then
	c.size = c.shard.size()
	return c
}

// size is a shard's length in counts, pairs, lists and hot counts.
func (s itemShard) size() int {
	n := len(s.Model.counts) + len(s.Lists) + len(s.Model.hot)
	for _, row := range s.Model.pairs {
		n += len(row)
	}
	for _, row := range s.Model.pruned {
		n += len(row)
	}
	return n
}

// replay applies a journal entry.
func (c *itemCache) replay(e itemLog) {
	for _, b := range e.Batches {
		c.applyBatch(b)
	}
	for _, u := range e.Lists {
		c.setList(u)
	}
	if e.HotSet {
		c.shard.Hot = e.Hot
		c.journaled++
	}
	for _, p := range e.Pruned {
		c.shard.Model.prune(p.I, p.J)
	}
	c.journaled += len(e.Pruned)
}

func (c *itemCache) applyBatch(b DeltaBatch) {
	for _, d := range b.Counts {
		c.shard.Model.ApplyCount(d)
	}
	for _, d := range b.Pairs {
		c.shard.Model.ApplyPair(d)
	}
	for _, d := range b.Hot {
		c.shard.Model.ApplyHot(d)
	}
	c.journaled += len(b.Counts) + len(b.Pairs) + len(b.Hot)
}

func (c *itemCache) setList(u Update) {
	if len(u.Neighbors) == 0 {
		delete(c.shard.Lists, u.Item)
	} else {
		c.shard.Lists[u.Item] = u.Neighbors
	}
	c.journaled++
}

// apply applies the batches of the buckets up to end and returns the lists
// of the shard's items (owns) that changed, items ascending, the pairs p
// pruned, and the shard's hot list (its hotN items with the most users)
// when it changed: the updates and, with the batches, the journal's entry.
func (c *itemCache) apply(batches []DeltaBatch, topN, hotN int, p Pruning, owns func(string) bool, end int64) itemLog {
	e := itemLog{Batches: batches}
	for _, b := range batches {
		c.applyBatch(b)
	}
	for _, i := range c.shard.Model.Changed(owns) {
		list, pruned := c.shard.Model.Rescore(i, topN, p)
		for _, j := range pruned {
			e.Pruned = append(e.Pruned, prunedPair{I: i, J: j})
		}
		c.journaled += len(pruned)
		if slices.Equal(list, c.shard.Lists[i]) {
			continue
		}
		u := Update{End: end, Item: i, Neighbors: list}
		c.setList(u)
		e.Lists = append(e.Lists, u)
	}
	if top, changed := c.shard.Model.HotTop(hotN); changed && !slices.Equal(top, c.shard.Hot) {
		e.HotSet, e.Hot = true, top
		c.shard.Hot = top
		c.journaled++
	}
	return e
}

// empty reports whether the shard holds nothing: its state can be cleared.
func (c *itemCache) empty() bool {
	return len(c.shard.Model.counts) == 0 && len(c.shard.Lists) == 0 && len(c.shard.Model.hot) == 0 && len(c.shard.Hot) == 0
}

// fold reports whether the journal is due to be folded into a snapshot,
// and resets the lengths for it when it is.
func (c *itemCache) fold() bool {
	if c.journaled <= max(c.size, minJournal) {
		return false
	}
	c.size, c.journaled = c.shard.size(), 0
	return true
}
