// Command similarity turns implicit-feedback logs into "customers who liked
// this also liked" lists: it reads (user, item, action[, time]) records,
// scores them per (user, item), estimates item-item cosine similarity with
// DIMSUM (exact at --threshold=0), keeps the top-N neighbours per item and
// writes them as JSONL (and to Datastore).
//
// It runs on Prism by default; --runner=dataflow or flink submit it
// elsewhere. Every setting is a flag (see the README).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/recsys/itemsim/runners"
	"github.com/recsys/itemsim/transforms/dimsum"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/popularity"
	"github.com/recsys/itemsim/transforms/scoring"
	"github.com/recsys/itemsim/transforms/textsink"
	"github.com/recsys/itemsim/transforms/topn"
)

var (
	input    = flag.String("input", "", "Interactions: a local path or glob, gs://bucket/glob, or bq://PROJECT.DATASET.TABLE (required unless --input_query).")
	format   = flag.String("format", "", "Input format: csv, tsv or jsonl (default: from the file extension).")
	header   = flag.Bool("header", true, "Delimited files start with a header row (field flags may then name columns).")
	userF    = flag.String("user_field", "user", "User field: header name, 0-based index, or JSON key.")
	itemF    = flag.String("item_field", "productSku", "Item field: header name, 0-based index, or JSON key.")
	actionF  = flag.String("action_field", "", "Action field, mapped through --weights (default: type, unless --score_field is set).")
	scoreF   = flag.String("score_field", "", "Numeric score field used as is, instead of --action_field.")
	timeF    = flag.String("time_field", "", "Optional event time field: unix seconds or RFC 3339.")
	weights  = flag.String("weights", "1:0.5,2:2,3:6", "Action weights, action:weight comma-separated (e.g. view:0.5,cart:2,purchase:6).")
	agg      = flag.String("aggregate", "sum", "One score per (user, item): sum of its event weights, or max single weight.")
	halfLife = flag.Duration("half_life", 0, "Time decay: an event's weight halves every half_life before --as_of (e.g. 720h; 0 disables).")
	asOf     = flag.String("as_of", "", "Reference time of the decay, RFC 3339 or unix seconds (default: the newest event).")
	since    = flag.String("since", "", "Keep events at or after this time (RFC 3339, date or unix seconds).")
	until    = flag.String("until", "", "Keep events before this time (RFC 3339, date or unix seconds).")
	maxItems = flag.Int("max_items_per_user", 0, "Keep each user's highest-scored items only (0: no cap).")
	clip     = flag.Float64("clip_score", -1, "Cap each (user, item) score (default -1: the largest action weight with --action_field, none with --score_field; 0 disables).")
	dead     = flag.String("dead_letter", "", "JSONL file of bad rows with reasons (default: the output path with .dead_letter.jsonl).")
	maxBad   = flag.Float64("max_bad_fraction", 0.01, "Fail the run when more than this fraction of rows is bad.")
	thresh   = flag.Float64("threshold", 0, "DIMSUM similarity threshold in [0, 1]: pairs above it are estimated within bounded error; 0 is exact cosine.")
	seed     = flag.Uint64("seed", 42, "Seed of DIMSUM's sampling: the same input and seed give byte-identical output.")
	topN     = flag.Int("top_n", 20, "Neighbours kept per item.")
	minSim   = flag.Float64("min_similarity", 0, "Drop neighbours whose similarity is below this.")
	output   = flag.String("output", "", "JSONL output: one line per item with its sorted neighbours (local or gs://).")
	popular  = flag.String("popular_output", "", "Optional JSON file of the most popular items (by users), the serving fallback: {\"items\":[{\"item\":...,\"users\":...},...]}.")
	popularN = flag.Int("popular_n", 100, "Items in --popular_output.")
	runID    = flag.String("run_id", "", "Version id of this run in the Datastore versioned layout (default: the UTC start time, 20060102T150405Z).")
	shards   = flag.Int("shards", scoring.DefaultShards, "Shards of users, and of items, that the shuffles group by: each shuffle moves a few large elements per worker and shard, and each shard is processed by one worker at a time.")
	sumGo    = flag.Int("sum_goroutines", 0, "Goroutines a worker sums a flush's pairs on, each holding a dense array of the item count (0: the cores, at most 4).")
	pending  = flag.Int("max_pending_pairs", dimsum.DefaultMaxPendingPairs, "Pairs a worker sums before it ships its partial sums: higher means fewer pairs shuffled; the worker holds only the entries, not the pairs.")
)

