package datastoreio

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/simstore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func init() {
	beam.RegisterType(reflect.TypeFor[record]())
	beam.RegisterType(reflect.TypeFor[tally]())
	register.Function1x1(itemRecord)
	register.Function1x1(userRecord)
	register.Function1x1(factorRecord)
	register.DoFn2x0[record, func(tally)](&countFn{})
	register.DoFn4x1[context.Context, []byte, func(*tally) bool, func(int64), error](&beginFn{})
	register.DoFn4x1[context.Context, record, int64, func(tally), error](&writeFn{})
	register.DoFn6x1[context.Context, []byte, func(*tally) bool, func(*tally) bool, func(*[]model.PopularItem) bool, func(int), error](&publishFn{})
	register.Emitter1[int64]()
	register.Emitter1[int]()
	register.Emitter1[tally]()
	register.Iter1[tally]()
	register.Iter1[[]model.PopularItem]()
}

// Write writes neighbors, a PCollection<model.Neighbors> with unique items,
// to Datastore as configured by cfg, and returns a PCollection<int> holding
// one element, the number of entities written. That element exists only
// once the write is complete and, in the versioned layout, the pointer is on
// the new version and versions beyond cfg.KeepVersions are deleted; a failed
// write fails the pipeline and leaves the pointer where it was.
//
// Steps, ordered by side inputs: the input is counted; the version's marker
// is written with that count and cfg.Similarity; the write (whose side input is the marker
// step's output, the run's start time) emits a count per bundle; the publish
// step, whose side inputs are both counts, runs after every bundle and flips
// the pointer only if every input element was written. Comparing with the
// separately counted input guards against runners that drop a failed
// bundle's output and still run later stages (Prism does).
//
// Write panics on an invalid cfg; call cfg.Validate first to report it.
func Write(s beam.Scope, cfg Config, neighbors beam.PCollection) beam.PCollection {
	return WriteWithPopular(s, cfg, neighbors, beam.PCollection{})
}

// WriteWithPopular is Write that also stores popular, a
// PCollection<[]model.PopularItem> of at most one element (popularity.Top's
// output), as the version's popular list (simstore.Popular). The list is
// written in the transaction that moves the pointer to the version, so
// readers never see the version without it or with another version's. The
// in-place layout has no versions and stores no list; a zero PCollection
// stores none either. Check the list's length with CheckPopularN.
func WriteWithPopular(s beam.Scope, cfg Config, neighbors, popular beam.PCollection) beam.PCollection {
	return WriteVersion(s, cfg, neighbors, Products{Popular: popular})
}

// Products are what a version holds beside its item lists, each a
// PCollection that is absent when zero.
type Products struct {
	// Popular is a PCollection<[]model.PopularItem> of at most one element,
	// the version's popular list (WriteWithPopular).
	Popular beam.PCollection
	// Users is a PCollection<model.UserList> with unique users: the
	// version's user lists (simstore.Keys.User), best first (sorted again
	// by model.Neighbor.Compare when written). Check their length with
	// CheckUserTopN.
	Users beam.PCollection
	// ItemFactors is a PCollection<als.FactorRow> with unique ids: every
	// item's factor (simstore.Keys.Factor), of Config.ALS's rank, finite.
	// It needs Config.ALS, which readers fold users in with.
	ItemFactors beam.PCollection
}

