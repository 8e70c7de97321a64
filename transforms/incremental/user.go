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
// window. It is 0 when the user holds nothing.
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
		// Slice s is in the windows ending up to s·Slice + Length.
		earliest(b.Slice*w.Slice + w.Length + w.Emit)
	}
	return due
}

// Empty reports whether the user holds nothing: its state can be cleared.
func (u *User) Empty() bool { return len(u.Best) == 0 && len(u.Pending) == 0 }

// Advance applies the buckets up to end (a bucket end after Applied): the
// pending events before end join the state, the slices no longer in the
// window taken at end leave it. It returns the user's ratings before and
// after, items ascending (rules gives the clip; the aggregate is max).
func (u *User) Advance(w Window, rules model.Rules, end int64) (before, after []Rating) {
	before = u.ratings(rules)
	keep := u.Pending[:0]
	for _, e := range u.Pending {
		if w.BucketEnd(e.Time) > end {
			keep = append(keep, e)
			continue
		}
		u.put(SliceBest{Item: e.Item, Slice: w.SliceOf(e.Time), Weight: e.Weight})
	}
	clear(u.Pending[len(keep):])
	u.Pending = keep
	u.Best = slices.DeleteFunc(u.Best, func(b SliceBest) bool { return !w.live(b.Slice, end) })
	u.Applied = end
	return before, u.ratings(rules)
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
