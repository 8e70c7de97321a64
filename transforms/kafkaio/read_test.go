package kafkaio

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/kafkatest"
	"github.com/recsys/itemsim/internal/watermark"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register.Function2x1(describe)
}

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// t0 is the first record's timestamp; record i is at t0 + i seconds.
var t0 = time.Unix(1_700_000_000, 0)

// produce writes n records spread round robin over the partitions and
// returns the line describe gives each.
func produce(t *testing.T, c *kafkatest.Cluster, partitions int32, n int) []string {
	t.Helper()
	var rs []*kgo.Record
	var want []string
	next := make([]int64, partitions)
	for i := range n {
		p := int32(i) % partitions
		ts := t0.Add(time.Duration(i) * time.Second)
		r := &kgo.Record{Partition: p, Timestamp: ts, Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i))}
		rs = append(rs, r)
		want = append(want, describe(mtime.FromTime(ts), Record{Partition: p, Offset: next[p], Key: r.Key, Value: r.Value}))
		next[p]++
	}
	if err := c.Produce(rs); err != nil {
		t.Fatal(err)
	}
	return want
}

// describe is a record as one comparable line.
func describe(et beam.EventTime, r Record) string {
	return fmt.Sprintf("p%d@%d %s=%s at %d", r.Partition, r.Offset, r.Key, r.Value, et.Milliseconds())
}

func config(c *kafkatest.Cluster, start string) Config {
	return Config{Brokers: c.Brokers(), Topic: c.Topic, Start: start, StopAtEnd: true}
}

// TestRead reads a 3-partition topic on Prism, bounded at the launch's
// end offsets: every record once, with its partition, offset, key, value
// and timestamp; from a time, only the records at or after it.
func TestRead(t *testing.T) {
	c := kafkatest.Start(t, "events", 3)
	want := produce(t, c, 3, 300)
	from := t0.Add(150 * time.Second)
	cases := []struct {
		name, start string
		want        []string
	}{
		{"earliest", "earliest", want},
		{"time", fmt.Sprint(from.Unix()), want[150:]},
		{"latest", "latest", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(c, tc.start)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			p, s := beam.NewPipelineWithRoot()
			recs, err := Read(s, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := beam.ParDo(s, describe, recs)
			if len(tc.want) == 0 {
				passert.Empty(s, got)
			} else {
				passert.EqualsList(s, got, tc.want)
			}
			ptest.RunAndValidate(t, p)
		})
	}
}

