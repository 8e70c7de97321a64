package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/simstore"
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

// mismatchPause is the wait before reading again files that do not match
// their manifest: the pipeline writes the manifest moments after the
// files.
var mismatchPause = 200 * time.Millisecond

// errChanged wraps the error of a read that failed because the source
// moved on under it (a Datastore version deleted once the pointer left
// it): readConsistent reads again, as for differing tokens.
var errChanged = errors.New("the model changed while it was read")

// readConsistent builds a model with read between two calls of current
// and keeps it only when both return the same token: equal tokens around
// the read show that nothing the token covers changed while it ran. A
// change during the read (or a read failing with errChanged), or files
// that do not match their manifest (publish.ErrMismatch: a publication in
// progress), is read again, up to maxReadAttempts reads, then an error:
// the served model stays.
func readConsistent(ctx context.Context, current func(context.Context) (token, error), read func(context.Context, token) (*recommend.Model, error)) (*recommend.Model, token, error) {
	var mismatch error
	for attempt := range maxReadAttempts {
		before, err := current(ctx)
		if err != nil {
			return nil, token{}, err
		}
		m, err := read(ctx, before)
		if errors.Is(err, publish.ErrMismatch) {
			mismatch = err
			slog.Info("the files do not match their manifest (a publication in progress?); reading again", "err", err)
			if attempt < maxReadAttempts-1 {
				select {
				case <-ctx.Done():
					return nil, token{}, ctx.Err()
				case <-time.After(mismatchPause):
				}
			}
			continue
		}
		if errors.Is(err, errChanged) {
			mismatch = nil
			slog.Info("model changed while it was read; reading again", "err", err)
			continue
		}
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
		mismatch = nil
		slog.Info("model changed while it was read; reading again", "before", before.String(), "after", after.String())
	}
	if mismatch != nil {
		return nil, token{}, fmt.Errorf("the files did not match their manifest in %d reads, so a publication is in progress or was interrupted; the next poll tries again: %w", maxReadAttempts, mismatch)
	}
	return nil, token{}, fmt.Errorf("the model changed during each of %d reads; try again at the next poll", maxReadAttempts)
}

// token identifies the state of a source: the similarity table's version
// (a file stamp or a Datastore version), the popular file's stamp and the
// manifest's stamp ("" without one).
type token struct {
	model, popular, manifest string
}

// String is the state as logged; without a manifest it is also the file
// model's version label.
func (t token) String() string {
	s := t.model
	if t.popular != "" {
		s += " popular:" + t.popular
	}
	if t.manifest != "" {
		s += " manifest:" + t.manifest
	}
	return s
}

// popularStamp stamps an optional popular file.
func popularStamp(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	return stamp(path)
}

// stamp identifies a file's content cheaply: modification time, size and,
// where there are inodes, the inode, which a publication's rename changes
// even within one tick of the modification time and at an equal size.
func stamp(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf("%s/%d", fi.ModTime().UTC().Format(time.RFC3339Nano), fi.Size())
	if ino := inode(fi); ino != 0 {
		s += fmt.Sprintf("/i%d", ino)
	}
	return s, nil
}

// fileSource reads the pipeline's JSONL and popular files. The pipeline
// replaces each by its own rename, so a file is never seen half-written,
// but between the two renames the new similarities sit beside the old
// popular file. With the run's manifest (publish.Manifest, written after
// both files) at <similarities>.manifest.json, a model is built only from files
// whose sizes and SHA-256 match the manifest read, and is labelled with
// the manifest's version: the pair is one run's, and its similarities may
// reach the bound of the measure the manifest records. Without a manifest
// (cosine, then) the files are read as they are, labelled with their
// stamps (token.String):
// a read never overlaps a rename (readConsistent), but a half-published
// pair is served until the second rename.
type fileSource struct {
	similarities, popular string
	// between, when set, runs after the similarities are read and before
	// the popular file is: tests publish there.
	between func()
}

// manifestPath is where the pipeline's --manifest_output defaults to; the
// manifest is used when it exists.
func (s fileSource) manifestPath() string { return publish.DefaultPath(s.similarities) }

func (s fileSource) current(context.Context) (token, error) {
	m, err := stamp(s.similarities)
	if err != nil {
		return token{}, err
	}
	p, err := popularStamp(s.popular)
	if err != nil {
		return token{}, err
	}
	mf, err := stamp(s.manifestPath())
	if errors.Is(err, fs.ErrNotExist) {
		mf, err = "", nil
	}
	return token{"file:" + m, p, mf}, err
}

