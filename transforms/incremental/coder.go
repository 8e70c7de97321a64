package incremental

import (
	"encoding/binary"
	"maps"
	"reflect"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/internal/wire"
	"github.com/recsys/itemsim/model"
)

// The state of both sides is read and written whole at every timer, and
// the deltas are the stream's shuffle: compact binary coders (internal/wire,
// exactsum's own form for the counts) instead of the reflective schema
// coder, which cannot see the sums' unexported fields anyway. Maps are
// written in key order, so equal states encode to equal bytes.
func init() {
	beam.RegisterCoder(reflect.TypeOf(UserEvent{}), encodeUserEvent, decodeUserEvent)
	beam.RegisterCoder(reflect.TypeOf(UserEvents{}), encodeUserEvents, decodeUserEvents)
	beam.RegisterCoder(reflect.TypeOf(DeltaBatch{}), encodeDeltaBatch, decodeDeltaBatch)
	beam.RegisterCoder(reflect.TypeOf(userShard{}), encodeUserShard, decodeUserShard)
	beam.RegisterCoder(reflect.TypeOf(itemShard{}), encodeItemShard, decodeItemShard)
	beam.RegisterCoder(reflect.TypeOf(itemLog{}), encodeItemLog, decodeItemLog)
}

func appendEvent(b []byte, e Event) []byte {
	return wire.AppendVarint(wire.AppendFloat(wire.AppendString(b, e.Item), e.Weight), e.Time)
}

func readEvent(d *wire.Decoder) Event {
	return Event{Item: d.String(), Weight: d.Float(), Time: d.Varint()}
}

func encodeUserEvent(e UserEvent) []byte { return appendEvent(wire.AppendString(nil, e.User), e.Event) }

func decodeUserEvent(b []byte) (UserEvent, error) {
	d := wire.NewDecoder(b)
	e := UserEvent{User: d.String(), Event: readEvent(d)}
	return e, d.Done()
}

// encodeUserEvents writes the count, then each event as encodeUserEvent.
func encodeUserEvents(x UserEvents) []byte {
	b := appendLen(nil, len(x.Events))
	for _, e := range x.Events {
		b = appendEvent(wire.AppendString(b, e.User), e.Event)
	}
	return b
}

func decodeUserEvents(b []byte) (UserEvents, error) {
	d := wire.NewDecoder(b)
	n := d.Count()
	x := UserEvents{Events: make([]UserEvent, 0, n)}
	for range n {
		x.Events = append(x.Events, UserEvent{User: d.String(), Event: readEvent(d)})
	}
	return x, d.Done()
}

// encodeDeltaBatch writes End, the counts' (item, sub, add) and the pairs'
// (i, j, sub, add).
func encodeDeltaBatch(x DeltaBatch) []byte { return appendDeltaBatch(nil, x) }

func appendDeltaBatch(b []byte, x DeltaBatch) []byte {
	b = wire.AppendVarint(b, x.End)
	b = appendLen(b, len(x.Counts))
	for _, c := range x.Counts {
		b = wire.AppendFloat(wire.AppendFloat(wire.AppendString(b, c.Item), c.Sub), c.Add)
	}
	b = appendLen(b, len(x.Pairs))
	for _, p := range x.Pairs {
		b = wire.AppendFloat(wire.AppendFloat(wire.AppendString(wire.AppendString(b, p.I), p.J), p.Sub), p.Add)
	}
	b = appendLen(b, len(x.Hot))
	for _, h := range x.Hot {
		b = wire.AppendVarint(wire.AppendString(b, h.Item), h.Users)
	}
	return b
}

func decodeDeltaBatch(b []byte) (DeltaBatch, error) {
	d := wire.NewDecoder(b)
	x := readDeltaBatch(d)
	return x, d.Done()
}

