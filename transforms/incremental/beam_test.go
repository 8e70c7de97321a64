package incremental

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/recsys/itemsim/internal/jobtest"
	"github.com/recsys/itemsim/model"
)

// TestMain runs the tests on Prism as the streaming job runs its
// stateful stages (jobtest.MainStatefulOnPrism).
func TestMain(m *testing.M) { jobtest.MainStatefulOnPrism(m) }

func init() {
	register.Function2x0(stamp)
	register.Function1x2(keyed)
	register.Function1x1(enoughChecked)
	register.DoFn3x1[int, func(*Update) bool, func(Checked), error](&checkFn{})
	register.DoFn3x1[int, func(*HotList) bool, func(int), error](&hotCheckFn{})
	register.Function1x2(keyedHot)
	register.Function1x1(enoughHotChecked)
	register.Iter1[HotList]()
	register.Emitter2[beam.EventTime, UserEvent]()
	register.Emitter1[Checked]()
	register.Iter1[Update]()
	register.DoFn2x0[Recent, func(string)](&recentCheckFn{})
	register.Function1x1(enoughRecent)
	register.Emitter1[string]()
}

// recentCheckFn emits a message for each Recent that differs from the
// user's latest items among the events of its window.
type recentCheckFn struct {
	Events []UserEvent
	Window Window
	N      int
}

func (f *recentCheckFn) ProcessElement(r Recent, emit func(string)) {
	events := make([]event, len(f.Events))
	for k, e := range f.Events {
		events[k] = event{user: e.User, Event: e.Event}
	}
	if want := recentReference(events, f.Window.Since(r.End), r.End, f.N)[r.User]; !slices.Equal(r.Items, want) {
		emit(fmt.Sprintf("at %d user %s: recent %v, want %v", r.End, r.User, r.Items, want))
	}
}

// enoughRecent: the users' recent items changed often enough to test.
func enoughRecent(n int) bool { return n >= 200 }

// stamp gives an event its time as the element's timestamp.
func stamp(e UserEvent, emit func(beam.EventTime, UserEvent)) {
	emit(mtime.FromMilliseconds(e.Event.Time*1000), e)
}

func keyed(u Update) (int, Update) { return 0, u }

func keyedHot(h HotList) (int, HotList) { return 0, h }

// enoughHotChecked: many bucket ends had a non-empty hot list to compare.
func enoughHotChecked(n int) bool { return n >= 20 }

// hotCheckFn replays the hot lists in End order and, at every bucket end
// from the first event's to the last one's window end, compares the list
// written last with the brute-force hot list of the hot window taken
// there; it emits how many non-empty lists it compared.
type hotCheckFn struct {
	Events []UserEvent
	Window Window
	HotN   int
}

func (f *hotCheckFn) ProcessElement(_ int, lists func(*HotList) bool, emit func(int)) error {
	var all []HotList
	var h HotList
	for lists(&h) {
		all = append(all, h)
	}
	slices.SortFunc(all, func(a, b HotList) int { return cmp.Compare(a.End, b.End) })
	events := make([]event, len(f.Events))
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for k, e := range f.Events {
		events[k] = event{user: e.User, Event: e.Event}
		first, last = min(first, e.Event.Time), max(last, e.Event.Time)
	}
	var current []model.PopularItem
	compared := 0
	for end := f.Window.BucketEnd(first); end <= f.Window.BucketEnd(last)+f.Window.Length; end += f.Window.Emit {
		for len(all) > 0 && all[0].End <= end {
			current, all = all[0].Items, all[1:]
		}
		want := hotReference(events, f.Window.HotSince(end), end, f.HotN)
		if !slices.Equal(current, want) {
			return fmt.Errorf("at %d: hot list %v, the events of [%d, %d) give %v", end, current, f.Window.HotSince(end), end, want)
		}
		if len(want) > 0 {
			compared++
		}
	}
	if len(all) > 0 {
		return fmt.Errorf("%d hot lists after the last window", len(all))
	}
	emit(compared)
	return nil
}

// Checked sums up a checkFn run.
type Checked struct{ Snapshots, Lists int }

// enoughChecked: the model made many snapshots and lists to compare.
func enoughChecked(c Checked) bool { return c.Snapshots >= 40 && c.Lists >= 500 }

