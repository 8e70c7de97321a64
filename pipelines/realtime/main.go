// Command realtime keeps item-item similarities up to date on a stream of
// interactions, TencentRec's real-time item-based CF
// (transforms/incremental): every --emit_interval of event time it writes
// the items whose top-N list changed, each list the batch job's
// --measure=corating --aggregate=max list over the sliding --window that
// ends there.
//
// It reads a Kafka topic (--kafka_brokers, --kafka_topic) or a Pub/Sub
// subscription (--pubsub_subscription): one record per message, parsed by
// the batch job's record flags, JSONL unless --format says otherwise; each
// event at its --time_field, or at the message's time when there is none.
// Or it replays the batch job's inputs (--input: files,
// local or gs://, or BigQuery) as a stream in event time. The model orders
// events by event time itself, so the replay needs no sort, and the same
// events give the same lists on every runner. By default the Kafka read
// starts at the first record of the window that ends now, so a job started
// again (Prism keeps its state in memory only) rebuilds the model it had;
// --pubsub_seek=window does the same on Pub/Sub.
//
// It also keeps the hot list, the --hot_n items with the most users in the
// last --hot_window, written when it changes (--hot_output): the real-time
// fallback for a customer nothing scores for, and each user's --recent_n
// latest items, written when they change (--recent_output), which the
// server answers GET /v1/users/{user}/recommendations from. With
// --prune_delta it prunes, by TencentRec's Hoeffding bound, the pairs
// that cannot enter their item's list.
//
// The lists and the dead letter (bad records and events later than
// --allowed_lateness, with their reason) are written as they are produced,
// in parts: <--output>-<hash>.jsonl (textsink.WriteParts), so the job
// writes while it runs on an unbounded stream. With --datastore_project,
// the lists, the hot list and the users' recent items are also upserted
// into Datastore's live layout (simstore.LayoutLive), which the server
// follows (serving --datastore_layout=live).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/pipelines/options"
	"github.com/recsys/itemsim/runners"
	"github.com/recsys/itemsim/transforms/datastoreio"
	"github.com/recsys/itemsim/transforms/incremental"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/kafkaio"
	"github.com/recsys/itemsim/transforms/pubsubio"
	"github.com/recsys/itemsim/transforms/textsink"
)

var (
	output     = flag.String("output", "", "Prefix of the JSONL parts of the list updates, <prefix>-<hash>.jsonl: one line per item whose top-N list changed at a bucket end, {\"end\":unix seconds,\"item\":...,\"neighbors\":[...]} (an empty list: the item left the window). Optional with --datastore_project.")
	dead       = flag.String("dead_letter", "", "Prefix of the JSONL parts of bad records and late events with reasons (default: the output prefix with .dead_letter; required without --output).")
	length     = flag.Duration("window", 720*time.Hour, "Sliding window of the model: an item pair counts the users who rated both inside it.")
	slice      = flag.Duration("slice", 24*time.Hour, "The window slides by slices of this length (it divides --window): a user keeps the largest weight per item and slice.")
	emit       = flag.Duration("emit_interval", time.Second, "Event time between two writes of the changed lists (it divides --slice).")
	lateness   = flag.Duration("allowed_lateness", 0, "How far behind the model's time an event may arrive and still count; an older one goes to the dead letter.")
	hotWindow  = flag.Duration("hot_window", 0, "The hot list counts each item's users with an event in this last span of the window: whole slices, up to --window (default: one --slice).")
	hotN       = flag.Int("hot_n", 20, "Length of the hot list: the items with the most users in --hot_window, the real-time fallback; 0 keeps none.")
	hotOutput  = flag.String("hot_output", "", "Prefix of the JSONL parts of the hot list, written when it changes: {\"end\":unix seconds,\"items\":[{\"item\":...,\"users\":n},...]} (default: the output prefix with .hot).")
	pruneDelta = flag.Float64("prune_delta", 0, "Hoeffding pruning: a pair stops being tracked once, with probability 1 − this, it cannot enter its item's top N (TencentRec); 0 (the default) prunes nothing and the model equals the batch --measure=corating one. Pruned pairs are counted (incremental/pruned_pairs).")
	recentN    = flag.Int("recent_n", 10, "Each user's most recent items kept (of the window), written when they change: what GET /v1/users/{user}/recommendations answers from (the top 5 similar to the latest first); 0 keeps none.")
	recentOut  = flag.String("recent_output", "", "Prefix of the JSONL parts of the users' recent items, written when they change: {\"end\":unix seconds,\"user\":...,\"items\":[{\"item\":...,\"time\":unix seconds},...]}, latest first (default: the output prefix with .recent).")
	userShards = flag.Int("user_shards", 16, "Keys of the user side: each shard's users are advanced by one timer per bucket.")
	itemShards = flag.Int("item_shards", 16, "Keys of the item side: each shard holds the lists of its items and every item's count.")
	input      = options.RegisterInput(flag.CommandLine)
	kafka      = options.RegisterKafka(flag.CommandLine)
	pubsub     = options.RegisterPubSub(flag.CommandLine)
	records    = options.RegisterRecords(flag.CommandLine)
	top        = options.RegisterTopN(flag.CommandLine)
	store      = options.RegisterLiveDatastore(flag.CommandLine)
)

