// Package publish describes what one run of the pipeline published as files:
// a manifest naming the run's version, the similarity measure it scored by,
// the window of events it read and, for each file it wrote, the file's
// path, size and SHA-256. It also holds the rule that orders publications
// in every sink (CheckOrder, Preflight): a version replaces the live one
// only if its window does not end earlier.
//
// The pipeline replaces each output by its own rename (or object upload), so
// between two of them a reader sees one new file beside an old one, with
// nothing in either to tell. The manifest is written last, once every file
// it names is in place, so a reader that checks the files it read against
// the manifest it read knows they are the pair one run wrote: a mismatch
// (ErrMismatch) means a publication is in progress, or was interrupted, and
// the reader keeps what it has. The package is plain Go, shared by the
// pipelines (which write manifests) and the server (which checks them).
//
// The ALS job publishes the same way: its item-item neighbours are the
// Similarities, and the manifest adds its per-user lists, its factor files
// and the settings it trained with, which a server needs to fold a new
// user in against the item factors.
package publish

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
)

// Suffix is appended to the similarities file's path to name its manifest
// when none is given: out/similarities.jsonl.manifest.json.
const Suffix = ".manifest.json"

// DefaultPath is the manifest path for the similarities file at output.
func DefaultPath(output string) string { return output + Suffix }

// Manifest is the document a run writes after its files.
type Manifest struct {
	// Version is the run's id (the pipeline's --run_id, also the Datastore
	// version it writes): the version label a server gives the model.
	Version string `json:"version"`
	// Similarities is the neighbour-list JSONL file.
	Similarities File `json:"similarities"`
	// Popular is the popular-items file; nil when the run wrote none.
	Popular *File `json:"popular,omitempty"`
	// Similarity is the measure the run scored pairs by, which bounds the
	// scores a reader accepts (model.Similarity.MaxScore); nil, as in
	// manifests written before measures, is cosine.
	Similarity *model.Similarity `json:"similarity,omitempty"`
	// Window is the span of event time the run read, which orders
	// publications (CheckOrder); nil, as in manifests written before
	// windows, orders before any.
	Window *Window `json:"window,omitempty"`
	// Users is the ALS job's per-user lists (JSONL of model.UserList); nil
	// when the run wrote none.
	Users *File `json:"users,omitempty"`
	// ItemFactors and UserFactors are the ALS job's factor files (JSONL of
	// als.FactorRow); nil when the run wrote none. Either requires ALS.
	ItemFactors *File `json:"item_factors,omitempty"`
	UserFactors *File `json:"user_factors,omitempty"`
	// ALS is the settings the factors were trained with: a fold-in solves
	// a new user's factor with the same rank, λ and α.
	ALS *als.Config `json:"als,omitempty"`
}

// File describes one published file.
type File struct {
	// Path is relative to the manifest's directory when the file is under
	// it, else absolute (a local path or a URL such as gs://...).
	Path string `json:"path"`
	// Size is the file's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the lower-case hex SHA-256 of the file's bytes.
	SHA256 string `json:"sha256"`
}

// ErrMismatch reports a file whose bytes are not those its manifest
// describes: it was replaced after (or not yet after) the manifest.
var ErrMismatch = errors.New("file does not match the manifest")

// Digest counts and hashes the bytes written to it.
type Digest struct {
	h hash.Hash
	n int64
}

// NewDigest returns an empty Digest.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

// Write adds p; it never fails.
func (d *Digest) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return d.h.Write(p)
}

// File describes the bytes written so far as the file at path.
func (d *Digest) File(path string) File {
	return File{Path: path, Size: d.n, SHA256: hex.EncodeToString(d.h.Sum(nil))}
}

