package incremental

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/model"
)

// event is a test event with its user.
type event struct {
	user string
	Event
}

// reference is the batch model of events with time in [since, until) from
// the definitions: r_ui the largest weight, clipped; sums exact; the score
// pair/√(count_i·count_j); each item's top n in the project's order.
func reference(events []event, since, until int64, clip float64, n int) map[string][]model.Neighbor {
	lists, _ := referenceScores(events, since, until, clip)
	for i, l := range lists {
		lists[i] = l[:min(n, len(l))]
	}
	return lists
}

// referenceScores is every item's candidates, best first, and every
// pair's co-raters, from the definitions (as reference).
func referenceScores(events []event, since, until int64, clip float64) (map[string][]model.Neighbor, map[[2]string]int32) {
	r := map[string]map[string]float64{}
	for _, e := range events {
		if e.Time < since || e.Time >= until {
			continue
		}
		if r[e.user] == nil {
			r[e.user] = map[string]float64{}
		}
		r[e.user][e.Item] = math.Max(r[e.user][e.Item], e.Weight)
	}
	counts := map[string]*exactsum.Sum{}
	pairs := map[[2]string]*exactsum.Sum{}
	coRaters := map[[2]string]int32{}
	for _, items := range r {
		for i, x := range items {
			x = math.Min(x, clip)
			if counts[i] == nil {
				counts[i] = &exactsum.Sum{}
			}
			counts[i].Add(x)
			for j, y := range items {
				if i != j {
					k := [2]string{i, j}
					if pairs[k] == nil {
						pairs[k] = &exactsum.Sum{}
					}
					pairs[k].Add(math.Min(x, math.Min(y, clip)))
					coRaters[k]++
				}
			}
		}
	}
	lists := map[string][]model.Neighbor{}
	for k, p := range pairs {
		s := p.Float64() / math.Sqrt(counts[k[0]].Float64()*counts[k[1]].Float64())
		lists[k[0]] = append(lists[k[0]], model.Neighbor{Item: k[1], Score: s})
	}
	for _, l := range lists {
		slices.SortFunc(l, model.Neighbor.Compare)
	}
	return lists, coRaters
}

// hotReference is the hot list of events with time in [since, until):
// each item's distinct users, most first, ties by item, the n first.
func hotReference(events []event, since, until int64, n int) []model.PopularItem {
	users := map[string]map[string]bool{}
	for _, e := range events {
		if e.Time < since || e.Time >= until {
			continue
		}
		if users[e.Item] == nil {
			users[e.Item] = map[string]bool{}
		}
		users[e.Item][e.user] = true
	}
	var out []model.PopularItem
	for i, us := range users {
		out = append(out, model.PopularItem{Item: i, Users: int64(len(us))})
	}
	slices.SortFunc(out, comparePopular)
	return out[:min(n, len(out))]
}

// recentN is the users' recent items the tests keep.
const recentN = 3

// recentReference is each user's n latest items among the events with time
// in [since, until): by the latest event on each, latest first, ties by
// item.
func recentReference(events []event, since, until int64, n int) map[string][]RecentItem {
	latest := map[string]map[string]int64{}
	for _, e := range events {
		if e.Time < since || e.Time >= until {
			continue
		}
		if latest[e.user] == nil {
			latest[e.user] = map[string]int64{}
		}
		if t, ok := latest[e.user][e.Item]; !ok || e.Time > t {
			latest[e.user][e.Item] = e.Time
		}
	}
	out := map[string][]RecentItem{}
	for u, items := range latest {
		var rs []RecentItem
		for i, t := range items {
			rs = append(rs, RecentItem{Item: i, Time: t})
		}
		slices.SortFunc(rs, compareRecent)
		out[u] = rs[:min(n, len(rs))]
	}
	return out
}

// stream is a model fed bucket by bucket, as the job's timers feed it.
type stream struct {
	w     Window
	rules model.Rules
	users map[string]*User
	items *Items
	// shards are the item side cut as the job cuts it: every count in
	// each, a pair on its first item's shard.
	shards []*Items
	// accepted are the events Add took, rejected the count it refused.
	accepted []event
	rejected int
}

