package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/topn"
)

// source is where models come from. current is cheap and is polled; load
// builds the model current named.
type source interface {
	// current returns a token that changes whenever the model does.
	current(ctx context.Context) (token, error)
	// load builds the model a token from current names; the token becomes
	// the model's version.
	load(ctx context.Context, t token) (*recommend.Model, error)
}

// token identifies a model: the similarity table's version (a file stamp or
// a Datastore version) and the popular file's stamp ("" without one).
type token struct {
	model, popular string
}

// String is the model's version as served and exported in metrics.
func (t token) String() string {
	if t.popular == "" {
		return t.model
	}
	return t.model + " popular:" + t.popular
}

// popularStamp stamps an optional popular file.
func popularStamp(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	return stamp(path)
}

// stamp identifies a file's content cheaply: modification time and size.
func stamp(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/%d", fi.ModTime().UTC().Format(time.RFC3339Nano), fi.Size()), nil
}

// fileSource reads the pipeline's JSONL and popular files. The pipeline
// replaces its outputs by rename, so a file is never seen half-written.
type fileSource struct {
	similarities, popular string
}

func (s fileSource) current(context.Context) (token, error) {
	m, err := stamp(s.similarities)
	if err != nil {
		return token{}, err
	}
	p, err := popularStamp(s.popular)
	return token{"file:" + m, p}, err
}

func (s fileSource) load(_ context.Context, t token) (*recommend.Model, error) {
	return recommend.LoadFiles(s.similarities, s.popular, t.String())
}

// datastoreSource reads the live version of the Datastore versioned layout
// (package simstore): current is the pointer, load lists every item of that
// version with one ancestor query. The popular items come from a file.
type datastoreSource struct {
	client  *datastore.Client
	store   *simstore.Store
	keys    simstore.Keys
	popular string
}

// newDatastoreSource reads through client, which the caller owns.
func newDatastoreSource(client *datastore.Client, namespace, kind, popular string) (*datastoreSource, error) {
	// PointerTTL 0: every poll reads the pointer.
	store, err := simstore.New(client, simstore.Options{Namespace: namespace, Kind: kind})
	if err != nil {
		return nil, err
	}
	if kind == "" {
		kind = simstore.DefaultKind
	}
	return &datastoreSource{client: client, store: store, keys: simstore.Keys{Namespace: namespace, Kind: kind}, popular: popular}, nil
}

func (s *datastoreSource) current(ctx context.Context) (token, error) {
	v, err := s.store.CurrentVersion(ctx)
	if err != nil {
		return token{}, err
	}
	p, err := popularStamp(s.popular)
	return token{v, p}, err
}

func (s *datastoreSource) load(ctx context.Context, t token) (*recommend.Model, error) {
	lists, err := s.versionItems(ctx, t.model)
	if err != nil {
		return nil, err
	}
	pop, err := recommend.ReadPopularFile(s.popular)
	if err != nil {
		return nil, err
	}
	return recommend.Build(lists, pop, t.String())
}

// versionItems lists every item entity of a version: the children of its
// marker key, one key range.
func (s *datastoreSource) versionItems(ctx context.Context, version string) ([]topn.Neighbors, error) {
	q := datastore.NewQuery(s.keys.Kind).Ancestor(s.keys.Version(version)).Namespace(s.keys.Namespace)
	var ents []simstore.Entity
	keys, err := s.client.GetAll(ctx, q, &ents)
	if err != nil {
		return nil, fmt.Errorf("listing version %q: %w", version, err)
	}
	if len(keys) == 0 {
		// A published version always has items; none means it was deleted
		// since the pointer was read.
		return nil, errors.New("version " + version + " has no items")
	}
	out := make([]topn.Neighbors, len(keys))
	for k, key := range keys {
		e := ents[k]
		if len(e.Items) != len(e.Scores) {
			return nil, fmt.Errorf("item %q: %d items but %d scores", key.Name, len(e.Items), len(e.Scores))
		}
		n := topn.Neighbors{Item: key.Name, Neighbors: make([]topn.Neighbor, len(e.Items))}
		for i, it := range e.Items {
			n.Neighbors[i] = topn.Neighbor{Item: it, Score: e.Scores[i]}
		}
		out[k] = n
	}
	return out, nil
}
