// Command similarity turns implicit-feedback logs into "customers who liked
// this also liked" lists: it reads (user, item, action[, time]) records,
// scores them per (user, item), estimates item-item cosine similarity with
// DIMSUM (exact at --threshold=0) or computes another measure exactly
// (--measure: jaccard, llr, lift, cooccurrence; cosine's --user_weighting,
// --asymmetric_alpha and --shrinkage), keeps the top-N neighbours per item
// and writes them as JSONL (and to Datastore).
//
// It runs on Prism by default; --runner=dataflow or flink submit it
// elsewhere. Every setting is a flag (see the README).
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/pipelines/options"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/runners"
	"github.com/recsys/itemsim/transforms/dimsum"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/manifest"
	"github.com/recsys/itemsim/transforms/popularity"
	"github.com/recsys/itemsim/transforms/scoring"
	"github.com/recsys/itemsim/transforms/textsink"
	"github.com/recsys/itemsim/transforms/topn"
)

var (
	dead        = flag.String("dead_letter", "", "JSONL file of bad rows with reasons (default: the output path with .dead_letter.jsonl).")
	output      = flag.String("output", "", "JSONL output: one line per item with its sorted neighbours (local or gs://).")
	popular     = flag.String("popular_output", "", "Optional JSON file of the most popular items (by users), the serving fallback: {\"items\":[{\"item\":...,\"users\":...},...]}.")
	popularN    = flag.Int("popular_n", 100, "Items in --popular_output and in the Datastore version's popular list.")
	runID       = flag.String("run_id", "", "Version id of this run: the Datastore version and the manifest's version (default: the window's end, or the run's time without --until/--window, as 20060102T150405Z, so a re-run of one day's window is the same version).")
	manifestOut = flag.String("manifest_output", "", "JSON manifest written once --output and --popular_output are both in place: the run's version (--run_id) and each file's path, size and SHA-256, which the server checks so that it never pairs files of two runs (default: <output>"+publish.Suffix+" when --popular_output is set).")

	// The flags every job shares (pipelines/options).
	input   = options.RegisterInput(flag.CommandLine)
	records = options.RegisterRecords(flag.CommandLine)
	score   = options.RegisterScoring(flag.CommandLine)
	window  = options.RegisterWindow(flag.CommandLine)
	sim     = options.RegisterDIMSUM(flag.CommandLine, "seed")
	top     = options.RegisterTopN(flag.CommandLine)
	maxBad  = options.RegisterMaxBadFraction(flag.CommandLine)
	store   = options.RegisterDatastore(flag.CommandLine)
)

