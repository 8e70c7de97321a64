package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/internal/watermark"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register.DoFn5x2[context.Context, *watermark.Estimator, *sdf.LockRTracker, Partition,
		func(beam.EventTime, Record), sdf.ProcessContinuation, error](&readFn{})
	register.Emitter2[beam.EventTime, Record]()
	beam.RegisterType(reflect.TypeOf((*Partition)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Record)(nil)).Elem())
}

const (
	// pollWait bounds one poll: an empty one ends the element with a resume.
	pollWait = 200 * time.Millisecond
	// idleResume is the delay before a caught-up partition polls again.
	idleResume = 100 * time.Millisecond
	// maxPollRecords bounds the records taken from the client per poll.
	maxPollRecords = 10000
	// launchTimeout bounds the metadata and offset requests of Read.
	launchTimeout = 30 * time.Second
)

// Config says what to read.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Topic is read in full: every partition it has at the launch.
	Topic string
	// Start is where each partition's read starts: "earliest" (the oldest
	// record the log holds), "latest" (the end at the launch) or a time (as
	// interactions.ParseTime reads it: unix seconds or a date) for the
	// first record at or after it, which is how a restarted job replays its
	// window.
	Start string
	// StartMillis is Start resolved by Validate when it is a time.
	StartMillis int64
	// StopAtEnd makes the read bounded: each partition up to its end offset
	// at the launch, then done (tests, and replays of a topic's history).
	StopAtEnd bool
	// IdleLag is how far behind the wall clock a caught-up partition's
	// watermark moves (0: never; the watermark then follows record time only).
	IdleLag time.Duration
	// CheckpointEvery is the longest one element reads before it returns
	// its output and watermark to the runner (default 500ms).
	CheckpointEvery time.Duration
}

// Validate reports settings the read cannot run with, naming the flag.
func (c *Config) Validate() error {
	switch {
	case len(c.Brokers) == 0 || slices.Contains(c.Brokers, ""):
		return fmt.Errorf("--kafka_brokers=%q: want host:port[,host:port...]", strings.Join(c.Brokers, ","))
	case c.Topic == "":
		return fmt.Errorf("--kafka_topic is required")
	case c.IdleLag < 0:
		return fmt.Errorf("--kafka_idle_lag=%v: want ≥ 0", c.IdleLag)
	case c.CheckpointEvery < 0:
		return fmt.Errorf("checkpoint interval %v: want ≥ 0", c.CheckpointEvery)
	}
	switch c.Start {
	case "earliest", "latest":
	default:
		sec, err := interactions.ParseTime(c.Start)
		if err != nil {
			return fmt.Errorf("--kafka_start=%q: want earliest, latest or a time (%v)", c.Start, err)
		}
		c.StartMillis = sec * 1000
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 500 * time.Millisecond
	}
	return nil
}

// Partition is one partition's element: its read is the offsets [Start, End).
type Partition struct {
	ID         int32
	Start, End int64
}

// Record is one Kafka record, emitted at its timestamp.
type Record struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
}

// Read reads cfg.Topic from cfg.Brokers: a PCollection<Record>, each at its
// record's timestamp, unbounded unless cfg.StopAtEnd. Call cfg.Validate
// first. It contacts the brokers now, to list the partitions and resolve
// the offsets; the error says what to fix.
//
// Counters: kafka_records, kafka_skipped_offsets, kafka_fetch_errors.
func Read(s beam.Scope, cfg Config) (beam.PCollection, error) {
	s = s.Scope("kafkaio.Read")
	parts, err := partitions(cfg)
	if err != nil {
		return beam.PCollection{}, err
	}
	fn := &readFn{Brokers: cfg.Brokers, Topic: cfg.Topic, IdleLag: cfg.IdleLag, CheckpointEvery: cfg.CheckpointEvery}
	return beam.ParDo(s, fn, beam.Reshuffle(s, beam.CreateList(s, parts))), nil
}

