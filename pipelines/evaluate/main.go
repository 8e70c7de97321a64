// Command evaluate measures offline how good the recommendations are: it
// holds out part of each user's items (--split=random with --seed, or
// --split=time), computes the similarity model on the rest with the
// similarity pipeline's transforms (on Prism by default), scores every user
// with the serving code (package recommend), and reports precision, recall,
// nDCG and MAP at --k, catalogue coverage, and the same for a most-popular
// baseline on the same split, as a table and as JSON (--report).
//
// Beside item-kNN and popularity it measures implicit ALS (--models, the
// --als_* flags; defaults tuned on MovieLens 100K, docs/evaluate/als.md)
// on the same split: Hu, Koren & Volinsky's model trained on the training
// rows' scores, every item it knows ranked by x_uᵀy_i less the user's
// training items, in the project's top-N order. With --als_rmse_sweep it
// trains explicit ALS-WR instead for a grid of ranks and λ on the training
// side and prints the held-out RMSE after every iteration, with a table and
// a plot (--als_rmse_out). Both train with model/als's Train in process:
// the single-process reference that the ALS job's Beam pipeline
// (pipelines/als) is tested to equal within 1e-9, so the same model, and
// much faster to sweep.
//
// With --sweep=grid.json it runs the model once per setting of the grid
// (measure, user weighting, α, shrinkage, --top_n) on the same split and
// measures each under every scoring option of the grid (neighbours used
// per training item, normalisation), writing a table sorted by nDCG and a
// plot to --sweep_out (see Grid and docs/evaluate).
//
//	go run ./pipelines/evaluate --input=../shared/datasets/ml-100k/u.data --format=tsv --header=false \
//	  --user_field=0 --item_field=1 --score_field=2 --report=/tmp/eval.json
//
// Field, scoring and similarity flags are the similarity job's
// (pipelines/options), but its --since and --until; its --seed (DIMSUM's)
// is --dimsum_seed here. The ALS job's --rank, --lambda, --alpha,
// --iterations and --seed are --als_rank, --als_lambda, --als_alpha,
// --als_iterations and --als_seed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/pipelines/options"
	"github.com/recsys/itemsim/transforms/dimsum"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/popularity"
	"github.com/recsys/itemsim/transforms/scoring"
	"github.com/recsys/itemsim/transforms/textsink"
	"github.com/recsys/itemsim/transforms/topn"
)

var (
	input    = flag.String("input", "", "Interactions: a local path or glob, or gs://bucket/glob (required).")
	popularN = flag.Int("popular_n", 10000, "Items ranked by popularity for the baseline and the fallback; more than any user's training items plus --k.")

	// The similarity job's flags (pipelines/options); its --seed is
	// --dimsum_seed here, since --seed seeds the split.
	records = options.RegisterRecords(flag.CommandLine)
	score   = options.RegisterScoring(flag.CommandLine)
	sim     = options.RegisterDIMSUM(flag.CommandLine, "dimsum_seed")
	top     = options.RegisterTopN(flag.CommandLine)
	maxBad  = options.RegisterMaxBadFraction(flag.CommandLine)

	split     = flag.String("split", SplitRandom, "How test items are chosen per user: random (seeded hash) or time (latest first-seen items; needs --time_field).")
	testFrac  = flag.Float64("test_fraction", 0.25, "Share of each user's distinct items held out.")
	splitSeed = flag.Uint64("seed", 42, "Seed of the random split: the same seed gives the same split.")
	k         = flag.Int("k", 10, "Cut-off of the ranking metrics.")
	normalize = flag.Bool("normalize", false, "Score with normalisation by the sum of similarities (recommend.Options.Normalize).")
	neighbors = flag.Int("neighbors", 0, "Score with each training item's best neighbours only (recommend.Options.Neighbors; 0: its whole list).")
	report    = flag.String("report", "", "Write the report as JSON to this path (optional).")
	workDir   = flag.String("work_dir", "", "Directory for the model and split files (default: a temporary directory, removed at the end).")

	sweep    = flag.String("sweep", "", "Sweep: a grid file (JSON, see Grid) of model settings, each run once on the same split and measured under each of its scoring options; the other flags are the base of every setting.")
	sweepOut = flag.String("sweep_out", "", "With --sweep: the path prefix of the results, <prefix>.md, <prefix>.json and <prefix>.png.")
)