// checkFn replays the updates in End order into a store of lists and, at
// every End, compares the whole store with the batch reference over the
// window taken there; once the last has passed, the store must be empty.
type checkFn struct {
	Events []UserEvent
	Window Window
	Clip   float64
	TopN   int
}

func (f *checkFn) ProcessElement(_ int, updates func(*Update) bool, emit func(Checked)) error {
	var all []Update
	var u Update
	for updates(&u) {
		all = append(all, u)
	}
	slices.SortStableFunc(all, func(a, b Update) int { return cmp.Compare(a.End, b.End) })
	events := make([]event, len(f.Events))
	for k, e := range f.Events {
		events[k] = event{user: e.User, Event: e.Event}
	}
	store := map[string][]model.Neighbor{}
	var c Checked
	for k, u := range all {
		if len(u.Neighbors) == 0 {
			delete(store, u.Item)
		} else {
			store[u.Item] = u.Neighbors
		}
		if k+1 < len(all) && all[k+1].End == u.End {
			continue
		}
		want := reference(events, f.Window.Since(u.End), u.End, f.Clip, f.TopN)
		if len(want) != len(store) {
			return fmt.Errorf("at %d: %d lists stored, the batch model has %d", u.End, len(store), len(want))
		}
		for i, l := range want {
			if !slices.Equal(store[i], l) {
				return fmt.Errorf("at %d, window [%d, %d): item %s: stored %v, batch %v", u.End, f.Window.Since(u.End), u.End, i, store[i], l)
			}
			c.Lists++
		}
		c.Snapshots++
	}
	if len(store) != 0 {
		return fmt.Errorf("%d lists left after the window passed every event", len(store))
	}
	emit(c)
	return nil
}

// TestModelOnPrism: a bounded stream (events shuffled, a tenth delivered
// twice) through the Beam model on Prism, with one shard a side and with
// several: after every bucket with an update, the lists written so far
// equal the batch model of the window taken there, the hot list written
// last equals the brute-force one at every bucket end, each user's recent
// items written are their latest in the window, and nothing is late.
func TestModelOnPrism(t *testing.T) {
	const base = 1_700_000_000 // a bucket-aligned time, so the windows are those of TestStreamEqualsBatch shifted
	w := Window{Length: 30, Slice: 10, Emit: 2, Lateness: 6, Hot: 20}
	r := rand.New(rand.NewPCG(11, 12))
	var events []UserEvent
	for _, e := range randomEvents(r, 500, 40, 25, 100) {
		e.Time += base
		events = append(events, UserEvent{User: e.user, Event: e.Event})
	}
	delivered := slices.Clone(events)
	for k := range len(events) / 10 {
		delivered = append(delivered, events[k*10])
	}
	r.Shuffle(len(delivered), func(a, b int) { delivered[a], delivered[b] = delivered[b], delivered[a] })

	p, s := beam.NewPipelineWithRoot()
	in := beam.ParDo(s, stamp, beam.CreateList(s, delivered))
	for _, shards := range [][2]int{{1, 1}, {3, 4}} {
		c := Config{Window: w, Rules: model.Rules{Aggregate: model.AggregateMax, Clip: 6}, TopN: 5, HotN: 4, RecentN: recentN,
			UserShards: shards[0], ItemShards: shards[1]}
		updates, hot, recent, late := Model(s, c, in)
		passert.Empty(s, late)
		passert.Empty(s, beam.ParDo(s, &recentCheckFn{Events: events, Window: w, N: recentN}, recent))
		passert.True(s, stats.CountElms(s, recent), enoughRecent)
		hotChecked := beam.ParDo(s, &hotCheckFn{Events: events, Window: w, HotN: 4}, beam.GroupByKey(s, beam.ParDo(s, keyedHot, hot)))
		passert.Count(s, hotChecked, "hot checks", 1)
		passert.True(s, hotChecked, enoughHotChecked)
		checked := beam.ParDo(s, &checkFn{Events: events, Window: w, Clip: 6, TopN: 5}, beam.GroupByKey(s, beam.ParDo(s, keyed, updates)))
		passert.Count(s, checked, "checks", 1)
		passert.True(s, checked, enoughChecked)
	}
	ptest.RunAndValidate(t, p)
}