func init() {
	register.Function1x1(neighborsJSON)
	register.Function1x1(deadLetterJSON)
	register.Function3x0(afterGate)
	register.Function1x1(popularJSON)
	register.Emitter1[topn.Neighbors]()
}

// config is the validated run configuration.
type config struct {
	Input         string
	Spec          interactions.Spec
	Scoring       scoring.Config
	DIMSUM        dimsum.Config
	TopN          int
	MinSimilarity float64
	MaxBad        float64
	Output        string
	DeadLetter    string
	RunID         string
	Popular       string
	PopularN      int
}

func main() {
	flag.Parse()
	beam.Init()
	if err := runners.Prepare(); err != nil {
		fail(err)
	}
	ctx := context.Background()
	c, err := configFromFlags()
	if err != nil {
		fail(err)
	}
	start := time.Now()
	printOptions(c)
	res, err := run(ctx, c)
	if err != nil {
		fail(err)
	}
	fmt.Printf("output: %s\ndead letter: %s\n", c.Output, c.DeadLetter)
	if res != nil {
		printCounters(res.Metrics().AllMetrics())
	}
	fmt.Printf("wall time: %s\n", time.Since(start).Round(time.Millisecond))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "similarity:", err)
	os.Exit(1)
}

// configFromFlags validates the flags into a config. It fails fast, before
// anything runs, on whatever would make the run fail later.
func configFromFlags() (config, error) {
	c := config{Input: *input, Output: *output, DeadLetter: *dead, TopN: *topN, MinSimilarity: *minSim, MaxBad: *maxBad,
		Popular: *popular, PopularN: *popularN}
	bq := bigQueryInput(c.Input)
	if c.Input == "" && !bq {
		return c, fmt.Errorf("--input (or --input_query) is required")
	}
	if c.Output == "" {
		return c, fmt.Errorf("--output is required")
	}
	if c.RunID = *runID; c.RunID == "" {
		c.RunID = time.Now().UTC().Format("20060102T150405Z")
	}
	if c.DeadLetter == "" {
		c.DeadLetter = strings.TrimSuffix(c.Output, ".jsonl") + ".dead_letter.jsonl"
	}
	c.Spec = interactions.Spec{Format: *format, Header: *header, UserField: *userF, ItemField: *itemF,
		ActionField: *actionF, ScoreField: *scoreF, TimeField: *timeF}
	if bq {
		c.Spec.Format = interactions.FormatJSONL // typed columns: the format is not read
	}
	var err error
	if c.Spec, err = c.Spec.Complete(c.Input, *weights); err != nil {
		return c, err
	}
	sc := scoring.Config{Aggregate: *agg, HalfLife: halfLife.Seconds(), MaxItemsPerUser: *maxItems, Clip: *clip, Shards: *shards}
	if sc.Clip < 0 {
		sc.Clip = c.Spec.Weights.Max() // 0 (none) for --score_field
	}
	for _, t := range []struct {
		name, value string
		dst         *int64
	}{{"as_of", *asOf, &sc.AsOf}, {"since", *since, &sc.Since}, {"until", *until, &sc.Until}} {
		if t.value == "" {
			continue
		}
		v, err := interactions.ParseTime(t.value)
		if err != nil {
			return c, fmt.Errorf("--%s: %v", t.name, err)
		}
		*t.dst = v
	}
	if err := sc.Validate(); err != nil {
		return c, err
	}
	if sc.NeedsTime() && c.Spec.TimeField == "" {
		return c, fmt.Errorf("--half_life, --since and --until need --time_field")
	}
	c.Scoring = sc
	c.DIMSUM = dimsum.Config{Threshold: *thresh, Seed: *seed, MaxPendingPairs: *pending, Shards: *shards, Goroutines: *sumGo}
	if err := c.DIMSUM.Validate(); err != nil {
		return c, err
	}
	switch {
	case c.TopN < 1:
		return c, fmt.Errorf("--top_n must be at least 1")
	case c.PopularN < 1:
		return c, fmt.Errorf("--popular_n must be at least 1")
	case !(c.MaxBad >= 0 && c.MaxBad <= 1):
		return c, fmt.Errorf("--max_bad_fraction must be in [0, 1]")
	case math.IsNaN(c.MinSimilarity):
		return c, fmt.Errorf("--min_similarity must be a number")
	}
	if err := validateDatastoreFlags(c.TopN); err != nil {
		return c, err
	}
	return c, nil
}