func newStream(w Window, clip float64) *stream {
	s := &stream{w: w, rules: model.Rules{Aggregate: model.AggregateMax, Clip: clip}, users: map[string]*User{}, items: NewItems()}
	for range 3 {
		s.shards = append(s.shards, NewItems())
	}
	return s
}

func (s *stream) add(e event) {
	u := s.users[e.user]
	if u == nil {
		u = &User{}
		s.users[e.user] = u
	}
	if err := u.Add(s.w, e.Event); err != nil {
		s.rejected++
		return
	}
	s.accepted = append(s.accepted, e)
}

// advance fires every user timer due up to the watermark end, at its own
// time, as a runner does, and applies the deltas.
func (s *stream) advance(end int64) {
	for name, u := range s.users {
		for due := u.Due(s.w); due != 0 && due <= end; due = u.Due(s.w) {
			counts, pairs := Deltas(u.Advance(s.w, s.rules, recentN, due))
			for _, d := range counts {
				s.items.ApplyCount(d)
				for _, sh := range s.shards {
					sh.ApplyCount(d)
				}
			}
			for _, d := range pairs {
				s.items.ApplyPair(d)
				s.shards[idhash.Shard(d.I, len(s.shards))].ApplyPair(d)
			}
		}
		if u.Empty() {
			delete(s.users, name)
		}
	}
}

// randomEvents draws users and items from skewed distributions, weights
// from the seed's actions and a few awkward ones (tiny, inexact in
// binary), over [0, span).
func randomEvents(r *rand.Rand, n, users, items int, span int64) []event {
	weights := []float64{0.5, 2, 6, 0.5, 2, 1e-7, 0.1, 7.3}
	out := make([]event, n)
	for k := range out {
		u, i := int(float64(users)*r.Float64()*r.Float64()), int(float64(items)*r.Float64()*r.Float64())
		out[k] = event{user: fmt.Sprintf("u%02d", u), Event: Event{Item: fmt.Sprintf("i%02d", i), Weight: weights[r.IntN(len(weights))],
			Time: r.Int64N(span)}}
	}
	return out
}

func equalLists(a, b []model.Neighbor) bool {
	return slices.Equal(a, b) // scores compared bit for bit (no NaN here)
}

