package simstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
)

// ErrNoVersion is returned when the versioned layout has no pointer yet: no
// run has completed.
var ErrNoVersion = errors.New("simstore: no published version")

// ErrNoPopular is returned for a version that has no popular list: one
// written by a run that stored none (older runs, the in-place layout).
var ErrNoPopular = errors.New("simstore: the version has no popular list")

// ErrNoUsers is returned for a version that has no user lists: one the
// ALS job did not write.
var ErrNoUsers = errors.New("simstore: the version has no user lists")

// ErrNoFactors is returned for a version that has no item factors or no
// ALS settings: one the ALS job did not write.
var ErrNoFactors = errors.New("simstore: the version has no item factors")

// maxLookupKeys is Datastore's limit on keys per Lookup.
const maxLookupKeys = 1000

// Options configures a Store. They must match the writer's configuration.
type Options struct {
	Namespace string
	// Kind defaults to DefaultKind.
	Kind string
	// Layout is LayoutVersioned (default), LayoutInPlace or LayoutLive
	// (read with Changes).
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
	if opts.Layout != LayoutVersioned && opts.Layout != LayoutInPlace && opts.Layout != LayoutLive {
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
	if s.opts.Layout != LayoutVersioned {
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
	var res []*Neighbors
	_, err := s.readLive(ctx, func(v string) (bool, error) {
		ents, missing, err := s.lookup(ctx, "item", items, func(item string) *datastore.Key { return s.keys.Item(v, item) })
		res = make([]*Neighbors, len(items))
		for i, e := range ents {
			if e != nil {
				res[i] = toNeighbors(items[i], *e)
			}
		}
		return missing, err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// GetUserList returns user's list in the live version and that version;
// found is false when the version has no such user.
func (s *Store) GetUserList(ctx context.Context, user string) (version string, list model.UserList, found bool, err error) {
	version, lists, err := s.GetUserLists(ctx, []string{user})
	if err != nil || lists[0] == nil {
		return version, model.UserList{}, false, err
	}
	return version, *lists[0], true, nil
}

// GetUserLists returns the lists of users in the live version, aligned
// with users, nil where the version has no such user, and that version.
// All results come from one version. It is an error in the in-place
// layout, which has no user lists.
func (s *Store) GetUserLists(ctx context.Context, users []string) (version string, lists []*model.UserList, err error) {
	if s.opts.Layout != LayoutVersioned {
		return "", nil, fmt.Errorf("simstore: the %s layout has no user lists", s.opts.Layout)
	}
	version, err = s.readLive(ctx, func(v string) (bool, error) {
		ents, missing, err := s.lookup(ctx, "user", users, func(user string) *datastore.Key { return s.keys.User(v, user) })
		lists = make([]*model.UserList, len(users))
		for i, e := range ents {
			if e != nil {
				l := toUserList(users[i], *e)
				lists[i] = &l
			}
		}
		return missing, err
	})
	if err != nil {
		return "", nil, err
	}
	return version, lists, nil
}

// readLive runs read on the live version and returns that version. read
// reports whether a key it looked up was missing: a cached pointer may
// name a version deleted since, and missing keys are the symptom, so read
// runs once more on the re-resolved version if the pointer moved.
func (s *Store) readLive(ctx context.Context, read func(version string) (missing bool, err error)) (string, error) {
	v, cached, err := s.currentVersion(ctx, false)
	if err != nil {
		return "", err
	}
	missing, err := read(v)
	if err != nil || !cached || !missing {
		return v, err
	}
	fresh, _, err := s.currentVersion(ctx, true)
	if err != nil || fresh == v {
		return v, err
	}
	_, err = read(fresh)
	return fresh, err
}

// lookup reads the entities of names at key(name) in Lookup-sized chunks,
// nil where absent; what names an entity in errors ("item", "user").
func (s *Store) lookup(ctx context.Context, what string, names []string, key func(string) *datastore.Key) ([]*Entity, bool, error) {
	res := make([]*Entity, len(names))
	missing := false
	for lo := 0; lo < len(names); lo += maxLookupKeys {
		hi := min(lo+maxLookupKeys, len(names))
		keys := make([]*datastore.Key, hi-lo)
		for i, name := range names[lo:hi] {
			keys[i] = key(name)
		}
		ents := make([]Entity, len(keys))
		err := s.client.GetMulti(ctx, keys, ents)
		var merr datastore.MultiError
		if err != nil && !errors.As(err, &merr) {
			return nil, false, fmt.Errorf("simstore: looking up %d %ss: %w", len(keys), what, err)
		}
		for i := range keys {
			if merr != nil && merr[i] != nil {
				if !errors.Is(merr[i], datastore.ErrNoSuchEntity) {
					return nil, false, fmt.Errorf("simstore: %s %q: %w", what, names[lo+i], merr[i])
				}
				missing = true
				continue
			}
			if len(ents[i].Items) != len(ents[i].Scores) {
				return nil, false, fmt.Errorf("simstore: %s %q: %d items but %d scores", what, names[lo+i], len(ents[i].Items), len(ents[i].Scores))
			}
			res[lo+i] = &ents[i]
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

// toUserList is user's list as stored in e; e's items and scores align.
func toUserList(user string, e Entity) model.UserList {
	l := model.UserList{User: user, Items: make([]model.Neighbor, len(e.Items))}
	for i, it := range e.Items {
		l.Items[i] = model.Neighbor{Item: it, Score: e.Scores[i]}
	}
	return l
}

// Info returns version's marker.
func (s *Store) Info(ctx context.Context, version string) (VersionInfo, error) {
	var info VersionInfo
	err := s.client.Get(ctx, s.keys.Version(version), &info)
	switch {
	case errors.Is(err, datastore.ErrNoSuchEntity):
		return VersionInfo{}, fmt.Errorf("simstore: version %q has no marker", version)
	case err != nil:
		return VersionInfo{}, fmt.Errorf("simstore: reading the marker of version %q: %w", version, err)
	}
	return info, nil
}

// Similarity returns the measure version was scored by, from its marker:
// nil when the marker records none (cosine).
func (s *Store) Similarity(ctx context.Context, version string) (*model.Similarity, error) {
	info, err := s.Info(ctx, version)
	if err != nil {
		return nil, err
	}
	sim, err := info.ParseSimilarity()
	if err != nil {
		return nil, fmt.Errorf("version %q: %w", version, err)
	}
	return sim, nil
}

// UserLists returns every user list of version, in key order, or
// ErrNoUsers when it has none. The version must be complete, and all the
// lists its marker counts must be found: fewer means it is being deleted.
func (s *Store) UserLists(ctx context.Context, version string) ([]model.UserList, error) {
	info, err := s.completeInfo(ctx, version)
	if err != nil {
		return nil, err
	}
	if info.Users == 0 {
		return nil, fmt.Errorf("version %q: %w", version, ErrNoUsers)
	}
	var ents []Entity
	keys, err := s.children(ctx, version, s.keys.UserKind(), &ents, info.Users, "user lists")
	if err != nil {
		return nil, err
	}
	out := make([]model.UserList, len(keys))
	for i, k := range keys {
		if len(ents[i].Items) != len(ents[i].Scores) {
			return nil, fmt.Errorf("simstore: user %q of version %q: %d items but %d scores", k.Name, version, len(ents[i].Items), len(ents[i].Scores))
		}
		out[i] = toUserList(k.Name, ents[i])
	}
	return out, nil
}

// ItemFactors returns the ALS settings of version and every item's factor,
// in key order, each of the settings' rank, or ErrNoFactors when it has
// none. As for UserLists, the version must be complete and all its
// factors found.
func (s *Store) ItemFactors(ctx context.Context, version string) (als.Config, []als.FactorRow, error) {
	info, err := s.completeInfo(ctx, version)
	if err != nil {
		return als.Config{}, nil, err
	}
	cfg, err := info.ParseALS()
	if err != nil {
		return als.Config{}, nil, fmt.Errorf("version %q: %w", version, err)
	}
	if cfg == nil || info.Factors == 0 {
		return als.Config{}, nil, fmt.Errorf("version %q: %w", version, ErrNoFactors)
	}
	var ents []Factor
	keys, err := s.children(ctx, version, s.keys.FactorKind(), &ents, info.Factors, "item factors")
	if err != nil {
		return als.Config{}, nil, err
	}
	out := make([]als.FactorRow, len(keys))
	for i, k := range keys {
		if len(ents[i].Factor) != cfg.Rank {
			return als.Config{}, nil, fmt.Errorf("simstore: the factor of item %q in version %q has %d numbers, want rank %d", k.Name, version, len(ents[i].Factor), cfg.Rank)
		}
		out[i] = als.FactorRow{ID: k.Name, Factor: ents[i].Factor}
	}
	return *cfg, out, nil
}

// completeInfo returns version's marker if the version is complete.
func (s *Store) completeInfo(ctx context.Context, version string) (VersionInfo, error) {
	info, err := s.Info(ctx, version)
	if err == nil && info.State != StateComplete {
		err = fmt.Errorf("simstore: version %q is %s, not %s", version, info.State, StateComplete)
	}
	return info, err
}

// children lists the entities of kind under version's marker into dst
// (a pointer to a slice), one ancestor query, and checks there are want
// of them; what names them in errors.
func (s *Store) children(ctx context.Context, version, kind string, dst any, want int64, what string) ([]*datastore.Key, error) {
	q := datastore.NewQuery(kind).Ancestor(s.keys.Version(version)).Namespace(s.keys.Namespace)
	keys, err := s.client.GetAll(ctx, q, dst)
	if err != nil {
		return nil, fmt.Errorf("simstore: listing the %s of version %q: %w", what, version, err)
	}
	if int64(len(keys)) != want {
		// Deleting a version removes its children before its marker.
		return nil, fmt.Errorf("simstore: version %q: %d %s found, its marker counts %d: the version is being deleted", version, len(keys), what, want)
	}
	return keys, nil
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
