package bigqueryio

import (
	"context"
	"fmt"
	"time"

	storage "cloud.google.com/go/bigquery/storage/apiv1"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/transforms/interactions"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func init() {
	register.DoFn5x1[context.Context, string, func(interactions.Batch), func(interactions.DeadLetter), func(interactions.Stats), error](&readFn{})
	register.Emitter1[interactions.Batch]()
	register.Emitter1[interactions.DeadLetter]()
	register.Emitter1[interactions.Stats]()
}

// Options configures a read. The zero value reads through Google's
// endpoints with application default credentials.
type Options struct {
	// BillingProject is billed for the read session (and the query job);
	// empty means the table's project. ReadQuery requires it.
	BillingProject string
	// Endpoint overrides the REST endpoint (query jobs), e.g.
	// https://bigquery-example.p.googleapis.com or a local test server.
	Endpoint string
	// StorageEndpoint overrides the Storage Read API's gRPC endpoint,
	// host:port. A loopback host is dialled in plain text without auth.
	StorageEndpoint string
	// MaxStreams caps the session's streams; 0 lets the service decide.
	MaxStreams int
	// RowFilter is pushed down as the session's row restriction, a SQL
	// predicate such as "event_date >= '2024-01-01'".
	RowFilter string
	// Since and Until fill ReadQuery's @since and @until TIMESTAMP
	// parameters, in unix seconds; 0 is unset.
	Since, Until int64
	// MaxRetries bounds the attempts in a row to resume a broken stream
	// without reading a row (default 8); RetryBackoff is the first wait
	// between them (default 250ms), doubled each time up to 30s.
	MaxRetries   int
	RetryBackoff time.Duration
}

// Read reads the table named by input, bq://PROJECT.DATASET.TABLE, under
// the spec: one event per usable row, bad rows to Result.Dead and to the
// counters interactions/bad_<reason>, as interactions.Read does for files.
// It creates the read session now, so a missing table, a denied permission
// or a column of the wrong type fails here with what to fix.
func Read(s beam.Scope, input string, spec interactions.Spec, opts Options) (interactions.Result, error) {
	t, err := ParseTable(input)
	if err != nil {
		return interactions.Result{}, fmt.Errorf("--input: %v", err)
	}
	if opts.BillingProject == "" {
		opts.BillingProject = t.Project
	}
	return readTable(s.Scope("bigqueryio.Read"), t, spec, opts, true)
}

// readTable creates a session on t (as of now if snapshot) and adds the
// parallel read of its streams to the pipeline.
func readTable(s beam.Scope, t Table, spec interactions.Spec, opts Options, snapshot bool) (interactions.Result, error) {
	if _, err := interactions.NewFieldParser(spec); err != nil {
		return interactions.Result{}, err
	}
	ctx := context.Background()
	session, err := createSession(ctx, t, selectedFields(spec), opts, snapshot)
	if err != nil {
		return interactions.Result{}, err
	}
	schema := session.GetArrowSchema().GetSerializedSchema()
	if _, err := newDecoder(schema, spec, t.String()); err != nil {
		return interactions.Result{}, err
	}
	names := make([]string, len(session.GetStreams()))
	for i, st := range session.GetStreams() {
		names[i] = st.GetName()
	}
	fn := &readFn{
		Source:          t.String(),
		BillingProject:  opts.BillingProject,
		Schema:          schema,
		Spec:            spec,
		StorageEndpoint: opts.StorageEndpoint,
		MaxRetries:      opts.MaxRetries,
		RetryBackoff:    opts.RetryBackoff,
	}
	if fn.MaxRetries <= 0 {
		fn.MaxRetries = 8
	}
	if fn.RetryBackoff <= 0 {
		fn.RetryBackoff = 250 * time.Millisecond
	}
	// Reshuffle so that streams spread over workers instead of staying in
	// the bundle that created them.
	streams := beam.Reshuffle(s, beam.CreateList(s, names))
	batches, dead, stats := beam.ParDo3(s, fn, streams)
	// A zero Stats makes the total exist even when the table has no row
	// (and so no stream).
	stats = beam.Flatten(s, stats, beam.Create(s, interactions.Stats{}))
	return interactions.Result{Batches: batches, Dead: dead, Stats: beam.Combine(s, interactions.MergeStats, stats)}, nil
}