// WriteVersion is Write that also stores the products p in the version:
// the popular list as WriteWithPopular does, and the user lists and item
// factors under the version's marker, counted on it beside the items and
// written before the pointer moves, so that the pointer moves only once
// items, user lists and factors are all written, and readers see all of
// one version or all of the previous one. The returned element counts
// every entity written (items, user lists and factors). User lists and
// factors need the versioned layout; WriteVersion panics, as Write does,
// on an invalid cfg, on them in the in-place layout and on factors
// without cfg.ALS.
func WriteVersion(s beam.Scope, cfg Config, neighbors beam.PCollection, p Products) beam.PCollection {
	s = s.Scope("datastoreio.Write")
	cfg = cfg.withDefaults()
	if cfg.Layout == simstore.LayoutVersioned && cfg.Version == "" {
		cfg.Version = time.Now().UTC().Format("20060102T150405Z")
	}
	if err := errors.Join(cfg.Validate(), p.check(cfg)); err != nil {
		panic(err)
	}
	records := []beam.PCollection{beam.ParDo(s, itemRecord, neighbors)}
	if p.Users.IsValid() {
		records = append(records, beam.ParDo(s, userRecord, p.Users))
	}
	if p.ItemFactors.IsValid() {
		records = append(records, beam.ParDo(s, factorRecord, p.ItemFactors))
	}
	all := beam.Flatten(s, records...)
	inputs := beam.ParDo(s, &countFn{}, all)
	start := beam.ParDo(s, &beginFn{Cfg: cfg}, beam.Impulse(s), beam.SideInput{Input: inputs})
	written := beam.ParDo(s, &writeFn{Cfg: cfg}, all, beam.SideInput{Input: start})
	popular := p.Popular
	if !popular.IsValid() {
		popular = beam.CreateList(s, [][]model.PopularItem{})
	}
	return beam.ParDo(s, &publishFn{Cfg: cfg}, beam.Impulse(s), beam.SideInput{Input: inputs}, beam.SideInput{Input: written}, beam.SideInput{Input: popular})
}

// check reports products cfg cannot store.
func (p Products) check(cfg Config) error {
	var errs []error
	if !cfg.versioned() && (p.Users.IsValid() || p.ItemFactors.IsValid()) {
		errs = append(errs, fmt.Errorf("datastoreio: user lists and item factors need the %s layout", simstore.LayoutVersioned))
	}
	if p.ItemFactors.IsValid() && cfg.ALS == nil {
		errs = append(errs, errors.New("datastoreio: item factors need the ALS settings (Config.ALS) readers fold users in with"))
	}
	return errors.Join(errs...)
}

// metricRefused counts versions not published because the live one's
// window ends later (publish.StaleError).
const metricRefused = "publish_refused"

// counters are the Beam counters of the metric names.
var counters = map[string]beam.Counter{}

func init() {
	for _, name := range []string{metricWritten, metricUsersWritten, metricFactorsWritten, metricDeleted, metricCommits, metricRetries, metricThrottledMs, metricRefused} {
		counters[name] = beam.NewCounter("datastoreio", name)
	}
}

type beamMetrics struct{}

func (beamMetrics) Inc(ctx context.Context, name string, n int64) { counters[name].Inc(ctx, n) }

