package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/topn"
)

// source is where models come from. current is cheap and is polled; load
// builds the model current names.
type source interface {
	// current returns a token that changes whenever the model does.
	current(ctx context.Context) (token, error)
	// load builds the current model from one consistent state of the
	// source (see readConsistent) and returns it with the token of what
	// it read, which is also the model's version.
	load(ctx context.Context) (*recommend.Model, token, error)
}

// maxReadAttempts bounds the reads of a source that keeps changing while
// it is read; the next poll tries again.
const maxReadAttempts = 3

// readConsistent builds a model with read between two calls of current
// and keeps it only when both return the same token. The similarities and
// the popular list are published separately (two renames, or a pointer
// flip and a file), so a read that overlaps a publication could pair a
// new similarity table with an old popular list; equal tokens around the
// read show that neither changed while it ran, so the pair read is one
// state of the source and the token, the model's version, names it. A
// change during the read is retried, up to maxReadAttempts reads, then an
// error: the served model stays.
func readConsistent(ctx context.Context, current func(context.Context) (token, error), read func(context.Context, token) (*recommend.Model, error)) (*recommend.Model, token, error) {
	for range maxReadAttempts {
		before, err := current(ctx)
		if err != nil {
			return nil, token{}, err
		}
		m, err := read(ctx, before)
		if err != nil {
			return nil, token{}, err
		}
		after, err := current(ctx)
		if err != nil {
			return nil, token{}, err
		}
		if after == before {
			return m, before, nil
		}
		slog.Info("model changed while it was read; reading again", "before", before.String(), "after", after.String())
	}
	return nil, token{}, fmt.Errorf("the model changed during each of %d reads; try again at the next poll", maxReadAttempts)
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
// replaces its outputs by rename, so a file is never seen half-written;
// readConsistent makes sure the two files read belong together.
type fileSource struct {
	similarities, popular string
	// between, when set, runs after the similarities are read and before
	// the popular file is: tests publish there.
	between func()
}

func (s fileSource) current(context.Context) (token, error) {
	m, err := stamp(s.similarities)
	if err != nil {
		return token{}, err
	}
	p, err := popularStamp(s.popular)
	return token{"file:" + m, p}, err
}

func (s fileSource) load(ctx context.Context) (*recommend.Model, token, error) {
	return readConsistent(ctx, s.current, withPopular(s.popular, s.between,
		func(context.Context, token) ([]topn.Neighbors, error) {
			return recommend.ReadNeighborsFile(s.similarities)
		}))
}

// withPopular reads the neighbour lists, runs between (a test hook; nil in
// production), reads the popular file and builds the model under t's label.
func withPopular(popular string, between func(), lists func(context.Context, token) ([]topn.Neighbors, error)) func(context.Context, token) (*recommend.Model, error) {
	return func(ctx context.Context, t token) (*recommend.Model, error) {
		l, err := lists(ctx, t)
		if err != nil {
			return nil, err
		}
		if between != nil {
			between()
		}
		pop, err := recommend.ReadPopularFile(popular)
		if err != nil {
			return nil, err
		}
		return recommend.Build(l, pop, t.String())
	}
}

// datastoreSource reads the live version of the Datastore versioned layout
// (package simstore): current is the pointer, load lists every item of that
// version with one ancestor query. The popular items come from a file, so
// readConsistent checks that neither the pointer nor the file moved while
// both were read.
type datastoreSource struct {
	client  *datastore.Client
	store   *simstore.Store
	keys    simstore.Keys
	popular string
	// between, as fileSource's, runs between the two reads.
	between func()
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

func (s *datastoreSource) load(ctx context.Context) (*recommend.Model, token, error) {
	return readConsistent(ctx, s.current, withPopular(s.popular, s.between,
		func(ctx context.Context, t token) ([]topn.Neighbors, error) { return s.versionItems(ctx, t.model) }))
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