// TestReadFailsFast: a bad configuration fails at the launch, naming the
// flag to fix.
func TestReadFailsFast(t *testing.T) {
	c := kafkatest.Start(t, "events", 2)
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no brokers", Config{Topic: "events", Start: "earliest"}, "--kafka_brokers"},
		{"no topic", Config{Brokers: c.Brokers(), Start: "earliest"}, "--kafka_topic is required"},
		{"bad start", Config{Brokers: c.Brokers(), Topic: "events", Start: "yesterday"}, "--kafka_start=\"yesterday\""},
		{"bad lag", Config{Brokers: c.Brokers(), Topic: "events", Start: "latest", IdleLag: -time.Second}, "--kafka_idle_lag"},
		{"missing topic", Config{Brokers: c.Brokers(), Topic: "nope", Start: "earliest"}, "--kafka_topic=nope: not on the brokers"},
		{"unreachable", Config{Brokers: []string{"127.0.0.1:1"}, Topic: "events", Start: "earliest"}, "--kafka_brokers=127.0.0.1:1: cannot reach"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				_, s := beam.NewPipelineWithRoot()
				_, err = Read(s, tc.cfg)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// runner drives readFn as a runner does, without Beam: one element per
// call, each resume a checkpoint (a split at fraction 0) whose residual is
// the next element's restriction.
type runner struct {
	fn      *readFn
	part    Partition
	rest    offsetrange.Restriction
	we      *watermark.Estimator
	got     []Record
	times   []time.Time
	ctx     context.Context
	resumes int
}

func newRunner(fn *readFn, part Partition) *runner {
	fn.Setup()
	ctx := metrics.SetPTransformID(metrics.SetBundleID(context.Background(), "bundle"), "read")
	return &runner{fn: fn, part: part, rest: fn.CreateInitialRestriction(part),
		we: fn.CreateWatermarkEstimator(int64(mtime.MinTimestamp)), ctx: ctx}
}

// step processes the current restriction once and checkpoints it.
func (r *runner) step(t *testing.T) sdf.ProcessContinuation {
	t.Helper()
	rt := r.fn.CreateTracker(r.rest)
	pc, err := r.fn.ProcessElement(r.ctx, r.we, rt, r.part, func(et beam.EventTime, rec Record) {
		r.got = append(r.got, rec)
		r.times = append(r.times, et.ToTime())
	})
	if err != nil {
		t.Fatal(err)
	}
	if !pc.ShouldResume() {
		if !rt.IsDone() {
			t.Fatalf("stopped with %v not done", rt.GetRestriction())
		}
		return pc
	}
	r.resumes++
	_, residual, err := rt.TrySplit(0)
	if err != nil || residual == nil {
		t.Fatalf("checkpoint of %v: residual %v, %v", rt.GetRestriction(), residual, err)
	}
	r.rest = residual.(offsetrange.Restriction)
	return pc
}

// counter is the value of a kafkaio counter in the runner's context.
func (r *runner) counter(name string) int64 {
	for _, c := range metrics.ResultsExtractor(r.ctx).AllMetrics().Counters() {
		if c.Key.Name == name {
			return c.Result()
		}
	}
	return 0
}

// offsets checks that the partition's records came once each, in order,
// as from..to-1.
func (r *runner) offsets(t *testing.T, from, to int64) {
	t.Helper()
	if len(r.got) != int(to-from) {
		t.Fatalf("%d records, want %d (offsets %d..%d)", len(r.got), to-from, from, to-1)
	}
	for i, rec := range r.got {
		if rec.Offset != from+int64(i) || rec.Partition != r.part.ID {
			t.Fatalf("record %d is p%d@%d, want p%d@%d", i, rec.Partition, rec.Offset, r.part.ID, from+int64(i))
		}
	}
}

// TestCheckpointsResumeExactly reads an unbounded partition through many
// checkpoints while records keep arriving, and on a new DoFn instance from
// the last checkpoint (a restarted worker): every offset once, in order;
// an empty poll resumes after idleResume; the watermark is the largest
// record time, and moves to the wall clock minus IdleLag only when idle.
func TestCheckpointsResumeExactly(t *testing.T) {
	c := kafkatest.Start(t, "events", 1)
	fn := func() *readFn {
		return &readFn{Brokers: c.Brokers(), Topic: c.Topic, CheckpointEvery: time.Nanosecond}
	}
	r := newRunner(fn(), Partition{ID: 0, Start: 0, End: math.MaxInt64})
	produce(t, c, 1, 50)
	for len(r.got) < 50 {
		if pc := r.step(t); !pc.ShouldResume() {
			t.Fatal("an unbounded read stopped")
		}
	}
	if r.resumes == 0 {
		t.Fatal("no checkpoint taken")
	}
	if got, want := r.we.CurrentWatermark(), t0.Add(49*time.Second); !got.Equal(want) {
		t.Fatalf("watermark %v, want the last record's time %v", got, want)
	}
	pc := r.step(t) // caught up: an empty poll
	if !pc.ShouldResume() || pc.ResumeDelay() != idleResume {
		t.Fatalf("empty poll: %+v, want a resume in %v", pc, idleResume)
	}
	if got := r.we.CurrentWatermark(); !got.Equal(t0.Add(49 * time.Second)) {
		t.Fatalf("IdleLag 0 moved the watermark to %v", got)
	}
	// A new instance (a restarted worker) resumes at the checkpoint.
	restarted := newRunner(fn(), r.part)
	restarted.rest, restarted.we, restarted.got = r.rest, r.we, r.got
	produce(t, c, 1, 30) // offsets 50..79, timestamps t0..t0+29s: older than the watermark
	for len(restarted.got) < 80 {
		restarted.step(t)
	}
	restarted.offsets(t, 0, 80)
	if got := restarted.we.CurrentWatermark(); !got.Equal(t0.Add(49 * time.Second)) {
		t.Fatalf("older records moved the watermark back to %v", got)
	}
	restarted.fn.IdleLag = time.Hour
	before := time.Now()
	restarted.step(t)
	if got := restarted.we.CurrentWatermark(); got.Before(before.Add(-time.Hour).Truncate(time.Millisecond)) || got.After(time.Now().Add(-time.Hour)) {
		t.Fatalf("idle watermark %v, want the wall clock minus 1h", got)
	}
	restarted.fn.Teardown()
	r.fn.Teardown()
}

// TestBoundedStopsAtEnd: a bounded restriction ends at its end offset,
// even when more records are there, and is done.
func TestBoundedStopsAtEnd(t *testing.T) {
	c := kafkatest.Start(t, "events", 1)
	produce(t, c, 1, 40)
	r := newRunner(&readFn{Brokers: c.Brokers(), Topic: c.Topic, CheckpointEvery: time.Hour}, Partition{ID: 0, Start: 5, End: 25})
	for r.step(t).ShouldResume() {
	}
	r.offsets(t, 5, 25)
	r.fn.Teardown()
}

// TestSkippedOffsetsAreCounted: records deleted before they were read
// (retention) are skipped, and counted.
func TestSkippedOffsetsAreCounted(t *testing.T) {
	c := kafkatest.Start(t, "events", 1)
	produce(t, c, 1, 30)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	o := kadm.Offsets{}
	o.AddOffset(c.Topic, 0, 12, -1)
	if _, err := kadm.NewClient(cl).DeleteRecords(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	r := newRunner(&readFn{Brokers: c.Brokers(), Topic: c.Topic, CheckpointEvery: time.Hour}, Partition{ID: 0, Start: 0, End: 30})
	for r.step(t).ShouldResume() {
	}
	r.offsets(t, 12, 30)
	if got := r.counter("kafka_skipped_offsets"); got != 12 {
		t.Fatalf("kafka_skipped_offsets = %d, want 12", got)
	}
	r.fn.Teardown()
}

// TestFetchErrorsResume: broker errors on fetches are counted and the
// partition is read again from the same offset: nothing lost or repeated.
func TestFetchErrorsResume(t *testing.T) {
	c := kafkatest.Start(t, "events", 1)
	produce(t, c, 1, 20)
	var failures atomic.Int32 // the broker's goroutine takes them
	failures.Store(2)
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if failures.Add(-1) < 0 {
			return nil, nil, false
		}
		fr := req.(*kmsg.FetchRequest)
		resp := fr.ResponseKind().(*kmsg.FetchResponse)
		for _, rt := range fr.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.UnknownServerError.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	r := newRunner(&readFn{Brokers: c.Brokers(), Topic: c.Topic, CheckpointEvery: time.Hour}, Partition{ID: 0, Start: 0, End: 20})
	for steps := 0; r.step(t).ShouldResume(); steps++ {
		if steps > 20 {
			t.Fatal("no progress after 20 resumes")
		}
	}
	r.offsets(t, 0, 20)
	// A poll can surface both failed fetches at once, or the second can
	// die with the client dropped after the first: one or two are counted.
	if got := r.counter("kafka_fetch_errors"); got < 1 || got > 2 || failures.Load() > 0 {
		t.Fatalf("kafka_fetch_errors = %d with %d injected failures unserved, want 1 or 2 and none", got, failures.Load())
	}
	r.fn.Teardown()
}