// TestStreamEqualsBatch: events delivered bucket by bucket, shuffled inside
// their bucket, some twice (redelivered), some one to three buckets late
// (within the lateness), some too late for it; after every bucket the
// stream's lists equal the batch model of the accepted events in the
// window taken there, bit for bit, each user's recent items the latest of
// theirs in the window, every list that changed was marked, and
// once the window has passed every event the state is empty.
func TestStreamEqualsBatch(t *testing.T) {
	w := Window{Length: 30, Slice: 10, Emit: 2, Lateness: 6}
	const clip, n = 6, 5
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			events := randomEvents(r, 600, 40, 25, 100)
			// deliver[b] are the events handed over before the watermark
			// reaches bucket end b.
			deliver := map[int64][]event{}
			var tooLate int
			for _, e := range events {
				at := w.BucketEnd(e.Time)
				switch k := r.IntN(20); {
				case k == 0: // redelivered, one bucket later
					deliver[at] = append(deliver[at], e)
					at += w.Emit
				case k <= 2: // late, within the lateness
					at += w.Emit * (1 + r.Int64N(3))
				case k == 3 && e.Time < 80: // later than the lateness
					at += w.Lateness + 3*w.Emit
					tooLate++
				}
				deliver[at] = append(deliver[at], e)
			}
			s := newStream(w, clip)
			last := map[string][]model.Neighbor{}
			var checked, rescored, recentChecked int
			for end := w.Emit; end <= 100+w.Length+6*w.Emit; end += w.Emit {
				batch := deliver[end]
				r.Shuffle(len(batch), func(a, b int) { batch[a], batch[b] = batch[b], batch[a] })
				for _, e := range batch {
					s.add(e)
				}
				s.advance(end)
				want := reference(s.accepted, w.Since(end), end, clip, n)
				recent := recentReference(s.accepted, w.Since(end), end, recentN)
				for u, items := range recent {
					if s.users[u] == nil || !slices.Equal(s.users[u].Recent, items) {
						t.Fatalf("bucket end %d: user %s's recent items %v, want %v", end, u, s.users[u], items)
					}
					recentChecked++
				}
				for name, u := range s.users {
					if _, ok := recent[name]; !ok && len(u.Recent) > 0 {
						t.Fatalf("bucket end %d: user %s keeps recent items %v, none in the window", end, name, u.Recent)
					}
				}
				changed := s.items.Changed(nil)
				var shardChanged []string
				for k, sh := range s.shards {
					shardChanged = append(shardChanged, sh.Changed(func(i string) bool { return idhash.Shard(i, len(s.shards)) == k })...)
				}
				// Rescore, from what changed, equals the full scan: with the
				// lists' length on the shards, with one (cut short often) on
				// the whole side.
				for _, i := range changed {
					got, _ := s.items.Rescore(i, 1, Pruning{})
					if full := s.items.Neighbors(i, 1); !equalLists(got, full) {
						t.Fatalf("bucket end %d: item %s rescored to %v, scanned %v", end, i, got, full)
					}
					rescored++
				}
				for _, i := range shardChanged {
					if got, _ := s.shards[idhash.Shard(i, len(s.shards))].Rescore(i, n, Pruning{}); !equalLists(got, want[i]) {
						t.Fatalf("bucket end %d: item %s rescored on its shard to %v, batch %v", end, i, got, want[i])
					}
				}
				for i, l := range want {
					if got := s.items.Neighbors(i, n); !equalLists(got, l) {
						t.Fatalf("bucket end %d, window [%d, %d): item %s: stream %v, batch %v", end, w.Since(end), end, i, got, l)
					}
					if got := s.shards[idhash.Shard(i, len(s.shards))].Neighbors(i, n); !equalLists(got, l) {
						t.Fatalf("bucket end %d: item %s: its shard's list %v, batch %v", end, i, got, l)
					}
					if !equalLists(l, last[i]) && (!slices.Contains(changed, i) || !slices.Contains(shardChanged, i)) {
						t.Fatalf("bucket end %d: item %s's list changed but was not marked (all: %v, its shard: %v)", end, i,
							slices.Contains(changed, i), slices.Contains(shardChanged, i))
					}
					checked++
				}
				for i := range last {
					if _, ok := want[i]; !ok && (!slices.Contains(changed, i) || !slices.Contains(shardChanged, i)) {
						t.Fatalf("bucket end %d: item %s lost its list but was not marked", end, i)
					}
				}
				for i := range s.items.pairs {
					if _, ok := want[i]; !ok {
						t.Fatalf("bucket end %d: the stream holds pairs of %s, the batch none", end, i)
					}
				}
				last = want
			}
			if checked < 1000 || rescored < 500 || recentChecked < 1000 {
				t.Fatalf("only %d lists compared, %d rescored, %d users' recent items compared", checked, rescored, recentChecked)
			}
			if s.rejected < tooLate/2 || s.rejected > tooLate {
				t.Errorf("%d events refused as late, want most of the %d delivered past the lateness", s.rejected, tooLate)
			}
			for k, m := range append([]*Items{s.items}, s.shards...) {
				if len(s.users) != 0 || len(m.counts) != 0 || len(m.pairs) != 0 || len(m.partners) != 0 {
					t.Errorf("after the window passed, side %d: %d users, %d counts, %d pair rows, %d partner rows left", k,
						len(s.users), len(m.counts), len(m.pairs), len(m.partners))
				}
			}
			t.Logf("%d lists compared, %d events refused as late (%d delivered past the lateness)", checked, s.rejected, tooLate)
		})
	}
}

