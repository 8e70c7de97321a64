// Package simstore defines the Datastore layout of the item-similarity model
// and reads it: it resolves the version pointer and looks up the neighbour
// lists of one or many items, and the ALS job's user lists, always from one
// complete version, and reads a version's user lists and item factors.
//
// Versioned layout (the default), with K the configured kind (default
// "ItemSimilarity") and all keys in the configured namespace:
//
//	K+"Version"/"current"          pointer: {version, updated_at}
//	K+"Version"/V                  version marker: {state, created_at, completed_at, expected, items, error, similarity, window_start, window_end}
//	K+"Version"/V / K/item         one item of version V: {items, scores, version, updated_at}
//	K+"Version"/V / K+"Popular"/"popular"
//	                               V's most popular items: {items, users, version, updated_at}
//	K+"Version"/V / K+"User"/user  one user's recommendations in V (the ALS job's): {items, scores, version, updated_at}
//	K+"Version"/V / K+"Factor"/item
//	                               one item's ALS factor in V: {factor, version, updated_at}
//
// Items are children of their version's marker key, so a version is one key
// range: it can be written beside the live one and deleted by an ancestor
// query. The pointer names the live version and only ever moves to a version
// whose every item is written. A version's popular list (the serving
// fallback) is written in the transaction that moves the pointer to it, so
// a reader that follows the pointer finds the similarities and the popular
// list of one run; versions written before popular lists were stored have
// none. The marker records the similarity measure the version's scores
// were computed with, which bounds them (model.Similarity.MaxScore);
// versions written before measures record none and are cosine.
//
// A version written by the ALS job also holds a list per user and every
// item's factor, for serving user lists and folding new users in, and its
// marker records their counts and the ALS settings (als). They are written
// before the pointer moves, as items are, so a reader that follows the
// pointer finds the item lists, user lists and factors of one run.
// Versions written by the similarity job have none of them.
//
// The in-place layout has no versions, no pointer, no popular list and no
// user lists or factors: items are K/item at the root.
package simstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
)

// Layout names.
const (
	// LayoutVersioned writes each run as a new version under a pointer.
	LayoutVersioned = "versioned"
	// LayoutInPlace overwrites K/item at the root (the seed system's layout).
	LayoutInPlace = "inplace"
)

// MaxKeyNameBytes is Datastore's limit on a key name, hence on an item id.
const MaxKeyNameBytes = 1500

// ReservedKeyName reports whether Datastore reserves a key name (__.*__).
func ReservedKeyName(name string) bool {
	return len(name) >= 4 && strings.HasPrefix(name, "__") && strings.HasSuffix(name, "__")
}

// DefaultKind is the kind of item entities when none is configured.
const DefaultKind = "ItemSimilarity"

// CurrentName is the key name of the pointer entity; it cannot be a version.
const CurrentName = "current"

// Version marker states.
const (
	// StateWriting marks a version whose items are being written.
	StateWriting = "writing"
	// StateComplete marks a version whose every item is written.
	StateComplete = "complete"
)

// Keys builds the keys of the layout for one namespace and kind.
type Keys struct {
	Namespace string
	Kind      string
}

// VersionKind is the kind of the pointer and the version markers.
func (k Keys) VersionKind() string { return k.Kind + "Version" }

// Pointer is the key of the entity naming the live version.
func (k Keys) Pointer() *datastore.Key {
	return k.root(k.VersionKind(), CurrentName)
}

// Version is the key of version v's marker, the parent of its items.
func (k Keys) Version(v string) *datastore.Key {
	return k.root(k.VersionKind(), v)
}

// PopularName is the key name of a version's popular list.
const PopularName = "popular"

// PopularKind is the kind of the versions' popular lists.
func (k Keys) PopularKind() string { return k.Kind + "Popular" }

// Popular is the key of version v's popular list, a child of its marker.
func (k Keys) Popular(v string) *datastore.Key {
	key := datastore.NameKey(k.PopularKind(), PopularName, k.Version(v))
	key.Namespace = k.Namespace
	return key
}

// Item is the key of item in version v, or of the in-place item when v is "".
func (k Keys) Item(v, item string) *datastore.Key {
	if v == "" {
		return k.root(k.Kind, item)
	}
	key := datastore.NameKey(k.Kind, item, k.Version(v))
	key.Namespace = k.Namespace
	return key
}

// UserKind is the kind of the versions' user lists.
func (k Keys) UserKind() string { return k.Kind + "User" }

// User is the key of user's list in version v, a child of its marker.
// User lists exist in versions only: v must not be "".
func (k Keys) User(v, user string) *datastore.Key { return k.child(k.UserKind(), v, user) }

// FactorKind is the kind of the versions' item factors.
func (k Keys) FactorKind() string { return k.Kind + "Factor" }

// RecentKind is the kind of the users' recent items in the live layout.
func (k Keys) RecentKind() string { return k.Kind + "Recent" }

// Recents are the keys of the live layout's users' recent items: kind
// RecentKind, a user's entity named by the user as an item's list is by
// the item (Item), in the same shape.
func (k Keys) Recents() Keys { return Keys{Namespace: k.Namespace, Kind: k.RecentKind()} }

// Factor is the key of item's factor in version v, a child of its marker.
// Factors exist in versions only: v must not be "".
func (k Keys) Factor(v, item string) *datastore.Key { return k.child(k.FactorKind(), v, item) }

func (k Keys) child(kind, v, name string) *datastore.Key {
	key := datastore.NameKey(kind, name, k.Version(v))
	key.Namespace = k.Namespace
	return key
}

