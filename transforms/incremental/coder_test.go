package incremental

import (
	"bytes"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/recsys/itemsim/model"
)

// TestCodersRoundTrip: the state and the shuffled values of a real run
// come back equal through their coders, equal states encode to equal
// bytes, and a truncated encoding is an error, not a wrong value.
func TestCodersRoundTrip(t *testing.T) {
	w := Window{Length: 30, Slice: 10, Emit: 2, Lateness: 6}
	s := newStream(w, 6)
	r := rand.New(rand.NewPCG(5, 6))
	users := userShard{Users: map[string]*User{}}
	var events UserEvents
	for _, e := range randomEvents(r, 300, 20, 15, 40) {
		s.add(e)
		ue := UserEvent{User: e.user, Event: e.Event}
		if got, err := decodeUserEvent(encodeUserEvent(ue)); err != nil || got != ue {
			t.Fatalf("UserEvent %+v: %+v, %v", ue, got, err)
		}
		events.Events = append(events.Events, ue)
	}
	if got, err := decodeUserEvents(encodeUserEvents(events)); err != nil || !slices.Equal(got.Events, events.Events) {
		t.Fatalf("UserEvents of %d: %d back, %v", len(events.Events), len(got.Events), err)
	}
	s.advance(20)
	for id, u := range s.users {
		users.Users[id] = u
	}
	shard := itemShard{Model: s.items, Lists: map[string][]model.Neighbor{}}
	for i := range s.items.pairs {
		shard.Lists[i] = s.items.Neighbors(i, 3)
	}
	var pruned []prunedPair
	for _, i := range slices.Sorted(maps.Keys(s.items.pairs))[:2] {
		j := slices.Sorted(maps.Keys(s.items.pairs[i]))[0]
		s.items.prune(i, j)
		pruned = append(pruned, prunedPair{I: i, J: j})
	}
	var batch DeltaBatch
	for _, u := range s.users {
		c, p := Deltas(nil, u.ratings(s.rules))
		batch.Counts, batch.Pairs = append(batch.Counts, c...), append(batch.Pairs, p...)
	}
	batch.End = 20
	batch.Hot = []HotDelta{{Item: "i01", Users: 1}, {Item: "i02", Users: -1}}
	shard.Model.ApplyHot(HotDelta{Item: "i01", Users: 3})
	shard.Hot = []model.PopularItem{{Item: "i01", Users: 3}}
	entry := itemLog{Batches: []DeltaBatch{batch, {End: 22, Counts: []CountDelta{}, Pairs: []PairDelta{}}}, HotSet: true,
		Hot: []model.PopularItem{{Item: "i01", Users: 3}}, Pruned: pruned}
	for i, l := range shard.Lists {
		entry.Lists = append(entry.Lists, Update{End: 20, Item: i, Neighbors: l})
	}
	entry.Lists = append(entry.Lists, Update{End: 22, Item: "gone", Neighbors: []model.Neighbor{}})
	if !slices.ContainsFunc(slices.Collect(maps.Values(users.Users)), func(u *User) bool { return len(u.Recent) > 0 }) {
		t.Fatal("no user with recent items to encode")
	}
	if len(users.Users) == 0 || len(shard.Lists) == 0 || len(batch.Pairs) == 0 {
		t.Fatal("nothing to encode")
	}
	for _, c := range []struct {
		name   string
		encode func() []byte
		decode func([]byte) (any, error)
		want   any
	}{
		{"users", func() []byte { return encodeUserShard(users) }, func(b []byte) (any, error) {
			got, err := decodeUserShard(b)
			if err != nil {
				return nil, err
			}
			for id, u := range got.Users {
				want := users.Users[id]
				if want == nil || u.Applied != want.Applied || !slices.Equal(u.Best, want.Best) || !slices.Equal(u.Pending, want.Pending) ||
					!slices.Equal(u.Recent, want.Recent) {
					t.Errorf("user %s: %+v, want %+v", id, u, want)
				}
			}
			return len(got.Users), err
		}, len(users.Users)},
		{"items", func() []byte { return encodeItemShard(shard) }, func(b []byte) (any, error) {
			got, err := decodeItemShard(b)
			if err == nil && !bytes.Equal(encodeItemShard(got), encodeItemShard(shard)) {
				t.Error("items: decoded state encodes differently")
			}
			if err == nil && (!reflect.DeepEqual(got.Model.pruned, shard.Model.pruned) || len(got.Model.pruned) != 2) {
				t.Errorf("items: pruned rows %v, want the 2 of %v", got.Model.pruned, shard.Model.pruned)
			}
			return got.Lists, err
		}, shard.Lists},
		{"deltas", func() []byte { return encodeDeltaBatch(batch) }, func(b []byte) (any, error) { return decodeDeltaBatch(b) }, batch},
		{"item journal", func() []byte { return encodeItemLog(entry) }, func(b []byte) (any, error) { return decodeItemLog(b) }, entry},
	} {
		b := c.encode()
		if !bytes.Equal(b, c.encode()) {
			t.Errorf("%s: two encodings differ", c.name)
		}
		got, err := c.decode(b)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: round trip gave %v, %v", c.name, got, err)
		}
		if _, err := c.decode(b[:len(b)-1]); err == nil {
			t.Errorf("%s: a truncated encoding decoded without error", c.name)
		}
	}
	// The decoded item side goes on as the original: same lists after the
	// same further buckets.
	dec, err := decodeItemShard(encodeItemShard(shard))
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.items.pairs {
		if !reflect.DeepEqual(dec.Model.Neighbors(i, 5), s.items.Neighbors(i, 5)) {
			t.Fatalf("item %s: decoded lists differ", i)
		}
	}
	if !reflect.DeepEqual(dec.Model.partners, s.items.partners) {
		t.Error("the partners index was not rebuilt")
	}
}