// TestDeltasByHand: a user rates A 2 and B 6, then C 3 arrives and A rises
// to 6 while B leaves.
func TestDeltasByHand(t *testing.T) {
	counts, pairs := Deltas(
		[]Rating{{"A", 2}, {"B", 6}},
		[]Rating{{"A", 6}, {"C", 3}},
	)
	wantCounts := []CountDelta{{"A", 2, 6}, {"B", 6, 0}, {"C", 0, 3}}
	// A·B: min(2,6)=2 → 0; A·C: 0 → min(6,3)=3; B·C: 0 → 0 (no delta).
	wantPairs := []PairDelta{{"A", "B", 2, 0}, {"B", "A", 2, 0}, {"A", "C", 0, 3}, {"C", "A", 0, 3}}
	if !slices.Equal(counts, wantCounts) || !slices.Equal(pairs, wantPairs) {
		t.Errorf("Deltas:\n counts %v\n want   %v\n pairs  %v\n want   %v", counts, wantCounts, pairs, wantPairs)
	}
	if c, p := Deltas([]Rating{{"A", 2}}, []Rating{{"A", 2}}); c != nil || p != nil {
		t.Errorf("no change gave %v, %v", c, p)
	}
}

// TestUserLateness: the event past the lateness and the one whose slice
// has left the window are refused; one inside the lateness is applied at
// the next bucket.
func TestUserLateness(t *testing.T) {
	w := Window{Length: 20, Slice: 10, Emit: 5, Lateness: 8}
	rules := model.Rules{Aggregate: model.AggregateMax}
	var u User
	if err := u.Add(w, Event{Item: "A", Weight: 2, Time: 31}); err != nil {
		t.Fatal(err)
	}
	if due := u.Due(w); due != 35 {
		t.Fatalf("due %d, want 35", due)
	}
	if before, after := u.Advance(w, rules, 0, 35); before != nil || !slices.Equal(after, []Rating{{"A", 2}}) {
		t.Fatalf("advance to 35: %v → %v", before, after)
	}
	for _, c := range []struct {
		e    Event
		want string
	}{
		{Event{Item: "B", Weight: 2, Time: 26}, "allowed_lateness"},
		{Event{Item: "B", Weight: 0, Time: 34}, "weight"},
	} {
		if err := u.Add(w, c.e); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Add(%+v): %v, want an error naming %q", c.e, err, c.want)
		}
	}
	if err := u.Add(w, Event{Item: "B", Weight: 6, Time: 28}); err != nil {
		t.Fatalf("7s late, lateness 8: %v", err)
	}
	if due := u.Due(w); due != 40 {
		t.Fatalf("due %d after a late event, want the next bucket 40", due)
	}
	if _, after := u.Advance(w, rules, 0, 40); !slices.Equal(after, []Rating{{"A", 2}, {"B", 6}}) {
		t.Fatalf("advance to 40: %v", after)
	}
	// Slice 2 ([20, 30)) is in the windows ending up to 40; at 45 it has left.
	if due := u.Due(w); due != 45 {
		t.Fatalf("due %d, want 45 (slice 2 leaves)", due)
	}
	if _, after := u.Advance(w, rules, 0, 45); !slices.Equal(after, []Rating{{"A", 2}}) {
		t.Fatalf("advance to 45: %v, want B gone with its slice", after)
	}
	w.Lateness = 100
	if err := u.Add(w, Event{Item: "C", Weight: 2, Time: 29}); err == nil || !strings.Contains(err.Error(), "--window") {
		t.Errorf("an event of a slice that has left: %v", err)
	}
}

func TestWindow(t *testing.T) {
	w := Window{Length: 30, Slice: 10, Emit: 2}
	for _, c := range []struct{ end, since int64 }{{2, -20}, {10, -20}, {12, -10}, {30, 0}, {32, 10}} {
		if got := w.Since(c.end); got != c.since {
			t.Errorf("Since(%d) = %d, want %d", c.end, got, c.since)
		}
	}
	if got := w.BucketEnd(-1); got != 0 {
		t.Errorf("BucketEnd(-1) = %d, want 0", got)
	}
	for _, c := range []struct {
		w    Window
		want string
	}{
		{Window{Length: 30, Slice: 10, Emit: 0}, "--emit_interval"},
		{Window{Length: 30, Slice: 10, Emit: 3}, "--slice"},
		{Window{Length: 25, Slice: 10, Emit: 2}, "--window"},
		{Window{Length: 30, Slice: 10, Emit: 2, Lateness: -1}, "--allowed_lateness"},
	} {
		if err := c.w.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.w, err, c.want)
		}
	}
}