// createSession creates an Arrow read session on t that reads only fields,
// as of now if snapshot.
func createSession(ctx context.Context, t Table, fields []string, opts Options, snapshot bool) (*storagepb.ReadSession, error) {
	c, err := newStorageClient(ctx, opts.StorageEndpoint)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rs := &storagepb.ReadSession{
		Table:      t.path(),
		DataFormat: storagepb.DataFormat_ARROW,
		ReadOptions: &storagepb.ReadSession_TableReadOptions{
			SelectedFields: fields,
			RowRestriction: opts.RowFilter,
		},
	}
	if snapshot {
		// Every stream reads the table as of this instant, whatever is
		// appended while the pipeline runs.
		rs.TableModifiers = &storagepb.ReadSession_TableModifiers{SnapshotTime: timestamppb.Now()}
	}
	session, err := c.CreateReadSession(ctx, &storagepb.CreateReadSessionRequest{
		Parent:         "projects/" + opts.BillingProject,
		ReadSession:    rs,
		MaxStreamCount: int32(opts.MaxStreams),
	})
	if err != nil {
		return nil, explainRead(err, t.String(), opts.BillingProject)
	}
	if session.GetArrowSchema() == nil {
		return nil, fmt.Errorf("%s: the read session has no Arrow schema", t)
	}
	return session, nil
}

// readFn reads whole streams of one session, one stream per element, into
// events. Counts are kept per bundle and published in FinishBundle, as
// interactions.Read does.
type readFn struct {
	// Source names the table in dead letters and errors (bq://P.D.T).
	Source string
	// BillingProject is named in permission errors.
	BillingProject string
	// Schema is the session's serialized Arrow schema.
	Schema []byte
	// Spec says which columns hold what, as for files.
	Spec interactions.Spec
	// StorageEndpoint, MaxRetries and RetryBackoff are Options'.
	StorageEndpoint string
	MaxRetries      int
	RetryBackoff    time.Duration

	client *storage.BigQueryReadClient
	dec    *decoder
	stats  interactions.Stats
	bad    map[string]int64
}

func (f *readFn) Setup(ctx context.Context) error {
	var err error
	if f.dec, err = newDecoder(f.Schema, f.Spec, f.Source); err != nil {
		return err
	}
	f.client, err = newStorageClient(ctx, f.StorageEndpoint)
	return err
}

func (f *readFn) Teardown() error {
	if f.client == nil {
		return nil
	}
	return f.client.Close()
}

func (f *readFn) StartBundle(_ context.Context, _ func(interactions.Batch), _ func(interactions.DeadLetter), _ func(interactions.Stats)) {
	f.stats, f.bad = interactions.Stats{}, map[string]int64{}
}

// ProcessElement reads a stream and emits one Batch per Arrow record batch.
func (f *readFn) ProcessElement(ctx context.Context, stream string, emit func(interactions.Batch), dead func(interactions.DeadLetter), _ func(interactions.Stats)) error {
	bad := func(reason, row string) {
		f.stats.Bad++
		f.bad[reason]++
		dead(interactions.DeadLetter{Reason: reason, File: f.Source, Line: row})
	}
	p := retryPolicy{max: f.MaxRetries, backoff: f.RetryBackoff, maxBackoff: 30 * time.Second}
	err := readStream(ctx, f.client, stream, p, func(batch []byte) (int64, error) {
		var b interactions.Batch
		n, err := f.dec.decode(batch, func(e interactions.Event) { b.Events = append(b.Events, e) }, bad)
		if len(b.Events) > 0 {
			emit(b)
		}
		f.stats.Rows += n
		return n, err
	})
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", stream, explainRead(err, f.Source, f.BillingProject))
	}
	return nil
}

func (f *readFn) FinishBundle(ctx context.Context, _ func(interactions.Batch), _ func(interactions.DeadLetter), emitStats func(interactions.Stats)) {
	beam.NewCounter("interactions", "rows").Inc(ctx, f.stats.Rows)
	for reason, n := range f.bad {
		beam.NewCounter("interactions", "bad_"+reason).Inc(ctx, n)
	}
	emitStats(f.stats)
}
