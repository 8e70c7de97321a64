// Package datastoreio writes the pipeline's neighbour lists to Cloud
// Datastore (Firestore in Datastore mode), one entity per item, modelled on
// the Java SDK's DatastoreV1.Write: upserts in non-transactional commits of
// at most 500 mutations and 9 MB, a batch size adapted to commit latency,
// retries with exponential backoff for transient errors, client-side
// adaptive throttling and an optional ramp-up budget for fresh databases.
//
// In the versioned layout (see package simstore for the keys) a run writes a
// new version beside the live one and, only once every item (and, for the
// ALS job, every user list and item factor: WriteVersion) is written, flips
// the pointer to it in one transaction and deletes versions beyond
// Config.KeepVersions, so readers never see a half-written model.
//
// The logic lives in plain Go types tested without Beam; the DoFns in
// write.go only wire it to bundles.
package datastoreio

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/simstore"
)

// Datastore limits and the Java writer's batching constants.
const (
	// maxBatchMutations is Datastore's limit of mutations per Commit.
	maxBatchMutations = 500
	// maxBatchBytes is the request size a batch stays under (Datastore's
	// limit is 10 MiB; the margin absorbs request framing).
	maxBatchBytes = 9_000_000
	// maxEntityBytes is Datastore's entity size limit.
	maxEntityBytes = 1 << 20
	// maxKeyNameBytes is Datastore's key name limit, hence the longest
	// item id and the size CheckTopN assumes for every neighbour id.
	maxKeyNameBytes = simstore.MaxKeyNameBytes
)

// Config configures Write. Zero fields take the documented defaults.
type Config struct {
	// Project is the Google Cloud project; required.
	Project string
	// Database is the named database; "" is the default database.
	Database string
	// Namespace is the Datastore namespace; "" is the default namespace.
	Namespace string
	// Kind is the item kind; default simstore.DefaultKind. The pointer and
	// version markers use Kind+"Version".
	Kind string
	// Layout is simstore.LayoutVersioned (default) or simstore.LayoutInPlace
	// for Write; WriteLive writes simstore.LayoutLive.
	Layout string
	// Version is the run id naming the version written. The pipeline passes
	// one (e.g. a UTC timestamp); if empty, Write uses the construction
	// time as 20060102T150405Z. Unused by the in-place layout.
	Version string
	// KeepVersions is how many complete versions survive a run, the new one
	// included; default 2, so readers holding the previous pointer still
	// find their version.
	KeepVersions int
	// RampUp limits writes to 500 entities/s shared by Workers, growing 1.5x
	// every 5 minutes, so a fresh database can split its key ranges.
	RampUp bool
	// Workers is the number of workers sharing the ramp-up budget; default 1.
	Workers int
	// LiveTolerance is WriteLive's: an item's list is written only when
	// its items or their order changed, or a score moved by more than
	// this, relative (simstore.Near); 0 (the default) writes every change.
	LiveTolerance float64
	// Endpoint, if set, is the host:port of an unauthenticated plaintext
	// Datastore server (a test server or an emulator). Otherwise the client
	// honours DATASTORE_EMULATOR_HOST, then production.
	Endpoint string
	// Similarity is the measure the neighbour lists were scored by, recorded
	// on the version's marker for readers, whose bound on scores it sets
	// (simstore.VersionInfo.Similarity); nil records none, which readers
	// take for cosine. Unused by the in-place layout.
	Similarity *model.Similarity
	// ALS is the settings the ALS job trained the version's user lists and
	// item factors with (WriteVersion), recorded on the version's marker
	// for readers that fold new users in (simstore.VersionInfo.ALS); nil
	// records none. Item factors must be of its rank. The in-place layout
	// cannot record it.
	ALS *als.Config
	// Window is the span of event time the neighbour lists were computed
	// from, recorded on the version's marker. Its End orders versions: the
	// pointer never moves to a version whose window ends before the live
	// one's (publish.CheckOrder); such a version is deleted and counted
	// (publish_refused). Zero: the run's start time. Unused in place.
	Window publish.Window
	// Retry tunes retries and throttling.
	Retry Retry
}