func readDeltaBatch(d *wire.Decoder) DeltaBatch {
	x := DeltaBatch{End: d.Varint()}
	x.Counts = make([]CountDelta, d.Count())
	for k := range x.Counts {
		x.Counts[k] = CountDelta{Item: d.String(), Sub: d.Float(), Add: d.Float()}
	}
	x.Pairs = make([]PairDelta, d.Count())
	for k := range x.Pairs {
		x.Pairs[k] = PairDelta{I: d.String(), J: d.String(), Sub: d.Float(), Add: d.Float()}
	}
	if n := d.Count(); n > 0 {
		x.Hot = make([]HotDelta, n)
		for k := range x.Hot {
			x.Hot[k] = HotDelta{Item: d.String(), Users: d.Varint()}
		}
	}
	return x
}

// encodeUserShard writes the users in id order, each with Applied, its
// slices' bests, its pending events and its recent items.
func encodeUserShard(s userShard) []byte {
	b := appendLen(nil, len(s.Users))
	for _, id := range slices.Sorted(maps.Keys(s.Users)) {
		u := s.Users[id]
		b = wire.AppendVarint(wire.AppendString(b, id), u.Applied)
		b = appendLen(b, len(u.Best))
		for _, x := range u.Best {
			b = wire.AppendFloat(wire.AppendVarint(wire.AppendString(b, x.Item), x.Slice), x.Weight)
		}
		b = appendLen(b, len(u.Pending))
		for _, e := range u.Pending {
			b = appendEvent(b, e)
		}
		b = appendLen(b, len(u.Recent))
		for _, r := range u.Recent {
			b = wire.AppendVarint(wire.AppendString(b, r.Item), r.Time)
		}
	}
	return b
}

func decodeUserShard(b []byte) (userShard, error) {
	d := wire.NewDecoder(b)
	n := d.Count()
	s := userShard{Users: make(map[string]*User, n)}
	for range n {
		id := d.String()
		u := &User{Applied: d.Varint()}
		u.Best = make([]SliceBest, d.Count())
		for k := range u.Best {
			u.Best[k] = SliceBest{Item: d.String(), Slice: d.Varint(), Weight: d.Float()}
		}
		u.Pending = make([]Event, d.Count())
		for k := range u.Pending {
			u.Pending[k] = readEvent(d)
		}
		if n := d.Count(); n > 0 {
			u.Recent = make([]RecentItem, n)
			for k := range u.Recent {
				u.Recent[k] = RecentItem{Item: d.String(), Time: d.Varint()}
			}
		}
		s.Users[id] = u
	}
	return s, d.Done()
}

// encodeItemShard writes the model's counts, then its pair rows (count,
// co-raters), its pruned rows (co-raters), then the lists, in id order;
// the partners index is rebuilt from the rows when decoding.
func encodeItemShard(s itemShard) []byte {
	m := s.Model
	b := appendLen(nil, len(m.counts))
	for _, id := range slices.Sorted(maps.Keys(m.counts)) {
		b = m.counts[id].AppendBinary(wire.AppendString(b, id))
	}
	b = appendLen(b, len(m.pairs))
	for _, i := range slices.Sorted(maps.Keys(m.pairs)) {
		row := m.pairs[i]
		b = appendLen(wire.AppendString(b, i), len(row))
		for _, j := range slices.Sorted(maps.Keys(row)) {
			b = wire.AppendVarint(row[j].count.AppendBinary(wire.AppendString(b, j)), int64(row[j].users))
		}
	}
	b = appendLen(b, len(m.pruned))
	for _, i := range slices.Sorted(maps.Keys(m.pruned)) {
		row := m.pruned[i]
		b = appendLen(wire.AppendString(b, i), len(row))
		for _, j := range slices.Sorted(maps.Keys(row)) {
			b = wire.AppendVarint(wire.AppendString(b, j), int64(row[j]))
		}
	}
	b = appendLen(b, len(s.Lists))
	for _, i := range slices.Sorted(maps.Keys(s.Lists)) {
		b = appendList(wire.AppendString(b, i), s.Lists[i])
	}
	b = appendLen(b, len(m.hot))
	for _, i := range slices.Sorted(maps.Keys(m.hot)) {
		b = wire.AppendVarint(wire.AppendString(b, i), m.hot[i])
	}
	return appendPopular(b, s.Hot)
}