func init() {
	register.Function2x0(toUserEvent)
	register.Function1x1(recordValue)
	register.Function1x1(messageData)
	register.Function1x1(lateLetter)
	register.Emitter2[beam.EventTime, incremental.UserEvent]()
}

// config is the validated run configuration.
type config struct {
	// Input is the replay's input, when Kafka and PubSub are nil.
	Input      string
	Kafka      *kafkaio.Config
	PubSub     *pubsubio.Config
	Spec       interactions.Spec
	Model      incremental.Config
	Output     string
	DeadLetter string
	// HotOutput is the hot lists' prefix ("": not written to files),
	// RecentOutput the users' recent items'.
	HotOutput, RecentOutput string
	// Datastore is the live layout's sink, nil for none.
	Datastore *datastoreio.Config
}

func main() {
	flag.Parse()
	beam.Init()
	if err := runners.Prepare(); err != nil {
		fail(err)
	}
	c, err := configFromFlags()
	if err != nil {
		fail(err)
	}
	start := time.Now()
	if err := runners.PrintStart(os.Stdout, "realtime", c); err != nil {
		fail(err)
	}
	res, err := run(context.Background(), c)
	if err != nil {
		fail(err)
	}
	fmt.Printf("output: %s\nhot lists: %s\nrecent items: %s\ndead letter: %s\n", c.Output, c.HotOutput, c.RecentOutput, c.DeadLetter)
	if c.Datastore != nil {
		fmt.Printf("datastore: project %s, namespace %q, kind %s (live layout)\n", c.Datastore.Project, c.Datastore.Namespace, c.Datastore.Kind)
	}
	if res != nil {
		runners.PrintCounters(os.Stdout, res.Metrics().AllMetrics())
	}
	fmt.Printf("wall time: %s\n", time.Since(start).Round(time.Millisecond))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "realtime:", err)
	os.Exit(1)
}

// configFromFlags validates the flags into a config, failing fast on what
// would make the run fail later.
func configFromFlags() (config, error) {
	c := config{Input: input.Path(), Output: *output, DeadLetter: *dead, HotOutput: *hotOutput, RecentOutput: *recentOut}
	var err error
	sources := 0
	for _, on := range []bool{kafka.Enabled(), pubsub.Enabled(), c.Input != "" || input.BigQuery()} {
		if on {
			sources++
		}
	}
	switch {
	case sources > 1:
		return c, fmt.Errorf("set one source: --input (a replay), --kafka_topic or --pubsub_subscription")
	case kafka.Enabled() || pubsub.Enabled():
		if c.Spec, err = records.MessageSpec(); err != nil {
			return c, err
		}
	default:
		if c.Spec, err = input.Spec(records); err != nil {
			return c, fmt.Errorf("%w (or read a stream: --kafka_topic or --pubsub_subscription)", err)
		}
		if c.Spec.TimeField == "" {
			return c, fmt.Errorf("--time_field is required to replay --input: the stream orders and windows events by their time")
		}
	}
	switch {
	case c.Output == "" && !store.Enabled():
		return c, fmt.Errorf("--output or --datastore_project is required: where the lists go")
	case c.DeadLetter == "" && c.Output == "":
		return c, fmt.Errorf("--dead_letter is required without --output")
	case c.DeadLetter == "":
		c.DeadLetter = c.Output + ".dead_letter"
	}
	hot := *hotWindow
	switch {
	case *hotN == 0:
		hot = 0
	case hot == 0:
		hot = *slice
	}
	if c.HotOutput == "" && c.Output != "" && hot > 0 {
		c.HotOutput = c.Output + ".hot"
	}
	if c.RecentOutput == "" && c.Output != "" && *recentN > 0 {
		c.RecentOutput = c.Output + ".recent"
	}
	n, minSim, err := top.Values()
	if err != nil {
		return c, err
	}
	if store.Enabled() {
		d, err := store.Config(n)
		if err != nil {
			return c, err
		}
		c.Datastore = &d
		if *recentN > 0 {
			if err := datastoreio.CheckRecentN(*recentN); err != nil {
				return c, err
			}
		}
	}
	if minSim != 0 {
		return c, fmt.Errorf("--min_similarity=%v: the stream keeps whole top-N lists; filter when serving", minSim)
	}
	w, err := incremental.NewWindow(*length, *slice, *emit, *lateness, hot)
	if err != nil {
		return c, err
	}
	// The rating is a user's largest action weight, which the default clip
	// (the largest weight; none for scores) never lowers.
	rules := model.Rules{Aggregate: model.AggregateMax, Clip: c.Spec.Weights.ResolveClip(model.DefaultClip)}
	c.Model = incremental.Config{Window: w, Rules: rules, TopN: n, HotN: *hotN, RecentN: *recentN, Prune: incremental.Pruning{Delta: *pruneDelta}, UserShards: *userShards, ItemShards: *itemShards}
	if err := c.Model.Validate(); err != nil {
		return c, err
	}
	windowStart := w.Since(w.BucketEnd(time.Now().Unix()))
	if kafka.Enabled() {
		k, err := kafka.Config(windowStart)
		if err != nil {
			return c, err
		}
		c.Kafka = &k
	}
	if pubsub.Enabled() {
		p, err := pubsub.Config(windowStart)
		if err != nil {
			return c, err
		}
		c.PubSub = &p
	}
	return c, nil
}