// Retry tunes retries of transient errors and throttling delays.
type Retry struct {
	// MaxAttempts bounds attempts per commit; default 8.
	MaxAttempts int
	// InitialBackoff is the delay before the first retry, doubling up to
	// MaxBackoff; defaults 1s and 60s. Each delay is jittered down to half.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// ThrottleDelay is the wait when the adaptive throttler rejects a commit;
	// default 6s, the target batch latency, as in the Java writer.
	ThrottleDelay time.Duration
}

// withDefaults returns c with zero fields defaulted.
func (c Config) withDefaults() Config {
	if c.Kind == "" {
		c.Kind = simstore.DefaultKind
	}
	if c.Layout == "" {
		c.Layout = simstore.LayoutVersioned
	}
	if c.KeepVersions == 0 {
		c.KeepVersions = 2
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = 8
	}
	if c.Retry.InitialBackoff == 0 {
		c.Retry.InitialBackoff = time.Second
	}
	if c.Retry.MaxBackoff == 0 {
		c.Retry.MaxBackoff = time.Minute
	}
	if c.Retry.ThrottleDelay == 0 {
		c.Retry.ThrottleDelay = targetBatchLatency
	}
	return c
}

// Validate reports configuration errors, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Project == "" {
		errs = append(errs, errors.New("project is required"))
	}
	if c.Layout != simstore.LayoutVersioned && c.Layout != simstore.LayoutInPlace && c.Layout != simstore.LayoutLive {
		errs = append(errs, fmt.Errorf("layout %q is none of %q, %q and %q", c.Layout, simstore.LayoutVersioned, simstore.LayoutInPlace, simstore.LayoutLive))
	}
	if c.Layout == simstore.LayoutVersioned && c.Version != "" {
		if err := validKeyName(c.Version); err != nil || c.Version == simstore.CurrentName {
			errs = append(errs, fmt.Errorf("version %q cannot be a key name (empty, %q, __reserved__ or over %d bytes)", c.Version, simstore.CurrentName, maxKeyNameBytes))
		}
	}
	if strings.HasPrefix(c.Kind, "__") {
		errs = append(errs, fmt.Errorf("kind %q is reserved", c.Kind))
	}
	if c.KeepVersions < 1 {
		errs = append(errs, fmt.Errorf("keep versions is %d, want at least 1", c.KeepVersions))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers is %d, want at least 1", c.Workers))
	}
	if !(c.LiveTolerance >= 0 && c.LiveTolerance < 1) {
		errs = append(errs, fmt.Errorf("live tolerance is %v, want a fraction in [0, 1) (0: every change written)", c.LiveTolerance))
	}
	if c.Similarity != nil {
		if err := c.Similarity.Validate(0); err != nil {
			errs = append(errs, fmt.Errorf("similarity: %w", err))
		}
	}
	if c.ALS != nil {
		if err := c.ALS.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("als: %w", err))
		}
		if c.Layout != simstore.LayoutVersioned {
			errs = append(errs, fmt.Errorf("als settings, user lists and factors need the %s layout", simstore.LayoutVersioned))
		}
	}
	r := c.Retry
	if r.MaxAttempts < 1 || r.InitialBackoff < 0 || r.MaxBackoff < r.InitialBackoff || r.ThrottleDelay < 0 {
		errs = append(errs, fmt.Errorf("invalid retry settings %+v", r))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("datastoreio: %w", err)
	}
	return nil
}

// window is the window recorded for a run that started at start: c.Window,
// ending at start when it has no end.
func (c Config) window(start time.Time) publish.Window {
	w := c.Window
	if w.End.IsZero() {
		w.End = start
	}
	return w
}

