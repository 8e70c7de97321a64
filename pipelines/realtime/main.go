// Command realtime keeps item-item similarities up to date on a stream of
// interactions, TencentRec's real-time item-based CF
// (transforms/incremental): every --emit_interval of event time it writes
// the items whose top-N list changed, each list the batch job's
// --measure=corating --aggregate=max list over the sliding --window that
// ends there.
//
// This first source is a replay: the batch job's inputs (files, local or
// gs://, or BigQuery) read as a stream in event time, each event
// timestamped with its --time_field; the model orders them by event time
// itself, so the replay needs no sort, and the same events give the same
// lists on every runner. Bad records and events later than
// --allowed_lateness go to the dead letter with their reason.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/pipelines/options"
	"github.com/recsys/itemsim/runners"
	"github.com/recsys/itemsim/transforms/incremental"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/textsink"
)

var (
	output     = flag.String("output", "", "JSONL of the list updates: one line per item whose top-N list changed at a bucket end, {\"end\":unix seconds,\"item\":...,\"neighbors\":[...]} (an empty list: the item left the window).")
	dead       = flag.String("dead_letter", "", "JSONL file of bad records and late events with reasons (default: the output path with .dead_letter.jsonl).")
	length     = flag.Duration("window", 720*time.Hour, "Sliding window of the model: an item pair counts the users who rated both inside it.")
	slice      = flag.Duration("slice", 24*time.Hour, "The window slides by slices of this length (it divides --window): a user keeps the largest weight per item and slice.")
	emit       = flag.Duration("emit_interval", time.Second, "Event time between two writes of the changed lists (it divides --slice).")
	lateness   = flag.Duration("allowed_lateness", 0, "How far behind the model's time an event may arrive and still count; an older one goes to the dead letter.")
	userShards = flag.Int("user_shards", 16, "Keys of the user side: each shard's users are advanced by one timer per bucket.")
	itemShards = flag.Int("item_shards", 16, "Keys of the item side: each shard holds the lists of its items and every item's count.")
	maxBad     = options.RegisterMaxBadFraction(flag.CommandLine)
	input      = options.RegisterInput(flag.CommandLine)
	records    = options.RegisterRecords(flag.CommandLine)
	top        = options.RegisterTopN(flag.CommandLine)
)

func init() {
	register.Function2x0(toUserEvent)
	register.Function1x1(lateLetter)
	register.Emitter2[beam.EventTime, incremental.UserEvent]()
}

// config is the validated run configuration.
type config struct {
	Input      string
	Spec       interactions.Spec
	Model      incremental.Config
	MaxBad     float64
	Output     string
	DeadLetter string
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
	fmt.Printf("output: %s\ndead letter: %s\n", c.Output, c.DeadLetter)
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
	c := config{Input: input.Path(), Output: *output, DeadLetter: *dead}
	var err error
	if c.Spec, err = input.Spec(records); err != nil {
		return c, err
	}
	if c.Spec.TimeField == "" {
		return c, fmt.Errorf("--time_field is required: the stream orders and windows events by their time")
	}
	if c.Output == "" {
		return c, fmt.Errorf("--output is required")
	}
	if c.DeadLetter == "" {
		c.DeadLetter = strings.TrimSuffix(c.Output, ".jsonl") + ".dead_letter.jsonl"
	}
	n, minSim, err := top.Values()
	if err != nil {
		return c, err
	}
	if minSim != 0 {
		return c, fmt.Errorf("--min_similarity=%v: the stream keeps whole top-N lists; filter when serving", minSim)
	}
	w, err := incremental.NewWindow(*length, *slice, *emit, *lateness)
	if err != nil {
		return c, err
	}
	// The rating is a user's largest action weight, which the default clip
	// (the largest weight; none for scores) never lowers.
	rules := model.Rules{Aggregate: model.AggregateMax, Clip: c.Spec.Weights.ResolveClip(model.DefaultClip)}
	c.Model = incremental.Config{Window: w, Rules: rules, TopN: n, UserShards: *userShards, ItemShards: *itemShards}
	if err := c.Model.Validate(); err != nil {
		return c, err
	}
	if c.MaxBad, err = maxBad.Value(); err != nil {
		return c, err
	}
	return c, nil
}

// run builds the job and runs it on the runner the flags name.
func run(ctx context.Context, c config) (beam.PipelineResult, error) {
	p, s := beam.NewPipelineWithRoot()
	src, err := input.Read(s, c.Spec, 0, 0)
	if err != nil {
		return nil, err
	}
	events := beam.ParDo(s, toUserEvent, src.Batches)
	updates, late := incremental.Model(s, c.Model, events)
	deadLetters := beam.Flatten(s, src.Dead, beam.ParDo(s, lateLetter, late))
	deadDone := textsink.WriteJSON(s.Scope("DeadLetter"), c.DeadLetter, deadLetters)
	gate := interactions.Gate(s, src.Stats, c.MaxBad, c.DeadLetter, deadDone)
	textsink.WriteJSON(s.Scope("Output"), c.Output, updates, gate)
	res, err := beamx.RunWithMetrics(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("pipeline failed: %v", err)
	}
	return res, nil
}

// toUserEvent timestamps each parsed event with its time: the model works
// in event time. (Every event has one: --time_field is required.)
func toUserEvent(b interactions.Batch, emit func(beam.EventTime, incremental.UserEvent)) {
	for _, e := range b.Events {
		emit(mtime.FromMilliseconds(e.Time*1000), incremental.UserEvent{User: e.User,
			Event: incremental.Event{Item: e.Item, Weight: e.Weight, Time: e.Time}})
	}
}

// lateLetter is a refused event's dead-letter line.
func lateLetter(l incremental.Late) interactions.DeadLetter {
	e := l.Event
	return interactions.DeadLetter{Reason: "late: " + l.Reason, Line: fmt.Sprintf("%s,%s,%g,%d", e.User, e.Event.Item, e.Event.Weight, e.Event.Time)}
}
