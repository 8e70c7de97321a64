package simstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/model"
)

// ErrNoVersion is returned when the versioned layout has no pointer yet: no
// run has completed.
var ErrNoVersion = errors.New("simstore: no published version")

// ErrNoPopular is returned for a version that has no popular list: one
// written by a run that stored none (older runs, the in-place layout).
var ErrNoPopular = errors.New("simstore: the version has no popular list")

// maxLookupKeys is Datastore's limit on keys per Lookup.
const maxLookupKeys = 1000

// Options configures a Store. They must match the writer's configuration.
type Options struct {
	Namespace string
	// Kind defaults to DefaultKind.
	Kind string
	// Layout is LayoutVersioned (default) or LayoutInPlace.
	Layout string
	// PointerTTL caches the resolved pointer for this long; 0 resolves it on
	// every call. Keep it well below the interval between runs, so a cached
	// version is still among the kept ones.
	PointerTTL time.Duration
}

// Neighbor is one similar item and its score.
type Neighbor struct {
	Item  string
	Score float64
}

// Neighbors is one item's neighbour list, score descending.
type Neighbors struct {
	Item      string
	Version   string
	UpdatedAt time.Time
	Neighbors []Neighbor
}

// Store reads neighbour lists. It is safe for concurrent use.
type Store struct {
	client *datastore.Client
	opts   Options
	keys   Keys
	now    func() time.Time

	mu       sync.Mutex
	version  string
	resolved time.Time
}

// New returns a Store reading through client, which the caller owns.
func New(client *datastore.Client, opts Options) (*Store, error) {
	if opts.Kind == "" {
		opts.Kind = DefaultKind
	}
	if opts.Layout == "" {
		opts.Layout = LayoutVersioned
	}
	if opts.Layout != LayoutVersioned && opts.Layout != LayoutInPlace {
		return nil, fmt.Errorf("simstore: unknown layout %q", opts.Layout)
	}
	return &Store{client: client, opts: opts, keys: Keys{Namespace: opts.Namespace, Kind: opts.Kind}, now: time.Now}, nil
}

// CurrentVersion returns the live version, from the cache when it is fresh.
// It returns "" for the in-place layout and ErrNoVersion when nothing has
// been published.
func (s *Store) CurrentVersion(ctx context.Context) (string, error) {
	v, _, err := s.currentVersion(ctx, false)
	return v, err
}

// currentVersion also reports whether the answer came from the cache.
func (s *Store) currentVersion(ctx context.Context, refresh bool) (string, bool, error) {
	if s.opts.Layout == LayoutInPlace {
		return "", false, nil
	}
	s.mu.Lock()
	if !refresh && s.version != "" && s.now().Sub(s.resolved) < s.opts.PointerTTL {
		v := s.version
		s.mu.Unlock()
		return v, true, nil
	}
	s.mu.Unlock()

	var p Pointer
	err := s.client.Get(ctx, s.keys.Pointer(), &p)
	if errors.Is(err, datastore.ErrNoSuchEntity) {
		return "", false, ErrNoVersion
	}
	if err != nil {
		return "", false, fmt.Errorf("simstore: reading pointer: %w", err)
	}
	s.mu.Lock()
	s.version, s.resolved = p.Version, s.now()
	s.mu.Unlock()
	return p.Version, false, nil
}

// Get returns item's neighbours; found is false when the live version has no
// such item.
func (s *Store) Get(ctx context.Context, item string) (n Neighbors, found bool, err error) {
	res, err := s.GetMulti(ctx, []string{item})
	if err != nil || res[0] == nil {
		return Neighbors{}, false, err
	}
	return *res[0], true, nil
}

// GetMulti returns the neighbours of items, aligned with items, nil where
// the live version has no such item. All results come from one version.
func (s *Store) GetMulti(ctx context.Context, items []string) ([]*Neighbors, error) {
	v, cached, err := s.currentVersion(ctx, false)
	if err != nil {
		return nil, err
	}
	res, missing, err := s.lookup(ctx, v, items)
	if err != nil || !cached || !missing {
		return res, err
	}
	// A cached pointer may name a version deleted since; missing items are
	// the symptom. Re-resolve and read again only if the version moved.
	fresh, _, err := s.currentVersion(ctx, true)
	if err != nil || fresh == v {
		return res, err
	}
	res, _, err = s.lookup(ctx, fresh, items)
	return res, err
}

// lookup reads items of version v in Lookup-sized chunks.
func (s *Store) lookup(ctx context.Context, v string, items []string) ([]*Neighbors, bool, error) {
	res := make([]*Neighbors, len(items))
	missing := false
	for lo := 0; lo < len(items); lo += maxLookupKeys {
		hi := min(lo+maxLookupKeys, len(items))
		keys := make([]*datastore.Key, hi-lo)
		for i, item := range items[lo:hi] {
			keys[i] = s.keys.Item(v, item)
		}
		ents := make([]Entity, len(keys))
		err := s.client.GetMulti(ctx, keys, ents)
		var merr datastore.MultiError
		if err != nil && !errors.As(err, &merr) {
			return nil, false, fmt.Errorf("simstore: looking up %d items: %w", len(keys), err)
		}
		for i := range keys {
			if merr != nil && merr[i] != nil {
				if !errors.Is(merr[i], datastore.ErrNoSuchEntity) {
					return nil, false, fmt.Errorf("simstore: item %q: %w", items[lo+i], merr[i])
				}
				missing = true
				continue
			}
			if len(ents[i].Items) != len(ents[i].Scores) {
				return nil, false, fmt.Errorf("simstore: item %q: %d items but %d scores", items[lo+i], len(ents[i].Items), len(ents[i].Scores))
			}
			res[lo+i] = toNeighbors(items[lo+i], ents[i])
		}
	}
	return res, missing, nil
}

func toNeighbors(item string, e Entity) *Neighbors {
	n := &Neighbors{Item: item, Version: e.Version, UpdatedAt: e.UpdatedAt, Neighbors: make([]Neighbor, len(e.Items))}
	for i, it := range e.Items {
		n.Neighbors[i] = Neighbor{Item: it, Score: e.Scores[i]}
	}
	return n
}

// Similarity returns the measure version was scored by, from its marker:
// nil when the marker records none (cosine).
func (s *Store) Similarity(ctx context.Context, version string) (*model.Similarity, error) {
	var info VersionInfo
	err := s.client.Get(ctx, s.keys.Version(version), &info)
	switch {
	case errors.Is(err, datastore.ErrNoSuchEntity):
		return nil, fmt.Errorf("simstore: version %q has no marker", version)
	case err != nil:
		return nil, fmt.Errorf("simstore: reading the marker of version %q: %w", version, err)
	}
	sim, err := info.ParseSimilarity()
	if err != nil {
		return nil, fmt.Errorf("version %q: %w", version, err)
	}
	return sim, nil
}

// Popular returns version's popular list, or ErrNoPopular when it has none.
func (s *Store) Popular(ctx context.Context, version string) (Popular, error) {
	var p Popular
	err := s.client.Get(ctx, s.keys.Popular(version), &p)
	switch {
	case errors.Is(err, datastore.ErrNoSuchEntity):
		return Popular{}, fmt.Errorf("version %q: %w", version, ErrNoPopular)
	case err != nil:
		return Popular{}, fmt.Errorf("simstore: reading the popular list of version %q: %w", version, err)
	case len(p.Items) != len(p.Users):
		return Popular{}, fmt.Errorf("simstore: the popular list of version %q has %d items but %d user counts", version, len(p.Items), len(p.Users))
	}
	return p, nil
}