// Live describes the sink c writes for a run of version c.Version before it
// runs (publish.Preflight): the live version, where its window ends, and
// whether c.Version is already complete. The in-place layout has no
// versions: it describes an empty sink.
func Live(ctx context.Context, c Config) (publish.Sink, error) {
	c = c.withDefaults()
	if !c.versioned() {
		return publish.Sink{Name: "datastore (in place)"}, nil
	}
	client, err := newClient(ctx, c)
	if err != nil {
		return publish.Sink{}, err
	}
	defer client.Close()
	return c.versions(client).live(ctx, c.Version)
}

// validKeyName checks what Datastore requires of a key name.
func validKeyName(name string) error {
	switch {
	case name == "":
		return errors.New("empty key name")
	case len(name) > maxKeyNameBytes:
		return fmt.Errorf("key name of %d bytes exceeds %d", len(name), maxKeyNameBytes)
	case simstore.ReservedKeyName(name):
		return errors.New("key names matching __.*__ are reserved")
	}
	return nil
}

// CheckTopN reports whether entities of topN neighbours stay under
// Datastore's limits whatever the item ids, assuming every id, the item's
// own and its neighbours', is as long as a key name may be (1,500 bytes).
// The size bound is about 680 neighbours; index entries do not grow with
// topN because no property is indexed.
func CheckTopN(topN int) error {
	keys, id := worstKeys()
	return checkListLen("top_n", "entities", topN, keys.Item(id, id))
}

// CheckPopularN reports whether a popular list of n items (WriteWithPopular)
// stays under Datastore's entity size limit whatever the item ids: it is
// laid out as an item entity of n neighbours, so the bound is CheckTopN's.
func CheckPopularN(n int) error {
	keys, id := worstKeys()
	return checkListLen("popular_n", "a popular list", n, keys.Popular(id))
}

// CheckUserTopN reports whether user lists of n items (WriteVersion) stay
// under Datastore's entity size limit whatever the user and item ids: a
// user list is laid out as an item entity, so the bound is CheckTopN's.
func CheckUserTopN(n int) error {
	keys, id := worstKeys()
	return checkListLen("user_top_n", "user lists", n, keys.User(id, id))
}

// CheckRecentN reports whether the live layout's users' recent items, n
// of them (WriteLive), stay under Datastore's entity size limit whatever
// the user and item ids: they are laid out as an item's list.
func CheckRecentN(n int) error {
	keys, id := worstKeys()
	return checkListLen("recent_n", "users' recent items", n, keys.Recents().Item("", id))
}

// worstKeys are the layout's keys with the longest kind and namespace, and
// the longest id: the kind, namespace and version are bounded by key name
// length too.
func worstKeys() (simstore.Keys, string) {
	id := strings.Repeat("x", maxKeyNameBytes)
	return simstore.Keys{Namespace: id, Kind: id}, id
}

// checkListLen reports whether lists of n longest ids, stored at key,
// stay under Datastore's entity limit; flag and what name them in errors.
func checkListLen(flag, what string, n int, key *datastore.Key) error {
	if n < 1 {
		return fmt.Errorf("datastoreio: %s is %d, want at least 1", flag, n)
	}
	if size := worstEntityBytes(key, n); size > maxEntityBytes {
		return fmt.Errorf("datastoreio: %s %d gives %s of up to %d bytes with %d-byte ids, over Datastore's %d-byte limit; the most that fits is %d",
			flag, n, what, size, maxKeyNameBytes, maxEntityBytes, maxListLen(key))
	}
	return nil
}

// maxTopN is the largest top_n CheckTopN accepts.
func maxTopN() int {
	keys, id := worstKeys()
	return maxListLen(keys.Item(id, id))
}

// maxListLen is the longest list of longest ids that fits at key.
func maxListLen(key *datastore.Key) int {
	n := 1
	for worstEntityBytes(key, n+1) <= maxEntityBytes {
		n++
	}
	return n
}

// worstEntityBytes bounds the size of a list of n longest ids at key.
func worstEntityBytes(key *datastore.Key, n int) int {
	id := strings.Repeat("x", maxKeyNameBytes)
	items := make([]string, n)
	for i := range items {
		items[i] = id
	}
	return entityBytes(key, &simstore.Entity{Items: items, Scores: make([]float64, n), Version: id})
}