// partitions lists the topic's partitions with their start (and end) offsets.
func partitions(cfg Config) ([]Partition, error) {
	ctx, cancel := context.WithTimeout(context.Background(), launchTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return nil, fmt.Errorf("--kafka_brokers=%s: %w", strings.Join(cfg.Brokers, ","), err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx, cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("--kafka_brokers=%s: cannot reach the brokers: %w", strings.Join(cfg.Brokers, ","), err)
	}
	t, ok := topics[cfg.Topic]
	if !ok || t.Err != nil || len(t.Partitions) == 0 {
		return nil, fmt.Errorf("--kafka_topic=%s: not on the brokers %s (create it, or fix the name): %v", cfg.Topic, strings.Join(cfg.Brokers, ","), t.Err)
	}
	var starts kadm.ListedOffsets
	switch cfg.Start {
	case "earliest":
		starts, err = adm.ListStartOffsets(ctx, cfg.Topic)
	case "latest":
		starts, err = adm.ListEndOffsets(ctx, cfg.Topic)
	default:
		starts, err = adm.ListOffsetsAfterMilli(ctx, cfg.StartMillis, cfg.Topic)
	}
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("--kafka_start=%s on %s: %w", cfg.Start, cfg.Topic, err)
	}
	var ends kadm.ListedOffsets
	if cfg.StopAtEnd {
		if ends, err = adm.ListEndOffsets(ctx, cfg.Topic); err == nil {
			err = ends.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("end offsets of %s: %w", cfg.Topic, err)
		}
	}
	var parts []Partition
	for _, id := range t.Partitions.Numbers() {
		p := Partition{ID: id, End: math.MaxInt64}
		start, ok := starts.Lookup(cfg.Topic, id)
		if !ok || start.Offset < 0 {
			return nil, fmt.Errorf("--kafka_start=%s: no offset for partition %d of %s", cfg.Start, id, cfg.Topic)
		}
		p.Start = start.Offset
		if cfg.StopAtEnd {
			end, _ := ends.Lookup(cfg.Topic, id)
			p.End = max(end.Offset, p.Start)
		}
		parts = append(parts, p)
	}
	slices.SortFunc(parts, func(a, b Partition) int { return int(a.ID - b.ID) })
	return parts, nil
}

// readFn reads one partition per element, from its restriction's start.
type readFn struct {
	watermark.OffsetSource[Partition]

	Brokers         []string
	Topic           string
	IdleLag         time.Duration
	CheckpointEvery time.Duration

	// consumers keeps each partition's client between the elements of one
	// partition's read, so that a resume at the offset it stopped at
	// continues its fetch session (and uses what it already prefetched).
	consumers map[int32]*consumer
	// ends are the partitions' last high watermarks (sizes of unbounded
	// restrictions); tracking is the estimator of the current tracker.
	ends     map[int32]*endEstimator
	tracking *endEstimator
	records  beam.Counter
	skipped  beam.Counter
	errs     beam.Counter
}

// consumer is one partition's client and the offset it delivers next.
type consumer struct {
	client *kgo.Client
	next   int64
}

func (f *readFn) Setup() {
	f.consumers = map[int32]*consumer{}
	f.records = beam.NewCounter("kafkaio", "kafka_records")
	f.skipped = beam.NewCounter("kafkaio", "kafka_skipped_offsets")
	f.errs = beam.NewCounter("kafkaio", "kafka_fetch_errors")
}

func (f *readFn) Teardown() {
	for id, c := range f.consumers {
		c.client.Close()
		delete(f.consumers, id)
	}
}

func (f *readFn) CreateInitialRestriction(p Partition) offsetrange.Restriction {
	return offsetrange.Restriction{Start: p.Start, End: p.End}
}

// SplitRestriction keeps a partition whole: its records come in offset order
// from one fetch session.
func (f *readFn) SplitRestriction(_ Partition, rest offsetrange.Restriction) []offsetrange.Restriction {
	return []offsetrange.Restriction{rest}
}

func (f *readFn) RestrictionSize(p Partition, rest offsetrange.Restriction) float64 {
	end := rest.End
	if end == math.MaxInt64 {
		end = f.end(p.ID).Estimate()
	}
	return float64(max(end-rest.Start, 0))
}

func (f *readFn) CreateTracker(rest offsetrange.Restriction) *sdf.LockRTracker {
	if rest.End != math.MaxInt64 {
		return sdf.NewLockRTracker(offsetrange.NewTracker(rest))
	}
	// The tracker does not know its partition: the estimator goes to the
	// ProcessElement that follows (the SDK creates a tracker right before
	// it, on the same goroutine), which feeds it the fetches' high watermark.
	f.tracking = &endEstimator{}
	rt, err := offsetrange.NewGrowableTracker(rest, f.tracking)
	if err != nil {
		panic(err) // only for Start > End, which no restriction of this read has
	}
	return sdf.NewLockRTracker(rt)
}

