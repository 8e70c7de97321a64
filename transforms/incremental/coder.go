package incremental

import (
	"encoding/binary"
	"maps"
	"reflect"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/internal/exactsum"
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
func encodeDeltaBatch(x DeltaBatch) []byte {
	b := wire.AppendVarint(nil, x.End)
	b = appendLen(b, len(x.Counts))
	for _, c := range x.Counts {
		b = wire.AppendFloat(wire.AppendFloat(wire.AppendString(b, c.Item), c.Sub), c.Add)
	}
	b = appendLen(b, len(x.Pairs))
	for _, p := range x.Pairs {
		b = wire.AppendFloat(wire.AppendFloat(wire.AppendString(wire.AppendString(b, p.I), p.J), p.Sub), p.Add)
	}
	return b
}

func decodeDeltaBatch(b []byte) (DeltaBatch, error) {
	d := wire.NewDecoder(b)
	x := DeltaBatch{End: d.Varint()}
	x.Counts = make([]CountDelta, d.Count())
	for k := range x.Counts {
		x.Counts[k] = CountDelta{Item: d.String(), Sub: d.Float(), Add: d.Float()}
	}
	x.Pairs = make([]PairDelta, d.Count())
	for k := range x.Pairs {
		x.Pairs[k] = PairDelta{I: d.String(), J: d.String(), Sub: d.Float(), Add: d.Float()}
	}
	return x, d.Done()
}

// encodeUserShard writes the users in id order, each with Applied, its
// slices' bests and its pending events.
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
		s.Users[id] = u
	}
	return s, d.Done()
}

// encodeItemShard writes the model's counts, then its pair rows, then the
// lists, in id order; the partners index is rebuilt from the rows when
// decoding.
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
			b = row[j].AppendBinary(wire.AppendString(b, j))
		}
	}
	b = appendLen(b, len(s.Lists))
	for _, i := range slices.Sorted(maps.Keys(s.Lists)) {
		list := s.Lists[i]
		b = appendLen(wire.AppendString(b, i), len(list))
		for _, n := range list {
			b = wire.AppendFloat(wire.AppendString(b, n.Item), n.Score)
		}
	}
	return b
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
		row := make(map[string]exactsum.Sum, n)
		for range n {
			j := d.String()
			row[j] = d.Sum()
			m.link(i, j)
		}
		m.pairs[i] = row
	}
	s := itemShard{Model: m, Lists: map[string][]model.Neighbor{}}
	for range d.Count() {
		i := d.String()
		list := make([]model.Neighbor, d.Count())
		for k := range list {
			list[k] = model.Neighbor{Item: d.String(), Score: d.Float()}
		}
		s.Lists[i] = list
	}
	return s, d.Done()
}

// appendLen appends a length as wire's Decoder.Count reads it.
func appendLen(b []byte, n int) []byte { return binary.AppendUvarint(b, uint64(n)) }