func (s fileSource) load(ctx context.Context) (*recommend.Model, token, error) {
	stamps := withPopular(s.popular, s.between, func(context.Context, token) ([]model.Neighbors, error) {
		return recommend.ReadNeighborsFile(s.similarities)
	})
	return readConsistent(ctx, s.current, func(ctx context.Context, t token) (*recommend.Model, error) {
		if t.manifest == "" {
			return stamps(ctx, t)
		}
		return s.readManifest()
	})
}

// readManifest builds the model the manifest describes, from files that
// match it, with similarities bounded by the manifest's measure, and the
// ALS run's user lists and item factors when it lists them (readALS).
func (s fileSource) readManifest() (*recommend.Model, error) {
	path := s.manifestPath()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := publish.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	sims := publish.Resolve(path, m.Similarities.Path)
	if !samePath(sims, s.similarities) {
		return nil, fmt.Errorf("manifest %s describes %s, not --similarities %s", path, sims, s.similarities)
	}
	lists, err := readVerified(sims, m.Similarities, recommend.ReadNeighbors)
	if err != nil {
		return nil, err
	}
	if s.between != nil {
		s.between()
	}
	var pop []model.PopularItem
	if m.Popular == nil {
		if s.popular != "" {
			return nil, fmt.Errorf("manifest %s lists no popular file, but --popular is %s", path, s.popular)
		}
	} else {
		p := publish.Resolve(path, m.Popular.Path)
		if s.popular != "" && !samePath(p, s.popular) {
			return nil, fmt.Errorf("manifest %s describes the popular file %s, not --popular %s", path, p, s.popular)
		}
		if pop, err = readVerified(p, *m.Popular, recommend.ReadPopular); err != nil {
			return nil, err
		}
	}
	parts, err := readALS(path, m)
	if err != nil {
		return nil, err
	}
	return recommend.BuildWithALS(lists, pop, m.Version, scoreBound(m.Similarity), parts)
}

// scoreBound is the largest similarity a model scored by the measure its
// run recorded may hold; a run that recorded none (nil) scored cosine.
func scoreBound(s *model.Similarity) float64 {
	if s == nil {
		return recommend.MaxSimilarity
	}
	return recommend.ScoreBound(*s)
}

// samePath reports whether two local paths name the same location.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// readVerified parses the file at path with parse while hashing every
// byte of it, and returns what it parsed only if the bytes are the ones f
// describes: the content checked is the content parsed, in one pass. A
// difference is an error wrapping publish.ErrMismatch, reported before any
// parse error (a file being replaced is not a malformed one).
func readVerified[T any](path string, f publish.File, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	file, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer file.Close()
	d := publish.NewDigest()
	tee := io.TeeReader(file, d)
	v, perr := parse(bufio.NewReaderSize(tee, 1<<20))
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return zero, fmt.Errorf("%s: %v", path, err)
	}
	if err := f.Check(d.File(path)); err != nil {
		return zero, err
	}
	if perr != nil {
		return zero, fmt.Errorf("%s: %v", path, perr)
	}
	return v, nil
}

