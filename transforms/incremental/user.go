package incremental

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/model"
)

// Event is one user's interaction: the item, the action's weight and the
// time in unix seconds.
type Event struct {
	Item   string
	Weight float64
	Time   int64
}

// SliceBest is a user's largest weight on Item among the events of Slice.
type SliceBest struct {
	Item   string
	Slice  int64
	Weight float64
}

// User is one user's state: the largest weight per (item, slice) of the
// live slices, items ascending then slices ascending, and the events whose
// bucket has not been applied yet. It is bounded by the window: Advance
// drops what leaves it, and a user with nothing left is Empty.
type User struct {
	Best    []SliceBest
	Pending []Event
	// Applied is the end of the last bucket applied, 0 before the first.
	Applied int64
	// Recent are the user's most recent items in the window (Advance's
	// recent of them), latest first.
	Recent []RecentItem
}

// RecentItem is an item and the time of the user's latest event on it.
type RecentItem struct {
	Item string `json:"item"`
	Time int64  `json:"time"`
}

// compareRecent orders a user's recent items: latest first, ties by item.
func compareRecent(a, b RecentItem) int {
	return cmp.Or(cmp.Compare(b.Time, a.Time), cmp.Compare(a.Item, b.Item))
}

// Rating is a user's score r_ui for an item in the window, > 0.
type Rating struct {
	Item  string
	Value float64
}

// Add queues an event for its bucket. It returns an error, and keeps
// nothing, for an event older than the last applied bucket by more than
// the window's lateness, or whose slice has already left the window: the
// caller sends it to the dead letter. A weight must be > 0 (the parser's
// weights are).
func (u *User) Add(w Window, e Event) error {
	switch {
	case !(e.Weight > 0):
		return fmt.Errorf("weight %v: want > 0", e.Weight)
	case u.Applied != 0 && e.Time < u.Applied-w.Lateness:
		return fmt.Errorf("event at %d is %ds behind the model (applied to %d), past --allowed_lateness=%ds",
			e.Time, u.Applied-e.Time, u.Applied, w.Lateness)
	case u.Applied != 0 && !w.live(w.SliceOf(e.Time), u.Applied):
		return fmt.Errorf("event at %d: its slice has left the --window (the model is at %d)", e.Time, u.Applied)
	}
	u.Pending = append(u.Pending, e)
	return nil
}

// Due is the bucket end at which the state next changes: the first
// pending event's bucket (or the bucket after the last applied one, for an
// event that arrived late), or the end at which the oldest slice leaves the
// window or the hot window. It is 0 when the user holds nothing.
func (u *User) Due(w Window) int64 {
	var due int64
	earliest := func(t int64) {
		if due == 0 || t < due {
			due = t
		}
	}
	for _, e := range u.Pending {
		earliest(max(w.BucketEnd(e.Time), u.Applied+w.Emit))
	}
	for _, b := range u.Best {
		// Slice s is in the windows ending up to s·Slice + Length, and in
		// the hot windows up to s·Slice + Hot.
		earliest(b.Slice*w.Slice + w.Length + w.Emit)
		if leaves := b.Slice*w.Slice + w.Hot + w.Emit; w.Hot > 0 && leaves > u.Applied {
			earliest(leaves)
		}
	}
	return due
}

// HotItems are the items, ascending, the user has an event on in the hot
// window taken at end (none when the window keeps no hot list).
func (u *User) HotItems(w Window, end int64) []string {
	if w.Hot == 0 {
		return nil // called for every touched user and bucket: skip the scan
	}
	var out []string
	for _, b := range u.Best {
		if w.hot(b.Slice, end) && (len(out) == 0 || out[len(out)-1] != b.Item) {
			out = append(out, b.Item)
		}
	}
	return out
}

// Empty reports whether the user holds nothing: its state can be cleared.
func (u *User) Empty() bool { return len(u.Best) == 0 && len(u.Pending) == 0 }

// Advance applies the buckets up to end (a bucket end after Applied): the
// pending events before end join the state, the slices no longer in the
// window taken at end leave it. It returns the user's ratings before and
// after, items ascending (rules gives the clip; the aggregate is max), and
// keeps the user's recent most recent items of the window in Recent.
func (u *User) Advance(w Window, rules model.Rules, recent int, end int64) (before, after []Rating) {
	before = u.ratings(rules)
	keep := u.Pending[:0]
	for _, e := range u.Pending {
		if w.BucketEnd(e.Time) > end {
			keep = append(keep, e)
			continue
		}
		u.put(SliceBest{Item: e.Item, Slice: w.SliceOf(e.Time), Weight: e.Weight})
		u.touch(RecentItem{Item: e.Item, Time: e.Time}, recent)
	}
	clear(u.Pending[len(keep):])
	u.Pending = keep
	u.Best = slices.DeleteFunc(u.Best, func(b SliceBest) bool { return !w.live(b.Slice, end) })
	u.Recent = slices.DeleteFunc(u.Recent, func(r RecentItem) bool { return !w.live(w.SliceOf(r.Time), end) })
	u.Applied = end
	return before, u.ratings(rules)
}

// touch records an event on r.Item at r.Time in Recent, which keeps the
// latest time per item and the n latest items: the n most recent items of
// the window, whatever the order the events came in (an item cut off is
// older than the n kept, so it would leave the window before them).
func (u *User) touch(r RecentItem, n int) {
	if n <= 0 {
		return
	}
	if k := slices.IndexFunc(u.Recent, func(x RecentItem) bool { return x.Item == r.Item }); k >= 0 {
		if u.Recent[k].Time >= r.Time {
			return
		}
		u.Recent = slices.Delete(u.Recent, k, k+1)
	}
	k, _ := slices.BinarySearchFunc(u.Recent, r, compareRecent)
	if k < n {
		u.Recent = slices.Insert(u.Recent, k, r)
		u.Recent = u.Recent[:min(n, len(u.Recent))]
	}
}

// put raises the weight of b's (item, slice) to b's, inserting it in order.
func (u *User) put(b SliceBest) {
	k, found := slices.BinarySearchFunc(u.Best, b, func(x, y SliceBest) int {
		return cmp.Or(cmp.Compare(x.Item, y.Item), cmp.Compare(x.Slice, y.Slice))
	})
	if found {
		u.Best[k].Weight = max(u.Best[k].Weight, b.Weight)
		return
	}
	u.Best = slices.Insert(u.Best, k, b)
}

// ratings are the user's scores: per item the largest weight of its
// slices, clipped by the rules (whose aggregate is max here, whatever it
// says: the model's rating is the largest weight).
func (u *User) ratings(rules model.Rules) []Rating {
	rules.Aggregate = model.AggregateMax
	var out []Rating
	for k, b := range u.Best {
		if k > 0 && b.Item == u.Best[k-1].Item {
			last := &out[len(out)-1]
			last.Value = max(last.Value, b.Weight)
			continue
		}
		out = append(out, Rating{Item: b.Item, Value: b.Weight})
	}
	for k := range out {
		out[k].Value, _ = rules.Score(exactsum.Sum{}, out[k].Value)
	}
	return out
}
