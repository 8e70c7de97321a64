package incremental

import (
	"cmp"
	"context"
	"reflect"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/internal/wire"
	"github.com/recsys/itemsim/model"
)

func init() {
	register.DoFn5x1[state.Provider, timers.Provider, int, shardHot, func(HotList), error](&hotFn{})
	register.Emitter2[int, shardHot]()
	register.Emitter1[HotList]()
	beam.RegisterCoder(reflect.TypeOf(shardHot{}), encodeShardHot, decodeShardHot)
	beam.RegisterCoder(reflect.TypeOf(hotShards{}), encodeHotShards, decodeHotShards)
}

// HotList is the hot list after the buckets up to End: the items with the
// most users with an event in the hot window [Window.HotSince(End), End),
// most first, ties by item; written only when it differs from the last.
// It is the real-time fallback list.
type HotList struct {
	End   int64               `json:"end"`
	Items []model.PopularItem `json:"items"`
}

// shardHot is an item shard's hot list after the buckets up to End: the
// hot list is among the union of the shards' (they share no item).
type shardHot struct {
	Shard int
	End   int64
	Items []model.PopularItem
}

// hotShards is the hot side's state: each shard's latest list, and the
// hot list last written.
type hotShards struct {
	Shards []shardHot
	Last   []model.PopularItem
}

// mergeHot is the n best of the shards' lists.
func mergeHot(shards []shardHot, n int) []model.PopularItem {
	var all []model.PopularItem
	for _, s := range shards {
		all = append(all, s.Items...)
	}
	slices.SortFunc(all, comparePopular)
	return all[:min(n, len(all))]
}

// hotFn merges the item shards' hot lists on one key. A shard's list waits
// in the bag until the watermark passes its End, when every shard has sent
// its list of that bucket (if it changed); the timer then writes the merged
// list if it changed.
type hotFn struct {
	HotN int

	Pending state.Bag[shardHot]
	Shards  state.Value[hotShards]
	Next    state.Value[int64]
	Timer   timers.EventTime
}

// ProcessElement queues a shard's list; the output is the timer's.
func (f *hotFn) ProcessElement(sp state.Provider, tp timers.Provider, _ int, h shardHot, _ func(HotList)) error {
	if err := f.Pending.Add(sp, h); err != nil {
		return err
	}
	return wake(sp, tp, &f.Next, f.Timer, h.End)
}

func (f *hotFn) OnTimer(_ context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, _ int, _ timers.Context,
	emit func(HotList)) error {
	end := bucketOf(ts)
	pending, _, err := f.Pending.Read(sp)
	if err != nil {
		return err
	}
	st, _, err := f.Shards.Read(sp)
	if err != nil {
		return err
	}
	slices.SortStableFunc(pending, func(a, b shardHot) int { return cmp.Compare(a.End, b.End) })
	var keep []shardHot
	var next int64
	for _, h := range pending {
		if h.End > end {
			keep, next = append(keep, h), earliest(next, h.End)
			continue
		}
		k := slices.IndexFunc(st.Shards, func(s shardHot) bool { return s.Shard == h.Shard })
		if k < 0 {
			st.Shards = append(st.Shards, h)
		} else {
			st.Shards[k] = h
		}
	}
	if top := mergeHot(st.Shards, f.HotN); !slices.Equal(top, st.Last) {
		emit(HotList{End: end, Items: top})
		st.Last = top
	}
	if err := f.Pending.Clear(sp); err != nil {
		return err
	}
	for _, h := range keep {
		if err := f.Pending.Add(sp, h); err != nil {
			return err
		}
	}
	if err := f.Shards.Write(sp, st); err != nil {
		return err
	}
	return rearm(sp, tp, &f.Next, f.Timer, next)
}

func appendShardHot(b []byte, h shardHot) []byte {
	return appendPopular(wire.AppendVarint(wire.AppendVarint(b, int64(h.Shard)), h.End), h.Items)
}

func readShardHot(d *wire.Decoder) shardHot {
	return shardHot{Shard: int(d.Varint()), End: d.Varint(), Items: readPopular(d)}
}

func encodeShardHot(h shardHot) []byte { return appendShardHot(nil, h) }

func decodeShardHot(b []byte) (shardHot, error) {
	d := wire.NewDecoder(b)
	h := readShardHot(d)
	return h, d.Done()
}

// encodeHotShards writes the shards' lists, then the last hot list.
func encodeHotShards(s hotShards) []byte {
	b := appendLen(nil, len(s.Shards))
	for _, h := range s.Shards {
		b = appendShardHot(b, h)
	}
	return appendPopular(b, s.Last)
}

func decodeHotShards(b []byte) (hotShards, error) {
	d := wire.NewDecoder(b)
	var s hotShards
	for range d.Count() {
		s.Shards = append(s.Shards, readShardHot(d))
	}
	s.Last = readPopular(d)
	return s, d.Done()
}