// appendPopular writes a hot list: its length, then (item, users)s.
func appendPopular(b []byte, list []model.PopularItem) []byte {
	b = appendLen(b, len(list))
	for _, p := range list {
		b = wire.AppendVarint(wire.AppendString(b, p.Item), p.Users)
	}
	return b
}

func readPopular(d *wire.Decoder) []model.PopularItem {
	n := d.Count()
	if n == 0 {
		return nil
	}
	list := make([]model.PopularItem, n)
	for k := range list {
		list[k] = model.PopularItem{Item: d.String(), Users: d.Varint()}
	}
	return list
}

// appendList writes a neighbour list: its length, then (item, score)s.
func appendList(b []byte, list []model.Neighbor) []byte {
	b = appendLen(b, len(list))
	for _, n := range list {
		b = wire.AppendFloat(wire.AppendString(b, n.Item), n.Score)
	}
	return b
}

func readList(d *wire.Decoder) []model.Neighbor {
	list := make([]model.Neighbor, d.Count())
	for k := range list {
		list[k] = model.Neighbor{Item: d.String(), Score: d.Float()}
	}
	return list
}

// encodeItemLog writes the batches as encodeDeltaBatch, then the lists'
// (end, item, list), the hot list if set, and the pruned pairs.
func encodeItemLog(e itemLog) []byte {
	b := appendLen(nil, len(e.Batches))
	for _, x := range e.Batches {
		b = appendDeltaBatch(b, x)
	}
	b = appendLen(b, len(e.Lists))
	for _, u := range e.Lists {
		b = appendList(wire.AppendString(wire.AppendVarint(b, u.End), u.Item), u.Neighbors)
	}
	if e.HotSet {
		b = appendPopular(append(b, 1), e.Hot)
	} else {
		b = append(b, 0)
	}
	b = appendLen(b, len(e.Pruned))
	for _, p := range e.Pruned {
		b = wire.AppendString(wire.AppendString(b, p.I), p.J)
	}
	return b
}

func decodeItemLog(b []byte) (itemLog, error) {
	d := wire.NewDecoder(b)
	e := itemLog{Batches: make([]DeltaBatch, d.Count())}
	for k := range e.Batches {
		e.Batches[k] = readDeltaBatch(d)
	}
	e.Lists = make([]Update, d.Count())
	for k := range e.Lists {
		e.Lists[k] = Update{End: d.Varint(), Item: d.String(), Neighbors: readList(d)}
	}
	switch d.Uvarint() {
	case 0:
	case 1:
		e.HotSet, e.Hot = true, readPopular(d)
	default:
		d.Fail()
	}
	if n := d.Count(); n > 0 {
		e.Pruned = make([]prunedPair, n)
		for k := range e.Pruned {
			e.Pruned[k] = prunedPair{I: d.String(), J: d.String()}
		}
	}
	return e, d.Done()
}

func decodeItemShard(b []byte) (itemShard, error) {
	d := wire.NewDecoder(b)
	m := NewItems()
	for range d.Count() {
		id := d.String()
		m.counts[id] = d.Sum()
	}
	for range d.Count() {
		i := d.String()
		n := d.Count()
		row := make(map[string]pair, n)
		for range n {
			j := d.String()
			row[j] = pair{count: d.Sum(), users: int32(d.Varint())}
			m.link(i, j)
		}
		m.pairs[i] = row
	}
	for range d.Count() {
		i := d.String()
		n := d.Count()
		row := make(map[string]int32, n)
		for range n {
			j := d.String()
			row[j] = int32(d.Varint())
		}
		m.pruned[i] = row
	}
	s := itemShard{Model: m, Lists: map[string][]model.Neighbor{}}
	for range d.Count() {
		i := d.String()
		s.Lists[i] = readList(d)
	}
	for range d.Count() {
		i := d.String()
		m.hot[i] = d.Varint()
	}
	s.Hot = readPopular(d)
	return s, d.Done()
}

// appendLen appends a length as wire's Decoder.Count reads it.
func appendLen(b []byte, n int) []byte { return binary.AppendUvarint(b, uint64(n)) }