// ProcessElement reads the partition from the restriction's start until
// CheckpointEvery has passed or a poll comes back empty, then resumes; a
// bounded restriction stops at its end.
func (f *readFn) ProcessElement(ctx context.Context, we *watermark.Estimator, rt *sdf.LockRTracker, p Partition, emit func(beam.EventTime, Record)) (sdf.ProcessContinuation, error) {
	rest := rt.GetRestriction().(offsetrange.Restriction)
	c, err := f.consumer(p.ID, rest.Start)
	if err != nil {
		return sdf.StopProcessing(), err
	}
	deadline := time.Now().Add(f.CheckpointEvery)
	for {
		if c.next >= rest.End { // a bounded read is done
			rt.TryClaim(rest.End)
			return sdf.StopProcessing(), rt.GetError()
		}
		pollCtx, cancel := context.WithTimeout(ctx, pollWait)
		fetches := c.client.PollRecords(pollCtx, maxPollRecords)
		cancel()
		if err := fetchError(fetches); err != nil {
			// The client retries what it can; anything else is logged and
			// read again from the same offset after a pause.
			f.errs.Inc(ctx, 1)
			log.Printf("kafkaio: %s partition %d at offset %d: %v", f.Topic, p.ID, c.next, err)
			f.drop(p.ID)
			return sdf.ResumeProcessingIn(time.Second), nil
		}
		n := 0
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			f.end(p.ID).observe(fp.HighWatermark)
			if f.tracking != nil {
				f.tracking.observe(fp.HighWatermark)
			}
		})
		for _, r := range fetches.Records() {
			// A bounded restriction ends at the first offset past it (a
			// failed claim), even when the log skips its end offset.
			if !rt.TryClaim(r.Offset) {
				f.records.Inc(ctx, int64(n))
				return sdf.StopProcessing(), rt.GetError()
			}
			if r.Offset > c.next {
				f.skipped.Inc(ctx, r.Offset-c.next)
			}
			c.next = r.Offset + 1
			we.ObserveTimestamp(r.Timestamp)
			emit(mtime.FromTime(r.Timestamp), Record{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value})
			n++
		}
		f.records.Inc(ctx, int64(n))
		if n == 0 && c.next < rest.End {
			if f.IdleLag > 0 {
				we.ObserveTimestamp(time.Now().Add(-f.IdleLag))
			}
			return sdf.ResumeProcessingIn(idleResume), nil
		}
		if time.Now().After(deadline) && c.next < rest.End {
			return sdf.ResumeProcessingIn(0), nil
		}
	}
}

// consumer returns the partition's client positioned at offset at, reusing
// the one that stopped there.
func (f *readFn) consumer(id int32, at int64) (*consumer, error) {
	if c, ok := f.consumers[id]; ok && c.next == at {
		return c, nil
	}
	f.drop(id)
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{f.Topic: {id: kgo.NewOffset().At(at)}}),
		kgo.FetchMaxWait(pollWait))
	if err != nil {
		return nil, fmt.Errorf("kafkaio: client for %s partition %d: %w", f.Topic, id, err)
	}
	c := &consumer{client: cl, next: at}
	f.consumers[id] = c
	return c, nil
}

func (f *readFn) drop(id int32) {
	if c, ok := f.consumers[id]; ok {
		c.client.Close()
		delete(f.consumers, id)
	}
}

func (f *readFn) end(id int32) *endEstimator {
	if f.ends == nil { // RestrictionSize runs on instances without Setup
		f.ends = map[int32]*endEstimator{}
	}
	e, ok := f.ends[id]
	if !ok {
		e = &endEstimator{}
		f.ends[id] = e
	}
	return e
}

// fetchError is the first error of a poll that is not its own timeout.
func fetchError(fs kgo.Fetches) error {
	for _, e := range fs.Errors() {
		if errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, context.Canceled) {
			continue
		}
		return fmt.Errorf("partition %d: %w", e.Partition, e.Err)
	}
	return nil
}
