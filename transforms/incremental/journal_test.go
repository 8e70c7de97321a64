package incremental

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"

	"github.com/recsys/itemsim/model"
)

// TestJournalReplaysState: a stream driven bucket by bucket through a
// shard's caches, persisted as the timers persist it (a snapshot when the
// journal is folded, else a journal entry) through the coders. At every
// bucket, caches decoded from what was persisted equal the live ones byte
// for byte and schedule the same next bucket; the journals were folded
// several times; the live lists equal the batch reference, and the hot
// list the brute-force one. With pruning, the pruned pairs are journaled
// and replayed too (the lists then differ from the exact model's).
func TestJournalReplaysState(t *testing.T) {
	t.Run("exact", func(t *testing.T) { testJournal(t, Pruning{}) })
	t.Run("pruned", func(t *testing.T) { testJournal(t, Pruning{Delta: 0.5}) }) // loose, so that this small stream prunes
}

func testJournal(t *testing.T, p Pruning) {
	w := Window{Length: 40, Slice: 10, Emit: 2, Hot: 20}
	const clip, topN, hotN, span = 6, 5, 4, 400
	rules := model.Rules{Aggregate: model.AggregateMax, Clip: clip}
	r := rand.New(rand.NewPCG(21, 22))
	events := randomEvents(r, 20000, 150, 120, span)
	byBucket := map[int64][]UserEvent{}
	for _, e := range events {
		end := w.BucketEnd(e.Time)
		byBucket[end] = append(byBucket[end], UserEvent{User: e.user, Event: e.Event})
	}

	users, items := newUserCache(w, userShard{}, nil), newItemCache(itemShard{}, nil)
	userSnap, itemSnap := encodeUserShard(userShard{}), encodeItemShard(itemShard{Model: NewItems()})
	var userJournal, itemJournal [][]byte
	var userFolds, itemFolds, checked, hotChecked, pruned, prunedJournaled int
	for end := w.Emit; end <= span+w.Length+w.Emit; end += w.Emit {
		due := byBucket[end]
		r.Shuffle(len(due), func(a, b int) { due[a], due[b] = due[b], due[a] })
		batches, changed, _ := users.advance(w, rules, recentN, 1, end, due, func(l Late) { t.Fatalf("refused %+v", l) })
		switch {
		case len(users.users) == 0:
			userSnap, userJournal = encodeUserShard(userShard{}), nil
		case len(changed.Users) == 0:
		case users.fold():
			userSnap, userJournal = encodeUserShard(userShard{Users: users.users}), nil
			userFolds++
		default:
			userJournal = append(userJournal, encodeUserShard(changed))
		}
		entry := items.apply(batches, topN, hotN, p, nil, end)
		pruned += len(entry.Pruned)
		switch {
		case items.empty():
			itemSnap, itemJournal = encodeItemShard(itemShard{Model: NewItems()}), nil
		case len(batches) == 0:
		case items.fold():
			itemSnap, itemJournal = encodeItemShard(items.shard), nil
			itemFolds++
		default:
			itemJournal = append(itemJournal, encodeItemLog(entry))
			prunedJournaled += len(entry.Pruned)
		}

		snap, err := decodeUserShard(userSnap)
		if err != nil {
			t.Fatal(err)
		}
		var journal []userShard
		for _, b := range userJournal {
			e, err := decodeUserShard(b)
			if err != nil {
				t.Fatal(err)
			}
			journal = append(journal, e)
		}
		cold := newUserCache(w, snap, journal)
		if !bytes.Equal(encodeUserShard(userShard{Users: cold.users}), encodeUserShard(userShard{Users: users.users})) {
			t.Fatalf("at %d: the users decoded from the snapshot and %d journal entries differ from the live ones", end, len(userJournal))
		}
		if cold.next() != users.next() {
			t.Fatalf("at %d: decoded users are next due at %d, the live ones at %d", end, cold.next(), users.next())
		}
		isnap, err := decodeItemShard(itemSnap)
		if err != nil {
			t.Fatal(err)
		}
		var ijournal []itemLog
		for _, b := range itemJournal {
			e, err := decodeItemLog(b)
			if err != nil {
				t.Fatal(err)
			}
			ijournal = append(ijournal, e)
		}
		if !bytes.Equal(encodeItemShard(newItemCache(isnap, ijournal).shard), encodeItemShard(items.shard)) {
			t.Fatalf("at %d: the items decoded from the snapshot and %d journal entries differ from the live ones", end, len(itemJournal))
		}

		if want := hotReference(events, w.HotSince(end), end, hotN); !slices.Equal(items.shard.Hot, want) {
			t.Fatalf("at %d: hot list %v, the events of [%d, %d) give %v", end, items.shard.Hot, w.HotSince(end), end, want)
		}
		if len(items.shard.Hot) > 0 {
			hotChecked++
		}
		if end%20 == 0 && p.Delta == 0 {
			want := reference(events, w.Since(end), end, clip, topN)
			if len(want) != len(items.shard.Lists) {
				t.Fatalf("at %d: %d lists, the batch model has %d", end, len(items.shard.Lists), len(want))
			}
			for i, l := range want {
				if !equalLists(items.shard.Lists[i], l) {
					t.Fatalf("at %d: item %s: %v, batch %v", end, i, items.shard.Lists[i], l)
				}
				checked++
			}
		}
	}
	if len(users.users) != 0 || !items.empty() {
		t.Errorf("%d users, %d counts left after the window passed every event", len(users.users), len(items.shard.Model.counts))
	}
	if userFolds < 3 || itemFolds < 3 || hotChecked < 150 || p.Delta == 0 && checked < 1000 {
		t.Errorf("%d user folds, %d item folds, %d lists and %d hot lists checked: want at least 3, 3, 1000 (exact), 150", userFolds, itemFolds, checked, hotChecked)
	}
	if (p.Delta == 0) != (pruned == 0) || p.Delta > 0 && prunedJournaled < 100 {
		t.Errorf("δ %v: %d pairs pruned, %d of them journaled (want some hundreds with pruning, none without)", p.Delta, pruned, prunedJournaled)
	}
	t.Logf("%d user folds, %d item folds, %d lists and %d hot lists checked, %d pairs pruned (%d journaled)", userFolds, itemFolds, checked, hotChecked, pruned, prunedJournaled)
}

