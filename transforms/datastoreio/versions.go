package datastoreio

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/simstore"
	"google.golang.org/api/iterator"
)

// versions runs the steps around a versioned write: record the version
// before its items, publish it after them, delete what is no longer kept.
// It assumes one run at a time per namespace and kind.
type versions struct {
	client  *datastore.Client
	keys    simstore.Keys
	clk     clock
	retry   Retry
	jitter  func() float64
	metrics metrics
}

// withRetry runs f again on transient errors, with backoff.
func (s *versions) withRetry(ctx context.Context, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !retryable(err) || attempt >= s.retry.MaxAttempts {
			return err
		}
		s.metrics.Inc(ctx, metricRetries, 1)
		if err := s.clk.Sleep(ctx, backoff(s.retry, attempt, s.jitter())); err != nil {
			return err
		}
	}
}

// begin writes version v's marker in state writing, expecting the
// entities counted in want and recording the similarity measure sim (nil:
// none, cosine), the ALS settings a (nil: none) and the window w. It runs
// before any entity of v is written, so every version a failed run leaves
// is found later. It refuses to rewrite the live version in place.
func (s *versions) begin(ctx context.Context, v string, want tally, start time.Time, sim *model.Similarity, a *als.Config, w publish.Window) error {
	info := simstore.VersionInfo{State: simstore.StateWriting, CreatedAt: start, WindowStart: w.Start, WindowEnd: w.End,
		Expected: int64(want.Items), ExpectedUsers: int64(want.Users), ExpectedFactors: int64(want.Factors)}
	if err := info.SetSimilarity(sim); err != nil {
		return err
	}
	if err := info.SetALS(a); err != nil {
		return err
	}
	return s.withRetry(ctx, func() error {
		var p simstore.Pointer
		err := s.client.Get(ctx, s.keys.Pointer(), &p)
		switch {
		case err == nil && p.Version == v:
			return fmt.Errorf("datastoreio: version %q is live; each run must write a new version", v)
		case err != nil && !errors.Is(err, datastore.ErrNoSuchEntity):
			return fmt.Errorf("datastoreio: reading pointer: %w", err)
		}
		if _, err := s.client.Put(ctx, s.keys.Version(v), &info); err != nil {
			return fmt.Errorf("datastoreio: recording version %q: %w", v, err)
		}
		return nil
	})
}

// fail records the first permanent write error on v's marker, so that the
// publish step can report it. Best effort: the caller fails anyway.
func (s *versions) fail(ctx context.Context, v string, cause error) {
	_, _ = s.client.RunInTransaction(ctx, func(tx *datastore.Transaction) error {
		var info simstore.VersionInfo
		if err := tx.Get(s.keys.Version(v), &info); err != nil || info.Error != "" {
			return err
		}
		info.Error = cause.Error()
		_, err := tx.Put(s.keys.Version(v), &info)
		return err
	})
}

// publish marks v complete with the entities counted in n, writes its
// popular list pop (nil: none) and points readers at it, in one
// transaction, if n counts the items, user lists and factors expected and
// the live version's window does not end after v's (else a
// *publish.StaleError). It returns the version that was live before.
func (s *versions) publish(ctx context.Context, v string, n tally, pop *simstore.Popular, now time.Time) (previous string, err error) {
	err = s.withRetry(ctx, func() error {
		_, err := s.client.RunInTransaction(ctx, func(tx *datastore.Transaction) error {
			var info simstore.VersionInfo
			if err := tx.Get(s.keys.Version(v), &info); err != nil {
				return fmt.Errorf("datastoreio: reading marker of version %q: %w", v, err)
			}
			if !complete(n, info) {
				return incompleteError(v, n, info)
			}
			var p simstore.Pointer
			if err := tx.Get(s.keys.Pointer(), &p); err != nil && !errors.Is(err, datastore.ErrNoSuchEntity) {
				return fmt.Errorf("datastoreio: reading pointer: %w", err)
			}
			previous = p.Version
			if p.Version != "" {
				var live simstore.VersionInfo
				if err := tx.Get(s.keys.Version(p.Version), &live); err != nil && !errors.Is(err, datastore.ErrNoSuchEntity) {
					return fmt.Errorf("datastoreio: reading marker of the live version %q: %w", p.Version, err)
				}
				if err := publish.CheckOrder(v, info.WindowEnd, p.Version, live.WindowEnd); err != nil {
					return err
				}
			}
			info.State, info.CompletedAt = simstore.StateComplete, now
			info.Items, info.Users, info.Factors = int64(n.Items), int64(n.Users), int64(n.Factors)
			keys := []*datastore.Key{s.keys.Version(v), s.keys.Pointer()}
			ents := []any{&info, &simstore.Pointer{Version: v, UpdatedAt: now}}
			if pop != nil {
				keys, ents = append(keys, s.keys.Popular(v)), append(ents, pop)
			}
			_, err := tx.PutMulti(keys, ents)
			return err
		})
		return err
	})
	return previous, err
}

type marker struct {
	name string
	info simstore.VersionInfo
}

// doomed lists the versions to delete once current is live: those created
// before it, except the newest complete ones that with current make keep.
// Versions created after current (a later run) are left alone.
func doomed(markers []marker, current string, keep int) ([]string, error) {
	i := slices.IndexFunc(markers, func(m marker) bool { return m.name == current })
	if i < 0 {
		return nil, fmt.Errorf("datastoreio: version %q has no marker", current)
	}
	newer := func(a, b marker) int { // newest first
		return cmp.Or(b.info.CreatedAt.Compare(a.info.CreatedAt), cmp.Compare(b.name, a.name))
	}
	var out []string
	kept := 1
	for _, m := range slices.SortedFunc(slices.Values(markers), newer) {
		if newer(m, markers[i]) <= 0 {
			continue // current itself, or newer
		}
		if m.info.State == simstore.StateComplete && kept < keep {
			kept++
			continue
		}
		out = append(out, m.name)
	}
	return out, nil
}

