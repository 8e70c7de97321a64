package incremental

import (
	"bufio"
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/recsys/itemsim/bench/synth"
	"github.com/recsys/itemsim/internal/testlogs"
	"github.com/recsys/itemsim/model"
)

// bucketDeltas are one bucket's changes, as the user side sends them.
type bucketDeltas struct {
	counts []CountDelta
	pairs  []PairDelta
}

// syntheticEvents is a bench/synth log with the seed's weights.
func syntheticEvents(tb testing.TB, interactions, items int) []event {
	var log bytes.Buffer
	if err := synth.Write(&log, synth.Config{Interactions: interactions, Items: items, Seed: 42}); err != nil {
		tb.Fatal(err)
	}
	weights := map[string]float64{"1": 0.5, "2": 2, "3": 6}
	var out []event
	sc := bufio.NewScanner(&log)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		at, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, event{user: f[0], Event: Event{Item: f[1], Weight: weights[f[2]], Time: at}})
	}
	return out
}

// movieLensEvents is MovieLens 100K, each rating an event of that weight
// at its time (or the benchmark is skipped without the shared datasets).
func movieLensEvents(tb testing.TB) []event {
	var out []event
	for _, r := range testlogs.MovieLens(tb) {
		out = append(out, event{user: r.User, Event: Event{Item: r.Item, Weight: r.Value, Time: r.Time}})
	}
	return out
}

// replayDeltas replays events through the user side (max aggregate) in
// w, bucket by bucket, and returns each bucket's deltas.
func replayDeltas(tb testing.TB, events []event, w Window) []bucketDeltas {
	rules := model.Rules{Aggregate: model.AggregateMax}
	byBucket := map[int64][]event{}
	first, last := w.BucketEnd(events[0].Time), w.BucketEnd(events[0].Time)
	for _, e := range events {
		end := w.BucketEnd(e.Time)
		byBucket[end] = append(byBucket[end], e)
		first, last = min(first, end), max(last, end)
	}
	users := map[string]*User{}
	var out []bucketDeltas
	for end := first; end <= last+w.Length; end += w.Emit {
		for _, e := range byBucket[end] {
			u := users[e.user]
			if u == nil {
				u = &User{}
				users[e.user] = u
			}
			if err := u.Add(w, e.Event); err != nil {
				tb.Fatal(err)
			}
		}
		var d bucketDeltas
		for name, u := range users {
			for due := u.Due(w); due != 0 && due <= end; due = u.Due(w) {
				counts, pairs := Deltas(u.Advance(w, rules, 0, due))
				d.counts, d.pairs = append(d.counts, counts...), append(d.pairs, pairs...)
			}
			if u.Empty() {
				delete(users, name)
			}
		}
		out = append(out, d)
	}
	return out
}

// replay applies the buckets to an item side, rescoring each changed list
// with p, and calls after with the side after each bucket.
func replay(buckets []bucketDeltas, n int, p Pruning, after func(k int, m *Items)) (pruned int) {
	m := NewItems()
	for k, d := range buckets {
		for _, c := range d.counts {
			m.ApplyCount(c)
		}
		for _, x := range d.pairs {
			m.ApplyPair(x)
		}
		for _, i := range m.Changed(nil) {
			_, out := m.Rescore(i, n, p)
			pruned += len(out)
		}
		if after != nil {
			after(k, m)
		}
	}
	return pruned
}

// BenchmarkPruning is the item side's cost per event, without and with
// Hoeffding pruning, beside the pairs it prunes, the pairs it holds at
// the window's fullest, and its top-20 recall against the exact model
// (every list, every 10th bucket), over two logs: a synthetic power-law
// one (bench/synth: 100,000 events, 2,000 items, 30 days; a 7-day window
// by days, emitted hourly) and MovieLens 100K (real, denser: 943 users
// who rate 106 movies each on average, 7 months; a 30-day window by days,
// emitted daily). The user side's deltas are computed once, outside the
// timing.
func BenchmarkPruning(b *testing.B) {
	const n = 20
	for _, log := range []struct {
		name   string
		events func(testing.TB) []event
		w      Window
	}{
		{"synth", func(tb testing.TB) []event { return syntheticEvents(tb, 100000, 2000) }, Window{Length: 7 * 86400, Slice: 86400, Emit: 3600}},
		{"movielens", movieLensEvents, Window{Length: 30 * 86400, Slice: 86400, Emit: 86400}},
	} {
		b.Run(log.name, func(b *testing.B) {
			events := log.events(b)
			buckets := replayDeltas(b, events, log.w)
			exact := map[int]map[string][]model.Neighbor{}
			replay(buckets, n, Pruning{}, func(k int, m *Items) {
				if k%10 == 0 {
					lists := map[string][]model.Neighbor{}
					for i := range m.pairs {
						lists[i] = m.Neighbors(i, n)
					}
					exact[k] = lists
				}
			})
			for _, p := range []Pruning{{}, {Delta: 0.2}, {Delta: 0.05}} {
				b.Run("delta="+strconv.FormatFloat(p.Delta, 'g', -1, 64), func(b *testing.B) {
					var found, listed, held, pruned int
					b.ResetTimer()
					for range b.N {
						found, listed, held = 0, 0, 0
						pruned = replay(buckets, n, p, func(k int, m *Items) {
							b.StopTimer() // the measurements are not the model's work
							defer b.StartTimer()
							pairs := 0
							for _, row := range m.pairs {
								pairs += len(row)
							}
							held = max(held, pairs)
							for i, want := range exact[k] {
								got := m.Neighbors(i, n)
								for _, c := range want {
									if slices.ContainsFunc(got, func(g model.Neighbor) bool { return g.Item == c.Item }) {
										found++
									}
								}
								listed += len(want)
							}
						})
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
					b.ReportMetric(float64(pruned), "pruned")
					b.ReportMetric(float64(held), "pairs_held")
					b.ReportMetric(float64(found)/float64(listed), "recall")
				})
			}
		})
	}
}