// values is a runner's value state, committed as written.
type values struct {
	state.Provider
	held map[string]any
}

func (v values) ReadValueState(id string) (any, []state.Transaction, error) {
	return v.held[id], nil, nil
}
func (v values) WriteValueState(t state.Transaction) error { v.held[t.Key] = t.Val; return nil }
func (v values) ClearValueState(t state.Transaction) error { delete(v.held, t.Key); return nil }

// TestCopyFollowsVersion: a worker decodes a shard's state again exactly
// when its copy may differ from the runner's: at first, after another
// worker wrote, after a timer that failed before writing; not after its
// own write, nor after a timer that changed nothing.
func TestCopyFollowsVersion(t *testing.T) {
	sp := values{held: map[string]any{}}
	version := state.MakeValueState[int64]("version")
	decoded := 0
	step := func(name string, wantDecode bool, end func(c *versioned[int], held int64)) {
		t.Helper()
		before := decoded
		c, held, err := current(sp, &version, "test", 7, func() (int, error) { decoded++; return decoded, nil })
		if err != nil {
			t.Fatal(err)
		}
		if got := decoded > before; got != wantDecode {
			t.Errorf("%s: decoded %v, want %v", name, got, wantDecode)
		}
		end(c, held)
	}
	write := func(c *versioned[int], _ int64) {
		if err := bump(sp, &version, c); err != nil {
			t.Fatal(err)
		}
	}
	step("first timer", true, write)
	step("after its own write", false, func(c *versioned[int], held int64) { c.version = held })
	step("after an unchanged timer", false, func(*versioned[int], int64) {}) // fails midway
	step("after a failed timer", true, write)
	sp.held["version"] = int64(12345) // another worker's write
	step("after another worker's write", true, write)
	step("after its own write again", false, write)
}