func init() {
	register.Function3x0(afterGate)
	register.Emitter1[model.Neighbors]()
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
	// Manifest is written after Output and Popular; "" for none.
	Manifest string
	// Window is the span of event time the run reads (the resolved
	// --since/--until/--window), recorded in the manifest and on the
	// Datastore version: its End orders publications.
	Window publish.Window
	// Span is the resolved window flags, for the run's log.
	Span options.Span `json:"-"`
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
	if err := runners.PrintStart(os.Stdout, "similarity", c); err != nil {
		fail(err)
	}
	if proceed, err := store.Start(ctx, os.Stdout, "similarity", c.Manifest, options.Publication{Span: c.Span, Window: c.Window, Version: c.RunID}); err != nil {
		fail(err)
	} else if !proceed {
		return
	}
	res, err := run(ctx, c)
	if err != nil {
		fail(err)
	}
	fmt.Printf("measure: %s\noutput: %s\ndead letter: %s\n", c.DIMSUM.Similarity, c.Output, c.DeadLetter)
	if res != nil {
		printCounters(res.Metrics().AllMetrics())
		store.ReportRefused(os.Stdout, "similarity", c.RunID, res.Metrics().AllMetrics())
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
	c := config{Input: input.Path(), Output: *output, DeadLetter: *dead, Popular: *popular, PopularN: *popularN, Manifest: *manifestOut}
	var err error
	if c.Spec, err = input.Spec(records); err != nil {
		return c, err
	}
	if c.Output == "" {
		return c, fmt.Errorf("--output is required")
	}
	if c.DeadLetter == "" {
		c.DeadLetter = strings.TrimSuffix(c.Output, ".jsonl") + ".dead_letter.jsonl"
	}
	if c.Manifest == "" && c.Popular != "" {
		c.Manifest = publish.DefaultPath(c.Output)
	}
	if c.Manifest != "" && (c.Manifest == c.Output || c.Manifest == c.Popular || c.Manifest == c.DeadLetter) {
		return c, fmt.Errorf("--manifest_output %s is also another output's path", c.Manifest)
	}
	pub, err := window.Publication(time.Now(), *runID)
	if err != nil {
		return c, err
	}
	c.Span, c.Window, c.RunID = pub.Span, pub.Window, pub.Version
	if c.Scoring, err = score.Config(c.Spec, &c.Span); err != nil {
		return c, err
	}
	if c.DIMSUM, err = sim.Config(c.Scoring.Shards); err != nil {
		return c, err
	}
	c.Scoring.Seed = c.DIMSUM.Seed // --max_items_per_user's tie-break
	if c.TopN, c.MinSimilarity, err = top.Values(); err != nil {
		return c, err
	}
	if c.MaxBad, err = maxBad.Value(); err != nil {
		return c, err
	}
	if c.PopularN < 1 {
		return c, fmt.Errorf("--popular_n must be at least 1")
	}
	if err := store.Validate(c.TopN, c.PopularN); err != nil {
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
	src, err := input.Read(s, c.Spec, c.Scoring.Since, c.Scoring.Until)
	if err != nil {
		return err
	}
	deadDone := textsink.WriteJSON(s.Scope("DeadLetter"), c.DeadLetter, src.Dead)
	gate := interactions.Gate(s, src.Stats, c.MaxBad, c.DeadLetter, deadDone)
	if c.Manifest != "" {
		// The outputs wait for the order check too: no file of a run older
		// than the published one replaces it.
		gate = beam.Flatten(s, gate, manifest.CheckOrder(s, c.Manifest, c.RunID, c.Window.End))
	}

	rows := scoring.PerUser(s, src.Batches, c.Scoring)
	table, pairs := dimsum.Pairs(s, c.DIMSUM, rows, c.Scoring.Clip)
	neighbors := topn.Top(s, c.TopN, c.MinSimilarity, pairs, table)
	written := []beam.PCollection{textsink.WriteJSON(s.Scope("Output"), c.Output, neighbors, gate)}
	// The popular list goes to its file and into the Datastore version.
	var popular beam.PCollection
	if c.Popular != "" || store.Enabled() {
		popular = popularity.Top(s, rows, c.PopularN)
	}
	if c.Popular != "" {
		written = append(written, textsink.WriteJSON(s.Scope("Popular"), c.Popular, popular, gate))
	}
	if c.Manifest != "" {
		w := c.Window
		m := publish.Manifest{Version: c.RunID, Similarity: published(c.DIMSUM.Similarity), Window: &w}
		manifest.Write(s, c.Manifest, m, manifest.Files{Similarities: c.Output, Popular: c.Popular}, written)
	}
	if store.Enabled() {
		// Nothing reaches Datastore unless the bad-row check passed.
		gated := beam.ParDo(s, afterGate, neighbors, beam.SideInput{Input: gate})
		writeDatastore(s.Scope("Datastore"), gated, popular, c.RunID, c.DIMSUM.Similarity, c.Window)
	}
	return nil
}

// afterGate passes neighbours on once the gate (a side input) is complete.
func afterGate(n model.Neighbors, _ []int, emit func(model.Neighbors)) { emit(n) }

// printCounters prints the run's counters summed over steps, sorted by
// name, and the scale B that DIMSUM divided the scores by.
func printCounters(q metrics.QueryResults) {
	runners.PrintCounters(os.Stdout, q)
	for _, g := range q.Gauges() {
		if g.Key.Namespace+"/"+g.Key.Name == dimsum.ScaleGauge {
			fmt.Printf("  %-36s %g\n", "dimsum/scale (B)", math.Float64frombits(uint64(g.Result().Value)))
		}
	}
}