// withPopular reads the neighbour lists, runs between (a test hook; nil in
// production), reads the popular file and builds the model labelled with
// the token read (t.String()).
func withPopular(popular string, between func(), lists func(context.Context, token) ([]model.Neighbors, error)) func(context.Context, token) (*recommend.Model, error) {
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
// (package simstore): current is the pointer; load reads the version's
// marker, whose similarity measure bounds its scores, lists every item of
// the version with one ancestor query and reads the version's popular
// list, which the pipeline stores in the transaction that flips the
// pointer, so the pair is one run's and the model is labelled with the
// version. When the marker records ALS settings (a version of the ALS
// job), load also reads the version's user lists and item factors
// (simstore.Store.UserLists, ItemFactors), as the file source reads those
// its manifest lists; a similarity-only version loads without them. A
// version without a popular list (written before lists were stored)
// takes the popular file's, if any, and is labelled with the version and
// the file's stamp. readConsistent checks that neither the pointer nor
// the file moved while all of it was read; a read that fails once the
// pointer has left its version (which the pipeline then may delete) is
// read again, from the new version (errChanged).
type datastoreSource struct {
	client  *datastore.Client
	store   *simstore.Store
	keys    simstore.Keys
	popular string
	// between, as fileSource's, runs after the items are read and before
	// the popular list, user lists and factors are.
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
	return token{model: v, popular: p}, err
}

func (s *datastoreSource) load(ctx context.Context) (*recommend.Model, token, error) {
	return readConsistent(ctx, s.current, s.read)
}

// read builds the model of the version t names (readVersion). Versions
// are deleted only after the pointer has left them, so a read that fails
// while the pointer names another version may have met a version being
// deleted: it wraps errChanged, to be read again from the new one.
func (s *datastoreSource) read(ctx context.Context, t token) (*recommend.Model, error) {
	m, err := s.readVersion(ctx, t)
	if err != nil && ctx.Err() == nil {
		if v, cerr := s.store.CurrentVersion(ctx); cerr == nil && v != t.model {
			return nil, fmt.Errorf("%w: the pointer moved from version %q to %q: %w", errChanged, t.model, v, err)
		}
	}
	return m, err
}

// readVersion builds the model of the version t names from its marker,
// items, popular list and, when the marker records ALS settings, user
// lists and item factors.
func (s *datastoreSource) readVersion(ctx context.Context, t token) (*recommend.Model, error) {
	info, err := s.store.Info(ctx, t.model)
	if err != nil {
		return nil, err
	}
	sim, err := info.ParseSimilarity()
	if err != nil {
		return nil, fmt.Errorf("version %q: %w", t.model, err)
	}
	cfg, err := info.ParseALS()
	if err != nil {
		return nil, fmt.Errorf("version %q: %w", t.model, err)
	}
	lists, err := s.versionItems(ctx, t.model)
	if err != nil {
		return nil, err
	}
	if s.between != nil {
		s.between()
	}
	pop, label, err := s.versionPopular(ctx, t)
	if err != nil {
		return nil, err
	}
	var parts recommend.ALS
	if cfg != nil {
		if parts, err = s.versionALS(ctx, t.model); err != nil {
			return nil, err
		}
	}
	return recommend.BuildWithALS(lists, pop, label, scoreBound(sim), parts)
}

// versionPopular returns the popular list of the version t names and the
// label of a model served with it: the version, or, for a version without
// a list, the popular file's list and t.String().
func (s *datastoreSource) versionPopular(ctx context.Context, t token) ([]model.PopularItem, string, error) {
	p, err := s.store.Popular(ctx, t.model)
	switch {
	case err == nil:
		pop := make([]model.PopularItem, len(p.Items))
		for i, it := range p.Items {
			pop[i] = model.PopularItem{Item: it, Users: p.Users[i]}
		}
		return pop, t.model, nil
	case errors.Is(err, simstore.ErrNoPopular):
		pop, err := recommend.ReadPopularFile(s.popular)
		return pop, t.String(), err
	default:
		return nil, "", err
	}
}

// versionALS reads the ALS parts of version: its user lists and its item
// factors with the settings they were trained with (each optional, as in
// a manifest). simstore checks the version is complete and finds every
// entity its marker counts.
func (s *datastoreSource) versionALS(ctx context.Context, version string) (recommend.ALS, error) {
	var a recommend.ALS
	users, err := s.store.UserLists(ctx, version)
	switch {
	case err == nil:
		a.Users = users
	case !errors.Is(err, simstore.ErrNoUsers):
		return a, err
	}
	cfg, rows, err := s.store.ItemFactors(ctx, version)
	switch {
	case err == nil:
		a.Config, a.ItemFactors = &cfg, rows
	case !errors.Is(err, simstore.ErrNoFactors):
		return a, err
	}
	return a, nil
}

// versionItems lists every item entity of a version: the children of its
// marker key, one key range.
func (s *datastoreSource) versionItems(ctx context.Context, version string) ([]model.Neighbors, error) {
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
	out := make([]model.Neighbors, len(keys))
	for k, key := range keys {
		e := ents[k]
		if len(e.Items) != len(e.Scores) {
			return nil, fmt.Errorf("item %q: %d items but %d scores", key.Name, len(e.Items), len(e.Scores))
		}
		n := model.Neighbors{Item: key.Name, Neighbors: make([]model.Neighbor, len(e.Items))}
		for i, it := range e.Items {
			n.Neighbors[i] = model.Neighbor{Item: it, Score: e.Scores[i]}
		}
		out[k] = n
	}
	return out, nil
}