func init() {
	register.Function2x0(keyByUser)
	register.DoFn6x1[context.Context, string, func(*interactions.Event) bool, func(interactions.Batch), func(interactions.Batch), func(Split), error](&splitFn{})
	register.Emitter2[string, interactions.Event]()
	register.Emitter1[interactions.Batch]()
	register.Emitter1[Split]()
	register.Iter1[interactions.Event]()
	register.Function1x1(splitJSON)
}

// Config is a validated evaluation run.
type Config struct {
	Input         string            `json:"input"`
	Spec          interactions.Spec `json:"spec"`
	Scoring       scoring.Config    `json:"scoring"`
	DIMSUM        dimsum.Config     `json:"dimsum"`
	TopN          int               `json:"top_n"`
	MinSimilarity float64           `json:"min_similarity"`
	MaxBad        float64           `json:"max_bad_fraction"`
	PopularN      int               `json:"popular_n"`
	Split         SplitConfig       `json:"split"`
	K             int               `json:"k"`
	Normalize     bool              `json:"normalize"`
	Neighbors     int               `json:"neighbors"`
	// Models are the table's columns (--models); ALS is the implicit ALS
	// trained when they list it.
	Models []string   `json:"models"`
	ALS    als.Config `json:"als"`
	// TestRows has the pipeline score the test events too, into the
	// test file, for --als_rmse_sweep.
	TestRows bool `json:"-"`
	// WorkDir holds the pipeline's outputs (see files).
	WorkDir string `json:"-"`
}

func main() {
	flag.Parse()
	beam.Init()
	c, err := configFromFlags()
	if err != nil {
		fail(err)
	}
	if c.WorkDir == "" {
		if c.WorkDir, err = os.MkdirTemp("", "evaluate-"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(c.WorkDir)
	}
	start := time.Now()
	if *alsRMSESweep != "" {
		if err := runRMSESweep(context.Background(), c, *alsRMSESweep, *alsRMSEOut, os.Stdout); err != nil {
			fail(err)
		}
		fmt.Printf("wall time: %s\n", time.Since(start).Round(time.Millisecond))
		return
	}
	if *sweep != "" {
		if err := runSweep(context.Background(), c, *sweep, *sweepOut); err != nil {
			fail(err)
		}
		fmt.Printf("wall time: %s\n", time.Since(start).Round(time.Millisecond))
		return
	}
	rep, err := Run(context.Background(), c)
	if err != nil {
		fail(err)
	}
	printReport(os.Stdout, rep)
	if *report != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(*report, append(b, '\n'), 0o644)
		}
		if err != nil {
			fail(err)
		}
		fmt.Println("report:", *report)
	}
	fmt.Printf("wall time: %s\n", time.Since(start).Round(time.Millisecond))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "evaluate:", err)
	os.Exit(1)
}

// configFromFlags validates the flags; the shared ones with the similarity
// pipeline's defaults and rules.
func configFromFlags() (Config, error) {
	c := Config{Input: *input, PopularN: *popularN,
		Split: SplitConfig{Mode: *split, TestFraction: *testFrac, Seed: *splitSeed}, K: *k, Normalize: *normalize, Neighbors: *neighbors, WorkDir: *workDir}
	if c.Input == "" {
		return c, fmt.Errorf("--input is required")
	}
	var err error
	if c.Spec, err = records.Spec(c.Input); err != nil {
		return c, err
	}
	if c.Scoring, err = score.Config(c.Spec, nil); err != nil {
		return c, err
	}
	if c.Split.Mode == SplitTime && c.Spec.TimeField == "" {
		return c, fmt.Errorf("--split=time needs --time_field")
	}
	if c.DIMSUM, err = sim.Config(c.Scoring.Shards); err != nil {
		return c, err
	}
	c.Scoring.Seed = c.DIMSUM.Seed // --max_items_per_user's tie-break
	if err := c.Split.Validate(); err != nil {
		return c, err
	}
	if c.TopN, c.MinSimilarity, err = top.Values(); err != nil {
		return c, err
	}
	if c.MaxBad, err = maxBad.Value(); err != nil {
		return c, err
	}
	switch {
	case c.K < 1:
		return c, fmt.Errorf("--k must be at least 1")
	case c.PopularN < c.K:
		return c, fmt.Errorf("--popular_n must be at least --k")
	case c.Neighbors < 0:
		return c, fmt.Errorf("--neighbors must be >= 0 (0: every neighbour)")
	case *sweep != "" && *sweepOut == "":
		return c, fmt.Errorf("--sweep needs --sweep_out")
	case *sweep != "" && *alsRMSESweep != "":
		return c, fmt.Errorf("--sweep and --als_rmse_sweep are separate runs: give one")
	}
	if c.Models, err = parseModels(*models); err != nil {
		return c, err
	}
	if c.ALS, err = alsFromFlags(); err != nil && (c.wants(ModelALS) || *alsRMSESweep != "") {
		return c, err
	}
	if *alsRMSESweep != "" {
		if err := rmseFlags(c); err != nil {
			return c, err
		}
		c.TestRows = true
	}
	return c, nil
}