func (k Keys) root(kind, name string) *datastore.Key {
	key := datastore.NameKey(kind, name, nil)
	key.Namespace = k.Namespace
	return key
}

// Entity is one item's stored neighbour list, or one user's recommended
// items (Keys.User). Items and Scores are aligned and sorted by score
// descending (ties by item ascending). No property is indexed: readers use
// key lookups and ancestor queries only, and unindexed lists keep an entity
// at a fixed number of index entries whatever its length.
type Entity struct {
	Items     []string  `datastore:"items,noindex"`
	Scores    []float64 `datastore:"scores,noindex"`
	Version   string    `datastore:"version,noindex"`
	UpdatedAt time.Time `datastore:"updated_at,noindex"`
}

// Factor is one item's ALS factor in a version: Rank numbers (the marker's
// ALS settings). Unindexed, as Entity.
type Factor struct {
	Factor    []float64 `datastore:"factor,noindex"`
	Version   string    `datastore:"version,noindex"`
	UpdatedAt time.Time `datastore:"updated_at,noindex"`
}

// Popular is a version's most popular items, most popular first: Items and
// Users (each item's number of users) are aligned. Unindexed, as Entity.
type Popular struct {
	Items     []string  `datastore:"items,noindex"`
	Users     []int64   `datastore:"users,noindex"`
	Version   string    `datastore:"version,noindex"`
	UpdatedAt time.Time `datastore:"updated_at,noindex"`
}

// Pointer is the entity naming the live version.
type Pointer struct {
	Version   string    `datastore:"version,noindex"`
	UpdatedAt time.Time `datastore:"updated_at,noindex"`
}

// VersionInfo is a version marker. It is written before any item of the
// version, so every stored version can be found and deleted, including those
// of failed runs.
type VersionInfo struct {
	State       string    `datastore:"state,noindex"`
	CreatedAt   time.Time `datastore:"created_at,noindex"`
	CompletedAt time.Time `datastore:"completed_at,noindex"`
	// Expected is the number of items the run set out to write.
	Expected int64 `datastore:"expected,noindex"`
	// Items is the number of items written, set on completion.
	Items int64 `datastore:"items,noindex"`
	// ExpectedUsers and ExpectedFactors are the numbers of user lists and
	// item factors the run set out to write; Users and Factors those
	// written, set on completion. Versions without user lists or factors
	// store no such properties (zero).
	ExpectedUsers   int64 `datastore:"expected_users,noindex,omitempty"`
	Users           int64 `datastore:"users,noindex,omitempty"`
	ExpectedFactors int64 `datastore:"expected_factors,noindex,omitempty"`
	Factors         int64 `datastore:"factors,noindex,omitempty"`
	// ALS is the JSON of the als.Config the version's user lists and
	// factors were trained with (SetALS, ParseALS); "" (no property) for
	// versions the ALS job did not write.
	ALS string `datastore:"als,noindex,omitempty"`
	// Error is the first permanent write error of the run, if any.
	Error string `datastore:"error,noindex"`
	// Similarity is the JSON of the model.Similarity the version was
	// scored by (SetSimilarity, ParseSimilarity); "" (stored as no property)
	// records none: cosine.
	Similarity string `datastore:"similarity,noindex,omitempty"`
	// WindowStart and WindowEnd are the span of event time the version was
	// computed from (publish.Window). WindowEnd orders versions: the
	// pointer never moves to a version whose window ends before the live
	// one's. Versions written before windows have none (zero), which
	// orders before any.
	WindowStart time.Time `datastore:"window_start,noindex,omitempty"`
	WindowEnd   time.Time `datastore:"window_end,noindex,omitempty"`
}

// SetSimilarity records s in v.Similarity; nil records none. A measure
// that is not a valid one is an error.
func (v *VersionInfo) SetSimilarity(s *model.Similarity) error {
	if s == nil {
		v.Similarity = ""
		return nil
	}
	if err := s.Validate(0); err != nil {
		return fmt.Errorf("simstore: similarity: %w", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("simstore: similarity: %w", err)
	}
	v.Similarity = string(b)
	return nil
}

// ParseSimilarity reads v.Similarity: nil when none is recorded, an error
// when it is not a valid measure.
func (v VersionInfo) ParseSimilarity() (*model.Similarity, error) {
	if v.Similarity == "" {
		return nil, nil
	}
	var s model.Similarity
	if err := decodeStrict(v.Similarity, &s); err != nil {
		return nil, fmt.Errorf("simstore: similarity %q: %w", v.Similarity, err)
	}
	if err := s.Validate(0); err != nil {
		return nil, fmt.Errorf("simstore: similarity %q: %w", v.Similarity, err)
	}
	return &s, nil
}

// SetALS records c in v.ALS; nil records none. Settings no factorisation
// runs with are an error.
func (v *VersionInfo) SetALS(c *als.Config) error {
	if c == nil {
		v.ALS = ""
		return nil
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("simstore: als: %w", err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("simstore: als: %w", err)
	}
	v.ALS = string(b)
	return nil
}

// ParseALS reads v.ALS: nil when none is recorded, an error when it is not
// a valid als.Config.
func (v VersionInfo) ParseALS() (*als.Config, error) {
	if v.ALS == "" {
		return nil, nil
	}
	var c als.Config
	if err := decodeStrict(v.ALS, &c); err != nil {
		return nil, fmt.Errorf("simstore: als %q: %w", v.ALS, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("simstore: als %q: %w", v.ALS, err)
	}
	return &c, nil
}

// decodeStrict decodes the one JSON document doc into dst, refusing
// unknown fields and trailing data: a marker names settings exactly.
func decodeStrict(doc string, dst any) error {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the document")
	}
	return nil
}