// collect deletes the versions doomed once current is live, each entity
// under its marker first and the marker last, so an interrupted deletion is finished by a later run.
func (s *versions) collect(ctx context.Context, w *writer, current string, keep int) ([]string, error) {
	var markers []marker
	err := s.withRetry(ctx, func() error {
		q := datastore.NewQuery(s.keys.VersionKind()).Namespace(s.keys.Namespace).KeysOnly()
		keys, err := s.client.GetAll(ctx, q, nil)
		if err != nil {
			return fmt.Errorf("datastoreio: listing versions: %w", err)
		}
		// The pointer shares the markers' kind.
		keys = slices.DeleteFunc(keys, func(k *datastore.Key) bool { return k.Name == simstore.CurrentName })
		markers = markers[:0]
		for chunk := range slices.Chunk(keys, maxLookupKeys) {
			infos := make([]simstore.VersionInfo, len(chunk))
			if err := s.client.GetMulti(ctx, chunk, infos); err != nil {
				return fmt.Errorf("datastoreio: reading version markers: %w", err)
			}
			for i, k := range chunk {
				markers = append(markers, marker{name: k.Name, info: infos[i]})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	names, err := doomed(markers, current, keep)
	if err != nil {
		return nil, err
	}
	for _, v := range names {
		if err := s.deleteVersion(ctx, w, v); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// maxLookupKeys is Datastore's limit on keys per Lookup.
const maxLookupKeys = 1000

// deleteVersion deletes every entity under v's marker, whatever its kind
// (items, popular list, user lists, factors) and whatever the entities of
// other versions, then v's marker.
func (s *versions) deleteVersion(ctx context.Context, w *writer, v string) error {
	parent := s.keys.Version(v)
	err := s.withRetry(ctx, func() error {
		// A kindless ancestor query: no kind a version holds is left behind.
		q := datastore.NewQuery("").Namespace(s.keys.Namespace).Ancestor(parent).KeysOnly()
		it := s.client.Run(ctx, q)
		for {
			k, err := it.Next(nil)
			if errors.Is(err, iterator.Done) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("datastoreio: listing the entities of version %q: %w", v, err)
			}
			if k.Equal(parent) { // a key is its own ancestor; the marker goes last
				continue
			}
			if err := w.add(ctx, deleteOp(k)); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return err
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := w.add(ctx, deleteOp(parent)); err != nil {
		return err
	}
	return w.flush(ctx)
}

// live describes the sink for a run of version v (publish.Preflight): the
// live version, where its window ends, and whether v is complete.
func (s *versions) live(ctx context.Context, v string) (publish.Sink, error) {
	sink := publish.Sink{Name: "datastore " + s.keys.VersionKind()}
	var p simstore.Pointer
	if err := s.get(ctx, s.keys.Pointer(), &p); err != nil {
		return sink, fmt.Errorf("datastoreio: reading pointer: %w", err)
	}
	sink.Live = p.Version
	var live, own simstore.VersionInfo
	if p.Version != "" {
		if err := s.get(ctx, s.keys.Version(p.Version), &live); err != nil {
			return sink, fmt.Errorf("datastoreio: reading the marker of version %q: %w", p.Version, err)
		}
	}
	if err := s.get(ctx, s.keys.Version(v), &own); err != nil {
		return sink, fmt.Errorf("datastoreio: reading the marker of version %q: %w", v, err)
	}
	sink.LiveEnd, sink.Has = live.WindowEnd, own.State == simstore.StateComplete
	return sink, nil
}

// get reads key into dst with retries, leaving dst zero if key is absent.
func (s *versions) get(ctx context.Context, key *datastore.Key, dst any) error {
	return s.withRetry(ctx, func() error {
		if err := s.client.Get(ctx, key, dst); err != nil && !errors.Is(err, datastore.ErrNoSuchEntity) {
			return err
		}
		return nil
	})
}

// complete reports whether n counts every entity v's marker info expects,
// and at least one item: a version without items is an empty model.
func complete(n tally, info simstore.VersionInfo) bool {
	return n.Items > 0 && int64(n.Items) == info.Expected && int64(n.Users) == info.ExpectedUsers && int64(n.Factors) == info.ExpectedFactors
}

// incompleteError explains why version v, of which n entities were
// written, cannot be published.
func incompleteError(v string, n tally, info simstore.VersionInfo) error {
	if info.Expected == 0 {
		return fmt.Errorf("datastoreio: version %q has no items; refusing to publish an empty model", v)
	}
	written := fmt.Sprintf("%d of %d items", n.Items, info.Expected)
	if info.ExpectedUsers > 0 || n.Users > 0 {
		written += fmt.Sprintf(", %d of %d user lists", n.Users, info.ExpectedUsers)
	}
	if info.ExpectedFactors > 0 || n.Factors > 0 {
		written += fmt.Sprintf(", %d of %d item factors", n.Factors, info.ExpectedFactors)
	}
	err := fmt.Errorf("datastoreio: version %q: %s written, so a write bundle failed; the pointer stays on the previous version", v, written)
	if info.Error != "" {
		err = fmt.Errorf("%w; first write error: %s", err, info.Error)
	}
	return err
}

func deleteOp(k *datastore.Key) op {
	return op{mut: datastore.NewDelete(k), key: k.String(), what: "key " + k.String(), bytes: keyBytes(k) + stringOverhead, delete: true}
}