// FuzzDecode: no input makes a decoder panic or allocate past its bytes,
// and what decodes re-encodes to bytes that decode to the same encoding
// (compared as bytes: a fuzzed float may be a NaN).
func FuzzDecode(f *testing.F) {
	f.Add(encodeUserEvent(UserEvent{User: "u", Event: Event{Item: "i", Weight: 2, Time: -5}}))
	f.Add(encodeUserEvents(UserEvents{Events: []UserEvent{{User: "u", Event: Event{Item: "i", Weight: 2, Time: -5}}, {User: "v"}}}))
	f.Add(encodeDeltaBatch(DeltaBatch{End: 10, Counts: []CountDelta{{"a", 0, 6}}, Pairs: []PairDelta{{"a", "b", 2, 0.5}}}))
	f.Add(encodeUserShard(userShard{Users: map[string]*User{"u": {Best: []SliceBest{{"a", 3, 2}}, Pending: []Event{{"b", 6, 40}}, Applied: 30}}}))
	m := NewItems()
	m.ApplyCount(CountDelta{Item: "a", Add: 6})
	m.ApplyPair(PairDelta{I: "a", J: "b", Add: 2})
	m.ApplyPair(PairDelta{I: "a", J: "c", Add: 1})
	m.prune("a", "c")
	f.Add(encodeItemShard(itemShard{Model: m, Lists: map[string][]model.Neighbor{"a": {{Item: "b", Score: 0.5}}}}))
	f.Add(encodeItemLog(itemLog{Batches: []DeltaBatch{{End: 10, Counts: []CountDelta{{"a", 0, 6}}, Hot: []HotDelta{{"a", 1}}}},
		Lists: []Update{{End: 10, Item: "a", Neighbors: []model.Neighbor{{Item: "b", Score: 0.5}}}}, HotSet: true, Hot: []model.PopularItem{{Item: "a", Users: 1}},
		Pruned: []prunedPair{{"a", "c"}}}))
	f.Add(encodeHotShards(hotShards{Shards: []shardHot{{Shard: 1, End: 10, Items: []model.PopularItem{{Item: "a", Users: 2}}}}, Last: []model.PopularItem{{Item: "a", Users: 2}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		stable := func(name string, decode func([]byte) ([]byte, error)) {
			once, err := decode(b)
			if err != nil {
				return
			}
			if twice, err := decode(once); err != nil || !bytes.Equal(once, twice) {
				t.Errorf("%s: %x re-encodes to %x, which gives %x, %v", name, b, once, twice, err)
			}
		}
		stable("UserEvent", func(b []byte) ([]byte, error) { e, err := decodeUserEvent(b); return encodeUserEvent(e), err })
		stable("UserEvents", func(b []byte) ([]byte, error) { x, err := decodeUserEvents(b); return encodeUserEvents(x), err })
		stable("DeltaBatch", func(b []byte) ([]byte, error) { x, err := decodeDeltaBatch(b); return encodeDeltaBatch(x), err })
		stable("users", func(b []byte) ([]byte, error) { s, err := decodeUserShard(b); return encodeUserShard(s), err })
		stable("items", func(b []byte) ([]byte, error) { s, err := decodeItemShard(b); return encodeItemShard(s), err })
		stable("item journal", func(b []byte) ([]byte, error) { e, err := decodeItemLog(b); return encodeItemLog(e), err })
		stable("hot", func(b []byte) ([]byte, error) { h, err := decodeHotShards(b); return encodeHotShards(h), err })
	})
}
