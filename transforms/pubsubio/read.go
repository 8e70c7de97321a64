package pubsubio

import (
	"context"
	"fmt"
	"log"
	"math"
	"reflect"
	"regexp"
	"time"

	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/internal/watermark"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func init() {
	register.DoFn6x2[context.Context, *watermark.Estimator, beam.BundleFinalization, *sdf.LockRTracker, int,
		func(beam.EventTime, Message), sdf.ProcessContinuation, error](&readFn{})
	register.Emitter2[beam.EventTime, Message]()
	beam.RegisterType(reflect.TypeOf((*Message)(nil)).Elem())
}

const (
	// pullWait bounds one pull: an empty one ends the element with a resume.
	pullWait = 2 * time.Second
	// idleResume is the delay before a reader that found nothing pulls again.
	idleResume = 100 * time.Millisecond
	// maxMessages is the most messages one pull asks for.
	maxMessages = 1000
	// maxAckIDs is the most acknowledgement ids per Acknowledge request (the
	// service takes up to 2,500 and 512 KB).
	maxAckIDs = 1000
	// ackTimeout bounds a bundle's acknowledgement after it commits.
	ackTimeout = 5 * time.Minute
	// stopEnd ends the restriction of a read that stops when idle.
	stopEnd int64 = math.MaxInt64 / 2
)

// Config says what to read.
type Config struct {
	// Subscription is projects/PROJECT/subscriptions/NAME.
	Subscription string
	// Readers is the number of pull loops (default 4).
	Readers int
	// Lag caps each reader's watermark at the wall clock minus Lag
	// (default 1s).
	Lag time.Duration
	// StopWhenIdle makes a reader finish after a pull finds nothing: the
	// read is then bounded (tests, and draining a backlog).
	StopWhenIdle bool
	// CheckpointEvery is the longest one element reads before it returns
	// its output, and so gets it committed and acknowledged (default 500ms).
	CheckpointEvery time.Duration
	// SeekTo, when set, seeks the subscription to that time at the launch:
	// the messages published since are delivered again (those already
	// acknowledged only if the subscription retains acknowledged messages),
	// which is how a job whose state was lost rebuilds its window. It
	// affects every reader of the subscription.
	SeekTo time.Time
}

var subscriptionName = regexp.MustCompile(`^projects/[^/]+/subscriptions/[^/]+$`)

// Validate fills the defaults and reports settings the read cannot run
// with, naming the flag.
func (c *Config) Validate() error {
	switch {
	case !subscriptionName.MatchString(c.Subscription):
		return fmt.Errorf("--pubsub_subscription=%q: want projects/PROJECT/subscriptions/NAME", c.Subscription)
	case c.Readers < 0:
		return fmt.Errorf("--pubsub_readers=%d: want at least 1", c.Readers)
	case c.Lag < 0 || c.CheckpointEvery < 0:
		return fmt.Errorf("--pubsub_lag=%v: want ≥ 0", c.Lag)
	}
	if c.Readers == 0 {
		c.Readers = 4
	}
	if c.Lag == 0 {
		c.Lag = time.Second
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 500 * time.Millisecond
	}
	return nil
}

// Message is one Pub/Sub message, emitted at its publish time.
type Message struct {
	ID   string
	Data []byte
}

// Read reads cfg.Subscription: a PCollection<Message>, each at its publish
// time, unbounded unless cfg.StopWhenIdle. Call cfg.Validate first. It
// fetches the subscription now; the error says what to fix.
//
// Counters: pubsub_messages, pubsub_pull_errors. (A failed acknowledgement
// is logged: it runs after the bundle, whose counters are reported.)
func Read(s beam.Scope, cfg Config) (beam.PCollection, error) {
	s = s.Scope("pubsubio.Read")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := vkit.NewSubscriptionAdminClient(ctx)
	if err != nil {
		return beam.PCollection{}, fmt.Errorf("pubsub client: %w", err)
	}
	defer c.Close()
	sub, err := c.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: cfg.Subscription})
	if err != nil {
		return beam.PCollection{}, explain(cfg.Subscription, err)
	}
	if !cfg.SeekTo.IsZero() {
		if !sub.GetRetainAckedMessages() {
			log.Printf("pubsubio: %s does not retain acknowledged messages: the seek to %v redelivers only those not yet acknowledged", cfg.Subscription, cfg.SeekTo)
		}
		if _, err := c.Seek(ctx, &pubsubpb.SeekRequest{Subscription: cfg.Subscription,
			Target: &pubsubpb.SeekRequest_Time{Time: timestamppb.New(cfg.SeekTo)}}); err != nil {
			return beam.PCollection{}, fmt.Errorf("--pubsub_seek: seeking %s to %v: %w", cfg.Subscription, cfg.SeekTo, err)
		}
	}
	readers := make([]int, cfg.Readers)
	for i := range readers {
		readers[i] = i
	}
	fn := &readFn{Subscription: cfg.Subscription, Lag: cfg.Lag, StopWhenIdle: cfg.StopWhenIdle, CheckpointEvery: cfg.CheckpointEvery}
	return beam.ParDo(s, fn, beam.Reshuffle(s, beam.CreateList(s, readers))), nil
}