// newClient opens a client for cfg: on cfg.Endpoint without credentials if
// set, else as the library decides (DATASTORE_EMULATOR_HOST, then
// production with default credentials).
func newClient(ctx context.Context, cfg Config) (*datastore.Client, error) {
	var opts []option.ClientOption
	if cfg.Endpoint != "" {
		opts = append(opts,
			option.WithEndpoint("passthrough:///"+cfg.Endpoint),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	c, err := datastore.NewClientWithDatabase(ctx, cfg.Project, cfg.Database, opts...)
	if err != nil {
		return nil, fmt.Errorf("datastoreio: opening client: %w", err)
	}
	return c, nil
}

func (c Config) keys() simstore.Keys { return simstore.Keys{Namespace: c.Namespace, Kind: c.Kind} }

func (c Config) versioned() bool { return c.Layout == simstore.LayoutVersioned }

// itemVersion is the version items are written under; "" in place.
func (c Config) itemVersion() string {
	if c.versioned() {
		return c.Version
	}
	return ""
}

func (c Config) versions(client *datastore.Client) *versions {
	return &versions{client: client, keys: c.keys(), clk: realClock{}, retry: c.Retry, jitter: rand.Float64, metrics: beamMetrics{}}
}

// countFn counts records per bundle, by kind.
type countFn struct {
	n tally
}

func (f *countFn) StartBundle(func(tally)) { f.n = tally{} }

func (f *countFn) ProcessElement(r record, _ func(tally)) { f.n.add(r.Kind, 1) }

func (f *countFn) FinishBundle(emit func(tally)) {
	if f.n.total() > 0 {
		emit(f.n)
	}
}

// rank is the length item factors must have: that of cfg.ALS.
func (c Config) rank() int {
	if c.ALS == nil {
		return 0
	}
	return c.ALS.Rank
}

// beginFn records the version about to be written with its expected
// counts and emits the run's start time in Unix microseconds (Datastore's
// time precision): the updated_at of every entity and the start of the
// ramp-up budget.
type beginFn struct {
	Cfg    Config
	client *datastore.Client
}

func (f *beginFn) Setup(ctx context.Context) (err error) {
	if f.Cfg.versioned() {
		f.client, err = newClient(ctx, f.Cfg)
	}
	return err
}

func (f *beginFn) Teardown() error {
	if f.client == nil {
		return nil
	}
	return f.client.Close()
}

func (f *beginFn) ProcessElement(ctx context.Context, _ []byte, inputs func(*tally) bool, emit func(int64)) error {
	start := time.Now().Truncate(time.Microsecond)
	if f.Cfg.versioned() {
		if err := f.Cfg.versions(f.client).begin(ctx, f.Cfg.Version, sum(inputs), start, f.Cfg.Similarity, f.Cfg.ALS, f.Cfg.window(start)); err != nil {
			return err
		}
	}
	emit(start.UnixMicro())
	return nil
}

// writeFn upserts one entity per record in adaptive batches, flushes the
// rest at the end of the bundle and emits the bundle's count of entities,
// by kind.
type writeFn struct {
	Cfg Config

	client *datastore.Client
	clk    clock
	w      *writer
	ramp   *rampUp
	// bundleStart is w.written when the bundle started.
	bundleStart tally
}

func (f *writeFn) Setup(ctx context.Context) (err error) {
	f.client, err = newClient(ctx, f.Cfg)
	if err != nil {
		return err
	}
	f.clk = realClock{}
	f.w = newWriter(f.client, f.clk, f.Cfg.Retry, rand.Float64, beamMetrics{})
	return nil
}

func (f *writeFn) Teardown() error { return f.client.Close() }

// StartBundle drops what a failed bundle may have left pending.
func (f *writeFn) StartBundle(_ context.Context, start int64, _ func(tally)) {
	f.w.reset()
	f.bundleStart = f.w.written
	if f.Cfg.RampUp && f.ramp == nil {
		f.ramp = &rampUp{start: time.UnixMicro(start), workers: f.Cfg.Workers}
	}
}

func (f *writeFn) ProcessElement(ctx context.Context, r record, start int64, _ func(tally)) error {
	return f.recordFailure(ctx, f.process(ctx, r, start))
}

func (f *writeFn) process(ctx context.Context, r record, start int64) error {
	if f.ramp != nil {
		waited, err := f.ramp.acquire(ctx, f.clk)
		if waited > 0 {
			beamMetrics{}.Inc(ctx, metricThrottledMs, waited.Milliseconds())
		}
		if err != nil {
			return err
		}
	}
	o, err := recordOp(f.Cfg.keys(), f.Cfg.itemVersion(), r, f.Cfg.rank(), time.UnixMicro(start))
	if err != nil {
		return err
	}
	return f.w.add(ctx, o)
}

func (f *writeFn) FinishBundle(ctx context.Context, _ int64, emit func(tally)) error {
	if err := f.w.flush(ctx); err != nil {
		return f.recordFailure(ctx, err)
	}
	if n := f.w.written.minus(f.bundleStart); n.total() > 0 {
		emit(n)
	}
	return nil
}

// recordFailure notes a permanent error on the version marker, where the
// publish step finds it whichever step's failure the runner reports.
func (f *writeFn) recordFailure(ctx context.Context, err error) error {
	if err != nil && !retryable(err) && f.Cfg.versioned() {
		f.Cfg.versions(f.client).fail(ctx, f.Cfg.Version, err)
	}
	return err
}

// publishFn publishes the version once every bundle's count is in and
// they add up to the input's, deletes versions no longer kept, and emits
// the total. A version whose window ends before the live one's is not
// published but deleted, counted as publish_refused; it emits 0.
type publishFn struct {
	Cfg    Config
	client *datastore.Client
}

func (f *publishFn) Setup(ctx context.Context) (err error) {
	if f.Cfg.versioned() {
		f.client, err = newClient(ctx, f.Cfg)
	}
	return err
}

func (f *publishFn) Teardown() error {
	if f.client == nil {
		return nil
	}
	return f.client.Close()
}

func (f *publishFn) ProcessElement(ctx context.Context, _ []byte, inputs, written func(*tally) bool, popular func(*[]model.PopularItem) bool, emit func(int)) error {
	want, total := sum(inputs), sum(written)
	if !f.Cfg.versioned() {
		// In place, only items are written (Products.check).
		if total != want {
			return fmt.Errorf("datastoreio: %d of %d items written, so a write bundle failed", total.Items, want.Items)
		}
		emit(total.total())
		return nil
	}
	now := time.Now()
	pop, err := popularEntity(f.Cfg.keys(), f.Cfg.Version, popular, now)
	if err != nil {
		return err
	}
	vs := f.Cfg.versions(f.client)
	prev, err := vs.publish(ctx, f.Cfg.Version, total, pop, now)
	if publish.IsStale(err) {
		// Another run published a newer model meanwhile: this version will
		// never be live, so it goes now rather than at a later run.
		counters[metricRefused].Inc(ctx, 1)
		log.Warnf(ctx, "datastoreio: %v", err)
		w := newWriter(f.client, vs.clk, f.Cfg.Retry, rand.Float64, beamMetrics{})
		if derr := vs.deleteVersion(ctx, w, f.Cfg.Version); derr != nil {
			return fmt.Errorf("datastoreio: %v; deleting the refused version failed: %w", err, derr)
		}
		emit(0)
		return nil
	}
	if err != nil {
		return err
	}
	log.Infof(ctx, "datastoreio: published version %q (%s), replacing %q", f.Cfg.Version, total, prev)
	w := newWriter(f.client, vs.clk, f.Cfg.Retry, rand.Float64, beamMetrics{})
	deleted, err := vs.collect(ctx, w, f.Cfg.Version, f.Cfg.KeepVersions)
	if err != nil {
		return fmt.Errorf("datastoreio: version %q is live but deleting old versions failed: %w", f.Cfg.Version, err)
	}
	if len(deleted) > 0 {
		log.Infof(ctx, "datastoreio: deleted versions %q", deleted)
	}
	emit(total.total())
	return nil
}

// popularEntity builds version v's popular list from the side input's one
// element, or returns nil when it has none.
func popularEntity(keys simstore.Keys, v string, popular func(*[]model.PopularItem) bool, updated time.Time) (*simstore.Popular, error) {
	var lists [][]model.PopularItem
	for items := []model.PopularItem(nil); popular(&items); {
		lists = append(lists, items)
	}
	switch len(lists) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, fmt.Errorf("datastoreio: %d popular lists for version %q, want at most one", len(lists), v)
	}
	p := &simstore.Popular{Items: make([]string, len(lists[0])), Users: make([]int64, len(lists[0])), Version: v, UpdatedAt: updated.Truncate(time.Microsecond)}
	for i, it := range lists[0] {
		p.Items[i], p.Users[i] = it.Item, it.Users
	}
	// The same bound as an item entity's: ids, one number each, the version.
	if size := entityBytes(keys.Popular(v), &simstore.Entity{Items: p.Items, Scores: make([]float64, len(p.Items)), Version: v}); size > maxEntityBytes {
		return nil, fmt.Errorf("datastoreio: the popular list of %d items is about %d bytes, over Datastore's %d-byte entity limit; lower --popular_n", len(p.Items), size, maxEntityBytes)
	}
	return p, nil
}