// files are the pipeline's outputs in the work directory.
type files struct {
	Similarities, Popular, Train, Test, Splits, DeadLetter string
}

func (c Config) files() files {
	p := func(name string) string { return filepath.Join(c.WorkDir, name) }
	return files{p("similarities.jsonl"), p("popular.json"), p("train.jsonl"), p("test.jsonl"), p("splits.jsonl"), p("dead_letter.jsonl")}
}

// Run splits, builds the model on the training side in a Beam pipeline,
// then scores and measures in plain Go.
func Run(ctx context.Context, c Config) (Report, error) {
	if err := runPipeline(ctx, c); err != nil {
		return Report{}, err
	}
	return evaluate(c)
}

// runPipeline writes the split and the model into c's work directory.
func runPipeline(ctx context.Context, c Config) error {
	p, s := beam.NewPipelineWithRoot()
	if err := build(s, c); err != nil {
		return err
	}
	if _, err := beamx.RunWithMetrics(ctx, p); err != nil {
		return fmt.Errorf("pipeline failed: %v", err)
	}
	return nil
}

// build adds the split and the similarity job on the training side.
func build(s beam.Scope, c Config) error {
	f := c.files()
	src, err := interactions.Read(s, c.Input, c.Spec)
	if err != nil {
		return err
	}
	deadDone := textsink.WriteJSON(s.Scope("DeadLetter"), f.DeadLetter, src.Dead)
	gate := interactions.Gate(s, src.Stats, c.MaxBad, f.DeadLetter, deadDone)

	byUser := beam.GroupByKey(s, beam.ParDo(s, keyByUser, src.Batches))
	train, test, splits := beam.ParDo3(s, &splitFn{Config: c.Split, Test: c.TestRows}, byUser)

	rows := scoring.PerUser(s, train, c.Scoring)
	table, pairs := dimsum.Pairs(s, c.DIMSUM, rows, c.Scoring.Clip)
	neighbors := topn.Top(s, c.TopN, c.MinSimilarity, pairs, table)
	textsink.WriteJSON(s.Scope("Similarities"), f.Similarities, neighbors, gate)
	textsink.WriteJSON(s.Scope("Popular"), f.Popular, popularity.Top(s, rows, c.PopularN), gate)
	textsink.WriteJSON(s.Scope("Train"), f.Train, scoring.Rows(s, rows), gate)
	textsink.Write(s.Scope("Splits"), f.Splits, beam.ParDo(s, splitJSON, splits), gate)
	if c.TestRows {
		ts := s.Scope("Test")
		textsink.WriteJSON(ts, f.Test, scoring.Rows(ts, scoring.PerUser(ts, test, c.testScoring())), gate)
	}
	return nil
}

// keyByUser keys each event by its user, for the per-user split.
func keyByUser(b interactions.Batch, emit func(string, interactions.Event)) {
	for _, e := range b.Events {
		emit(e.User, e)
	}
}

// splitFn splits each user's events: training events go on to scoring (as
// one batch per user), with Test the test events too (to score the held-out
// ratings), and one Split per user records both sides.
type splitFn struct {
	Config SplitConfig
	Test   bool
	buf    []interactions.Event
}

func (f *splitFn) ProcessElement(_ context.Context, user string, events func(*interactions.Event) bool, train, test func(interactions.Batch), splits func(Split)) error {
	f.buf = f.buf[:0]
	var e interactions.Event
	for events(&e) {
		f.buf = append(f.buf, e)
	}
	sp, kept, err := f.Config.SplitUser(user, f.buf)
	if err != nil {
		return err
	}
	if len(kept) > 0 {
		train(interactions.Batch{Events: kept})
	}
	if f.Test && len(kept) < len(f.buf) {
		test(interactions.Batch{Events: heldOut(f.buf, sp.Test)})
	}
	splits(sp)
	return nil
}

// The output lines. Beam registers functions by name, so each element type
// gets a named function rather than an instance of a generic one.
func splitJSON(s Split) string { return toJSON(s) }

// toJSON renders one output line.
func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and finite floats always marshal
	}
	return string(b)
}
