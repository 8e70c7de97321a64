// Package incremental keeps TencentRec's real-time item-based CF (Huang et
// al., "TencentRec: Real-time Stream Recommendation in Practice", SIGMOD
// 2015) up to date on a stream, event by event, over a sliding window:
//
//   - r_ui is user u's largest action weight on item i inside the window
//     (model.Rules with Aggregate max, clipped), so a repeated or
//     redelivered event changes nothing;
//   - itemCount(i) = Σ_u r_ui and pairCount(i, j) = Σ_u min(r_ui, r_uj);
//   - sim(i, j) = pairCount(i, j) / √(itemCount(i)·itemCount(j))
//     (model.CoratingScore), the batch job's --measure=corating.
//
// A change of r_ui from r to r' costs O(|I_u|): itemCount(i) loses r and
// gains r', and for every other item q of the user pairCount(i, q) loses
// min(r, r_uq) and gains min(r', r_uq) (Deltas). Every count is an exact sum
// (internal/exactsum) whose terms are added and removed exactly, so the
// counts equal the batch sums over the same events bit for bit, whatever
// the order in which the deltas arrive, and a pair whose terms are all
// removed is exactly 0 and dropped.
//
// Time is cut into buckets of Window.Emit seconds. Events are applied in
// bucket order, a bucket once the watermark has passed its end (User.Advance),
// so the model at a bucket's end is the model of exactly the events before
// it: the same as the batch job over that window (Window.Since), whatever
// the order of delivery inside the allowed lateness. The window slides by
// whole slices (Window.Slice): a user keeps the largest weight per (item,
// slice), and a slice leaves the window, lowering the ratings it held up,
// when the bucket that ends Length after its start is applied.
//
// The plain-Go parts (Window, User, Deltas, Items) hold the math; the Beam
// wrappers key them by user and by item.
package incremental

import (
	"fmt"
	"time"

	"github.com/recsys/itemsim/model"
)

// Window is the stream's sliding window: Length seconds, kept as slices of
// Slice seconds, applied in buckets of Emit seconds. Slice divides Length
// and Emit divides Slice, so a bucket never spans two slices. Times are unix
// seconds, as the scoring rules' (model.Rules).
type Window struct {
	Length, Slice, Emit int64
	// Lateness is how far behind the last applied bucket an event may be
	// and still count (in the next bucket applied); an older one is late.
	Lateness int64
	// Hot is the span, whole slices up to Length, over which an item's
	// users are counted for the hot list (HotSince); 0 keeps no hot list.
	Hot int64
}

// NewWindow converts the flags' durations, whole seconds each.
func NewWindow(length, slice, emit, lateness, hot time.Duration) (Window, error) {
	w := Window{Length: int64(length / time.Second), Slice: int64(slice / time.Second), Emit: int64(emit / time.Second),
		Lateness: int64(lateness / time.Second), Hot: int64(hot / time.Second)}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--window", length}, {"--slice", slice}, {"--emit_interval", emit}, {"--allowed_lateness", lateness}, {"--hot_window", hot}} {
		if d.v%time.Second != 0 {
			return w, fmt.Errorf("%s=%v: want whole seconds", d.flag, d.v)
		}
	}
	return w, w.Validate()
}

// Validate reports a window the stream cannot keep, in the flags' terms.
func (w Window) Validate() error {
	switch {
	case w.Emit <= 0:
		return fmt.Errorf("--emit_interval=%ds: want at least 1s", w.Emit)
	case w.Slice <= 0 || w.Slice%w.Emit != 0:
		return fmt.Errorf("--slice=%ds: want a positive multiple of --emit_interval (%ds)", w.Slice, w.Emit)
	case w.Length <= 0 || w.Length%w.Slice != 0:
		return fmt.Errorf("--window=%ds: want a positive multiple of --slice (%ds)", w.Length, w.Slice)
	case w.Lateness < 0:
		return fmt.Errorf("--allowed_lateness=%ds: want 0 or more", w.Lateness)
	case w.Hot < 0 || w.Hot%w.Slice != 0 || w.Hot > w.Length:
		return fmt.Errorf("--hot_window=%ds: want a multiple of --slice (%ds) up to --window (%ds)", w.Hot, w.Slice, w.Length)
	}
	return nil
}

// BucketEnd is the end of the bucket holding time t: the first multiple of
// Emit after t.
func (w Window) BucketEnd(t int64) int64 { return (model.FloorDiv(t, w.Emit) + 1) * w.Emit }

// SliceOf is the index of the slice holding time t.
func (w Window) SliceOf(t int64) int64 { return model.FloorDiv(t, w.Slice) }

// Since is the start of the window whose model is taken at end, a bucket's
// end: the window holds the events in [Since(end), end), the slice of the
// last second before end and the Length/Slice − 1 slices before it. The
// batch job's --since=Since(end) --until=end gives the same model.
func (w Window) Since(end int64) int64 {
	return (w.SliceOf(end-1)+1)*w.Slice - w.Length
}

// live reports whether slice s is in the window taken at end.
func (w Window) live(s, end int64) bool { return s*w.Slice >= w.Since(end) }

// HotSince is the start of the hot window taken at end: the hot list at a
// bucket's end counts each item's users with an event in [HotSince(end),
// end), the last Hot/Slice slices of the window.
func (w Window) HotSince(end int64) int64 { return (w.SliceOf(end-1)+1)*w.Slice - w.Hot }

// hot reports whether slice s is in the hot window taken at end.
func (w Window) hot(s, end int64) bool { return w.Hot > 0 && s*w.Slice >= w.HotSince(end) }