// Describe reads r to its end and describes its bytes as the file at path.
func Describe(path string, r io.Reader) (File, error) {
	d := NewDigest()
	if _, err := io.Copy(d, r); err != nil {
		return File{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return d.File(path), nil
}

// Check compares the bytes read (got, whose Path names the file read) with
// those f describes; a difference is an error wrapping ErrMismatch that
// states both.
func (f File) Check(got File) error {
	switch {
	case got.Size != f.Size:
		return fmt.Errorf("%s: %w: %d bytes, the manifest says %d", got.Path, ErrMismatch, got.Size, f.Size)
	case got.SHA256 != f.SHA256:
		return fmt.Errorf("%s: %w: SHA-256 %s, the manifest says %s", got.Path, ErrMismatch, got.SHA256, f.SHA256)
	}
	return nil
}

// Marshal renders m as one line of JSON.
func (m Manifest) Marshal() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// Parse reads a manifest, refusing unknown fields and anything Marshal
// would not write.
func Parse(b []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Manifest{}, errors.New("manifest: data after the document")
	}
	if err := m.validate(); err != nil {
		return Manifest{}, err
	}
	if w := m.Window; w != nil {
		// One zone, so that a manifest reads back equal to what was written.
		m.Window = &Window{Start: w.Start.UTC(), End: w.End.UTC()}
	}
	return m, nil
}

func (m Manifest) validate() error {
	if m.Version == "" {
		return errors.New("manifest: no version")
	}
	if m.Similarity != nil {
		// Threshold 0: the manifest says nothing of sampling.
		if err := m.Similarity.Validate(0); err != nil {
			return fmt.Errorf("manifest: similarity: %v", err)
		}
	}
	if w := m.Window; w != nil && (w.End.IsZero() || !w.Start.IsZero() && !w.Start.Before(w.End)) {
		return fmt.Errorf("manifest: window [%s, %s) is empty or has no end", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
	}
	if m.ALS != nil {
		if err := m.ALS.Validate(); err != nil {
			return fmt.Errorf("manifest: als: %v", err)
		}
	} else if m.ItemFactors != nil || m.UserFactors != nil {
		return errors.New("manifest: factor files without als, the settings they were trained with")
	}
	files := []File{m.Similarities}
	for _, f := range []*File{m.Popular, m.Users, m.ItemFactors, m.UserFactors} {
		if f != nil {
			files = append(files, *f)
		}
	}
	paths := make(map[string]bool, len(files))
	for _, f := range files {
		if f.Path == "" {
			return errors.New("manifest: a file has no path")
		}
		if paths[f.Path] {
			return fmt.Errorf("manifest: %s is named for two files", f.Path)
		}
		paths[f.Path] = true
		if f.Size < 0 {
			return fmt.Errorf("manifest: %s: negative size %d", f.Path, f.Size)
		}
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size || strings.ToLower(f.SHA256) != f.SHA256 {
			return fmt.Errorf("manifest: %s: sha256 %q is not 64 lower-case hex digits", f.Path, f.SHA256)
		}
	}
	return nil
}

// Rel is the path the manifest at manifest records for the file at file:
// relative to the manifest's directory when the file is under it, else
// absolute. Local paths are made absolute first; URLs (scheme://) are
// compared as strings.
func Rel(manifest, file string) string {
	if !isURL(manifest) && !isURL(file) {
		m, err1 := filepath.Abs(manifest)
		f, err2 := filepath.Abs(file)
		if err1 != nil || err2 != nil {
			return file
		}
		if r, err := filepath.Rel(filepath.Dir(m), f); err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(r)
		}
		return f
	}
	if dir := manifest[:strings.LastIndex(manifest, "/")+1]; isURL(dir) && strings.HasPrefix(file, dir) {
		return file[len(dir):]
	}
	return file
}

// Resolve is the location of a file the manifest at manifest records as
// path: path itself when absolute, else path under the manifest's
// directory.
func Resolve(manifest, path string) string {
	if isURL(path) || filepath.IsAbs(path) {
		return path
	}
	if isURL(manifest) {
		return manifest[:strings.LastIndex(manifest, "/")+1] + path
	}
	return filepath.Join(filepath.Dir(manifest), filepath.FromSlash(path))
}

func isURL(p string) bool { return strings.Contains(p, "://") }