// run builds the job and runs it on the runner the flags name.
func run(ctx context.Context, c config) (beam.PipelineResult, error) {
	p, s := beam.NewPipelineWithRoot()
	var parsed, bad beam.PCollection
	switch {
	case c.Kafka != nil:
		records, err := kafkaio.Read(s, *c.Kafka)
		if err != nil {
			return nil, err
		}
		parsed, bad = interactions.Messages(s, c.Spec, "kafka://"+c.Kafka.Topic, beam.ParDo(s, recordValue, records))
	case c.PubSub != nil:
		msgs, err := pubsubio.Read(s, *c.PubSub)
		if err != nil {
			return nil, err
		}
		parsed, bad = interactions.Messages(s, c.Spec, "pubsub://"+c.PubSub.Subscription, beam.ParDo(s, messageData, msgs))
	default:
		src, err := input.Read(s, c.Spec, 0, 0)
		if err != nil {
			return nil, err
		}
		parsed, bad = interactions.Unbatch(s, src.Batches), src.Dead
	}
	updates, hot, recent, late := incremental.Model(s, c.Model, beam.ParDo(s, toUserEvent, parsed))
	textsink.WriteJSONParts(s.Scope("DeadLetter"), c.DeadLetter, beam.Flatten(s, bad, beam.ParDo(s, lateLetter, late)))
	if c.Output != "" {
		textsink.WriteJSONParts(s.Scope("Output"), c.Output, updates)
	}
	if c.HotOutput != "" {
		textsink.WriteJSONParts(s.Scope("HotOutput"), c.HotOutput, hot)
	}
	if c.RecentOutput != "" {
		textsink.WriteJSONParts(s.Scope("RecentOutput"), c.RecentOutput, recent)
	}
	if c.Datastore != nil {
		datastoreio.WriteLive(s, *c.Datastore, updates, hot, recent)
	}
	if err := runners.KeepKeysInOneBundle(); err != nil { // the model's and the writer's state
		return nil, err
	}
	res, err := beamx.RunWithMetrics(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("pipeline failed: %v", err)
	}
	return res, nil
}

// toUserEvent timestamps each parsed event with its time: the model works
// in event time. (Every event has one: the replay requires --time_field,
// and a message without one takes its record's time.)
func toUserEvent(e interactions.Event, emit func(beam.EventTime, incremental.UserEvent)) {
	emit(mtime.FromMilliseconds(e.Time*1000), incremental.UserEvent{User: e.User,
		Event: incremental.Event{Item: e.Item, Weight: e.Weight, Time: e.Time}})
}

// recordValue is a Kafka record's payload: one interaction.
func recordValue(r kafkaio.Record) []byte { return r.Value }

// messageData is a Pub/Sub message's payload: one interaction.
func messageData(m pubsubio.Message) []byte { return m.Data }

// lateLetter is a refused event's dead-letter line.
func lateLetter(l incremental.Late) interactions.DeadLetter {
	e := l.Event
	return interactions.DeadLetter{Reason: "late: " + l.Reason, Line: fmt.Sprintf("%s,%s,%g,%d", e.User, e.Event.Item, e.Event.Weight, e.Event.Time)}
}
