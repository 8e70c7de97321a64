package datastoreio

import (
	"context"
	"fmt"

	"cloud.google.com/go/datastore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Metric names, reported as Beam counters in namespace "datastoreio".
const (
	metricWritten     = "entities_written"
	metricDeleted     = "entities_deleted"
	metricCommits     = "commits"
	metricRetries     = "retries"
	metricThrottledMs = "throttled_ms"
	// metricUsersWritten and metricFactorsWritten count the user lists and
	// item factors among entities_written.
	metricUsersWritten   = "users_written"
	metricFactorsWritten = "factors_written"
)

// mutator commits mutations non-transactionally; *datastore.Client is one.
type mutator interface {
	Mutate(ctx context.Context, muts ...*datastore.Mutation) ([]*datastore.Key, error)
}

// metrics receives the writer's counts.
type metrics interface {
	Inc(ctx context.Context, name string, n int64)
}

// op is one pending mutation.
type op struct {
	mut    *datastore.Mutation
	key    string // unique key string: a commit must not touch a key twice
	what   string // names the entity in errors, e.g. `item "a"`
	bytes  int
	delete bool
	kind   int // of an upsert: recordItem, recordUser or recordFactor
}

// writer batches mutations into commits like the Java DatastoreWriterFn:
// a batch is committed when it reaches the adaptive size, and before it
// would exceed the byte limit or repeat a key.
type writer struct {
	client    mutator
	clk       clock
	retry     Retry
	jitter    func() float64
	metrics   metrics
	sizer     *batchSizer
	throttler *throttler

	batch []op
	bytes int
	keys  map[string]bool
	// written counts the upserts committed so far, by kind.
	written tally
}

func newWriter(client mutator, clk clock, retry Retry, rand func() float64, m metrics) *writer {
	return &writer{
		client:    client,
		clk:       clk,
		retry:     retry,
		jitter:    rand,
		metrics:   m,
		sizer:     newBatchSizer(),
		throttler: newThrottler(rand),
		keys:      map[string]bool{},
	}
}

// add queues o, committing batches as they fill.
func (w *writer) add(ctx context.Context, o op) error {
	if len(w.batch) > 0 && (w.bytes+o.bytes > maxBatchBytes-requestOverhead || w.keys[o.key]) {
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
	w.batch = append(w.batch, o)
	w.bytes += o.bytes
	w.keys[o.key] = true
	if len(w.batch) >= w.sizer.next(w.clk.Now()) {
		return w.flush(ctx)
	}
	return nil
}

// reset drops pending mutations.
func (w *writer) reset() {
	w.batch, w.bytes = nil, 0
	clear(w.keys)
}

// flush commits the pending batch, if any.
func (w *writer) flush(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	batch := w.batch
	w.reset()
	err := w.commit(ctx, batch)
	if err != nil && entityError(err) {
		return w.isolate(ctx, batch, err)
	}
	return describe(batch, err)
}

// commit commits batch, retrying transient errors with backoff.
func (w *writer) commit(ctx context.Context, batch []op) error {
	muts := make([]*datastore.Mutation, len(batch))
	for i, o := range batch {
		muts[i] = o.mut
	}
	for attempt := 1; ; attempt++ {
		if err := w.throttle(ctx); err != nil {
			return err
		}
		start := w.clk.Now()
		_, err := w.client.Mutate(ctx, muts...)
		end := w.clk.Now()
		if err == nil {
			w.sizer.record(end, end.Sub(start), len(muts))
			w.throttler.accepted(start)
			w.count(ctx, batch)
			return nil
		}
		// Other errors say nothing of how long a batch takes; a timeout does.
		if status.Code(err) == codes.DeadlineExceeded {
			w.sizer.record(end, end.Sub(start), len(muts))
		}
		if !retryable(err) || attempt >= w.retry.MaxAttempts {
			return err
		}
		w.metrics.Inc(ctx, metricRetries, 1)
		if err := w.clk.Sleep(ctx, backoff(w.retry, attempt, w.jitter())); err != nil {
			return err
		}
	}
}

// throttle waits while the adaptive throttler rejects the next commit.
func (w *writer) throttle(ctx context.Context) error {
	for w.throttler.throttle(w.clk.Now()) {
		w.metrics.Inc(ctx, metricThrottledMs, w.retry.ThrottleDelay.Milliseconds())
		if err := w.clk.Sleep(ctx, w.retry.ThrottleDelay); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) count(ctx context.Context, batch []op) {
	var upserts tally
	var deletes int64
	for _, o := range batch {
		if o.delete {
			deletes++
		} else {
			upserts.add(o.kind, 1)
		}
	}
	w.written = w.written.plus(upserts)
	w.metrics.Inc(ctx, metricCommits, 1)
	if n := upserts.total(); n > 0 {
		w.metrics.Inc(ctx, metricWritten, int64(n))
	}
	if upserts.Users > 0 {
		w.metrics.Inc(ctx, metricUsersWritten, int64(upserts.Users))
	}
	if upserts.Factors > 0 {
		w.metrics.Inc(ctx, metricFactorsWritten, int64(upserts.Factors))
	}
	if deletes > 0 {
		w.metrics.Inc(ctx, metricDeleted, deletes)
	}
}

// isolate bisects a batch that failed with an error an entity may cause, to
// name that entity. The run fails either way; committing the good halves
// (upserts) is harmless.
func (w *writer) isolate(ctx context.Context, batch []op, cause error) error {
	for len(batch) > 1 {
		left, right := batch[:len(batch)/2], batch[len(batch)/2:]
		var err error
		if err = w.commit(ctx, left); err != nil {
			batch = left
		} else if err = w.commit(ctx, right); err != nil {
			batch = right
		} else {
			// Both halves commit: the batch failed as a whole.
			return describe(append(left[:len(left):len(left)], right...), cause)
		}
		if !entityError(err) {
			return describe(batch, err)
		}
		cause = err
	}
	return describe(batch, cause)
}

// describe names the entities of a failed commit.
func describe(batch []op, err error) error {
	switch {
	case err == nil:
		return nil
	case len(batch) == 1:
		return fmt.Errorf("datastoreio: writing %s: %w", batch[0].what, err)
	}
	return fmt.Errorf("datastoreio: committing %d mutations (%s … %s): %w", len(batch), batch[0].what, batch[len(batch)-1].what, err)
}