// explain turns a subscription lookup error into what to fix.
func explain(sub string, err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("--pubsub_subscription=%s does not exist: create it (gcloud pubsub subscriptions create) or fix the name", sub)
	case codes.PermissionDenied:
		return fmt.Errorf("--pubsub_subscription=%s: permission denied: grant the job's service account roles/pubsub.subscriber on it (%w)", sub, err)
	}
	return fmt.Errorf("--pubsub_subscription=%s: %w", sub, err)
}

// readFn is one pull loop per element.
type readFn struct {
	watermark.OffsetSource[int]

	Subscription    string
	Lag             time.Duration
	StopWhenIdle    bool
	CheckpointEvery time.Duration

	client   *vkit.SubscriptionAdminClient
	messages beam.Counter
	pullErrs beam.Counter
}

func (f *readFn) Setup(ctx context.Context) error {
	var err error
	f.client, err = vkit.NewSubscriptionAdminClient(ctx)
	f.messages = beam.NewCounter("pubsubio", "pubsub_messages")
	f.pullErrs = beam.NewCounter("pubsubio", "pubsub_pull_errors")
	return err
}

func (f *readFn) Teardown() {
	if f.client != nil {
		f.client.Close()
	}
}

// CreateInitialRestriction counts a reader's pulls.
func (f *readFn) CreateInitialRestriction(int) offsetrange.Restriction {
	if f.StopWhenIdle {
		return offsetrange.Restriction{Start: 0, End: stopEnd}
	}
	return offsetrange.Restriction{Start: 0, End: math.MaxInt64}
}

func (f *readFn) SplitRestriction(_ int, rest offsetrange.Restriction) []offsetrange.Restriction {
	return []offsetrange.Restriction{rest}
}

func (f *readFn) RestrictionSize(int, offsetrange.Restriction) float64 { return 1 }

func (f *readFn) CreateTracker(rest offsetrange.Restriction) *sdf.LockRTracker {
	if rest.End != math.MaxInt64 {
		return sdf.NewLockRTracker(offsetrange.NewTracker(rest))
	}
	// Nothing to estimate: a split at any fraction is a checkpoint.
	rt, err := offsetrange.NewGrowableTracker(rest, noEstimate{})
	if err != nil {
		panic(err) // only for Start > End, which no restriction of this read has
	}
	return sdf.NewLockRTracker(rt)
}

// ProcessElement pulls until CheckpointEvery has passed or a pull finds
// nothing, and registers the acknowledgement of everything it emitted for
// after the bundle commits.
func (f *readFn) ProcessElement(ctx context.Context, we *watermark.Estimator, bf beam.BundleFinalization, rt *sdf.LockRTracker, _ int, emit func(beam.EventTime, Message)) (sdf.ProcessContinuation, error) {
	var ackIDs []string
	defer func() { f.ackAfterCommit(bf, ackIDs) }()
	deadline := time.Now().Add(f.CheckpointEvery)
	for pull := rt.GetRestriction().(offsetrange.Restriction).Start; ; pull++ {
		if !rt.TryClaim(pull) {
			return sdf.StopProcessing(), rt.GetError()
		}
		pullCtx, cancel := context.WithTimeout(ctx, pullWait)
		resp, err := f.client.Pull(pullCtx, &pubsubpb.PullRequest{Subscription: f.Subscription, MaxMessages: maxMessages})
		cancel()
		if err != nil && status.Code(err) != codes.DeadlineExceeded {
			// The library retries what it can; anything else is logged
			// and pulled again after a pause.
			f.pullErrs.Inc(ctx, 1)
			log.Printf("pubsubio: pulling %s: %v", f.Subscription, err)
			return sdf.ResumeProcessingIn(time.Second), nil
		}
		msgs := resp.GetReceivedMessages()
		now := time.Now()
		if len(msgs) == 0 {
			we.ObserveTimestamp(now.Add(-f.Lag))
			if f.StopWhenIdle {
				rt.TryClaim(stopEnd)
				return sdf.StopProcessing(), rt.GetError()
			}
			return sdf.ResumeProcessingIn(idleResume), nil
		}
		oldest := now.Add(-f.Lag)
		for _, m := range msgs {
			pm := m.GetMessage()
			t := pm.GetPublishTime().AsTime()
			if t.Before(oldest) {
				oldest = t
			}
			emit(beam.EventTime(t.UnixMilli()), Message{ID: pm.GetMessageId(), Data: pm.GetData()})
			ackIDs = append(ackIDs, m.GetAckId())
		}
		f.messages.Inc(ctx, int64(len(msgs)))
		we.ObserveTimestamp(oldest)
		if now.After(deadline) {
			return sdf.ResumeProcessingIn(0), nil
		}
	}
}

// ackAfterCommit acknowledges ids once the runner has committed the
// bundle's output: never before, so a failed bundle's messages come again.
func (f *readFn) ackAfterCommit(bf beam.BundleFinalization, ids []string) {
	if len(ids) == 0 {
		return
	}
	client, sub := f.client, f.Subscription
	bf.RegisterCallback(ackTimeout, func() error {
		for len(ids) > 0 {
			n := min(len(ids), maxAckIDs)
			if err := client.Acknowledge(context.Background(), &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: ids[:n]}); err != nil {
				// Unacknowledged messages come again: logged, not fatal.
				log.Printf("pubsubio: acknowledging %d messages of %s (they will be delivered again): %v", len(ids), sub, err)
				return nil
			}
			ids = ids[n:]
		}
		return nil
	})
}

// noEstimate is the end estimate of an unbounded reader: none.
type noEstimate struct{}

func (noEstimate) Estimate() int64 { return 0 }