// run builds the job and runs it on the runner --runner names (Prism by
// default).
func run(ctx context.Context, c config) (beam.PipelineResult, error) {
	p, s := beam.NewPipelineWithRoot()
	if err := build(s, c); err != nil {
		return nil, err
	}
	res, err := beamx.RunWithMetrics(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("pipeline failed: %v", err)
	}
	return res, nil
}

// build adds the whole job to the pipeline.
func build(s beam.Scope, c config) error {
	var src interactions.Result
	var err error
	if bigQueryInput(c.Input) {
		src, err = readBigQuery(s, c.Input, c.Spec, c.Scoring.Since, c.Scoring.Until)
	} else {
		src, err = interactions.Read(s, c.Input, c.Spec)
	}
	if err != nil {
		return err
	}
	deadDone := textsink.Write(s.Scope("DeadLetter"), c.DeadLetter, beam.ParDo(s, deadLetterJSON, src.Dead))
	gate := interactions.Gate(s, src.Stats, c.MaxBad, c.DeadLetter, deadDone)

	rows := scoring.PerUser(s, src.Batches, c.Scoring)
	table := dimsum.Table(s, rows, c.Scoring.Clip)
	pairs := dimsum.Similarities(s, c.DIMSUM, rows, table)
	neighbors := topn.Top(s, c.TopN, c.MinSimilarity, pairs, table)
	textsink.Write(s.Scope("Output"), c.Output, beam.ParDo(s, neighborsJSON, neighbors), gate)
	if c.Popular != "" {
		textsink.Write(s.Scope("Popular"), c.Popular, beam.ParDo(s, popularJSON, popularity.Top(s, rows, c.PopularN)), gate)
	}
	if datastoreEnabled() {
		// Nothing reaches Datastore unless the bad-row check passed.
		gated := beam.ParDo(s, afterGate, neighbors, beam.SideInput{Input: gate})
		writeDatastore(s.Scope("Datastore"), gated, c.RunID)
	}
	return nil
}

// afterGate passes neighbours on once the gate (a side input) is complete.
func afterGate(n topn.Neighbors, _ []int, emit func(topn.Neighbors)) { emit(n) }

// neighborsJSON renders one output line. encoding/json prints a float64 in
// its shortest form that reads back to the same value.
func neighborsJSON(n topn.Neighbors) string {
	b, err := json.Marshal(n)
	if err != nil {
		panic(err) // strings and finite floats always marshal
	}
	return string(b)
}

// popularJSON renders the ranked list as one JSON document on one line.
func popularJSON(items []popularity.Item) string {
	b, err := json.Marshal(struct {
		Items []popularity.Item `json:"items"`
	}{items})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func deadLetterJSON(d interactions.DeadLetter) string {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// printOptions prints the effective configuration, defaults resolved, on
// one line.
func printOptions(c config) {
	b, err := json.Marshal(c)
	if err != nil {
		fail(err)
	}
	runner := flag.Lookup("runner").Value.String()
	if runner == "" {
		runner = "prism"
	}
	fmt.Printf("similarity: starting on %s with %s\n", runner, b)
}

// printCounters prints the run's counters summed over steps, sorted by
// name, and the scale B that DIMSUM divided the scores by.
func printCounters(q metrics.QueryResults) {
	sums := map[string]int64{}
	for _, c := range q.Counters() {
		sums[c.Key.Namespace+"/"+c.Key.Name] += c.Result()
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Println("counters:")
	for _, n := range names {
		fmt.Printf("  %-36s %d\n", n, sums[n])
	}
	for _, g := range q.Gauges() {
		if g.Key.Namespace+"/"+g.Key.Name == dimsum.ScaleGauge {
			fmt.Printf("  %-36s %g\n", "dimsum/scale (B)", math.Float64frombits(uint64(g.Result().Value)))
		}
	}
}
