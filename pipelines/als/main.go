// Command als factorises the implicit-feedback matrix with alternating
// least squares (implicit, Hu, Koren & Volinsky's, by default; explicit
// ALS-WR with --implicit=false) on Beam: it reads (user, item, action[,
// time]) records as the similarity job does (the same input, record,
// scoring and window flags), scores them per (user, item), factorises the
// scores (transforms/als), and writes
//
//   - --output: each item's nearest items by the cosine of their factors,
//     in the similarity job's format, so today's server loads them as is;
//   - --user_output: each user's --user_top_n best items by xᵀy, own items
//     removed;
//   - --item_factors_output and --user_factors_output: the factors;
//   - --popular_output and a manifest naming every file (and the settings,
//     which a server's fold-in needs); and the lists to Datastore.
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
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/pipelines/options"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/runners"
	alsbeam "github.com/recsys/itemsim/transforms/als"
	"github.com/recsys/itemsim/transforms/datastoreio"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/manifest"
	"github.com/recsys/itemsim/transforms/popularity"
	"github.com/recsys/itemsim/transforms/scoring"
	"github.com/recsys/itemsim/transforms/textsink"
)

var (
	output      = flag.String("output", "", "JSONL output: one line per item with its nearest items by the cosine of their factors, the similarity job's format (local or gs://).")
	dead        = flag.String("dead_letter", "", "JSONL file of bad rows with reasons (default: the output path with .dead_letter.jsonl).")
	userOutput  = flag.String("user_output", "", "Optional JSONL file of each user's recommendations: {\"user\":...,\"items\":[{\"item\":...,\"score\":...},...]}, best first, the user's own items removed.")
	userTopN    = flag.Int("user_top_n", 20, "Items per user in --user_output and in Datastore.")
	itemFactors = flag.String("item_factors_output", "", "Optional JSONL file of the item factors, {\"id\":...,\"factor\":[...]} per line: what a server folds new users in against.")
	userFactors = flag.String("user_factors_output", "", "Optional JSONL file of the user factors, as --item_factors_output.")
	popular     = flag.String("popular_output", "", "Optional JSON file of the most popular items (by users), the serving fallback: {\"items\":[{\"item\":...,\"users\":...},...]}.")
	popularN    = flag.Int("popular_n", 100, "Items in --popular_output and in the Datastore version's popular list.")
	runID       = flag.String("run_id", "", "Version id of this run: the Datastore version and the manifest's version (default: the window's end, or the run's time without --until/--window, as 20060102T150405Z).")
	manifestOut = flag.String("manifest_output", "", "JSON manifest written once every output file is in place: the run's version, the ALS settings and each file's path, size and SHA-256, which the server checks (default: <output>"+publish.Suffix+" when --popular_output is set).")

	implicit   = flag.Bool("implicit", true, "Implicit-feedback ALS (Hu, Koren & Volinsky 2008: confidence 1 + alpha*score, preference 1 for every scored pair); false: explicit ALS-WR on the scores as ratings.")
	rank       = flag.Int("rank", 64, "Latent factors per user and item.")
	lambda     = flag.Float64("lambda", defaultLambda, "Regularisation: explicit mode scales it by each user's and item's rating count (as Spark does), implicit mode uses it as is. -1: 50 with --implicit, 0.1 without (the best of the sweeps on MovieLens 100K: docs/evaluate/als.md).")
	alpha      = flag.Float64("alpha", 2, "Implicit mode's confidence slope: c = 1 + alpha*score.")
	iterations = flag.Int("iterations", 10, "Alternations (users, then items).")
	seed       = flag.Uint64("seed", 1, "Seed of the initial factors (and of --validation_fraction's split): the same input and seed give the same bits.")
	blocks     = flag.Int("blocks", 0, "Blocks of users, and of items, each half-step is split into; the factors are the same bits for any number. More blocks spread a half-step over more workers, but ship each factor to more blocks. 0: 1 on Prism (which runs a stage as one bundle and solves a block on every core), 16 on Dataflow and Flink.")
	validation = flag.Float64("validation_fraction", 0, "Share of the scored (user, item) pairs held out, by a hash of (seed, user, item), and predicted after every iteration: the job prints the held-out RMSE per iteration (explicit mode's tuning aid). 0 holds none out.")

	// The flags every job shares (pipelines/options).
	input   = options.RegisterInput(flag.CommandLine)
	records = options.RegisterRecords(flag.CommandLine)
	score   = options.RegisterScoring(flag.CommandLine)
	window  = options.RegisterWindow(flag.CommandLine)
	top     = options.RegisterTopN(flag.CommandLine)
	maxBad  = options.RegisterMaxBadFraction(flag.CommandLine)
	store   = options.RegisterDatastore(flag.CommandLine)
)

// defaultLambda asks for the regularisation that suits the mode: the
// evaluation's best on MovieLens 100K, implicit (nDCG@10 0.4793 at rank 64,
// λ 50, α 2) and explicit (held-out RMSE 0.916–0.929 at λ 0.1–0.12).
const defaultLambda = -1

// config is the validated run configuration.
type config struct {
	Input         string
	Spec          interactions.Spec
	Scoring       scoring.Config
	ALS           alsbeam.Config
	TopN          int
	MinSimilarity float64
	UserTopN      int
	MaxBad        float64
	Output        string
	DeadLetter    string
	Users         string
	ItemFactors   string
	UserFactors   string
	Popular       string
	PopularN      int
	RunID         string
	// Manifest is written after the files; "" for none.
	Manifest string
	// Window is the span of event time the run reads, recorded in the
	// manifest and on the Datastore version: its End orders publications.
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
	if err := runners.PrintStart(os.Stdout, "als", c); err != nil {
		fail(err)
	}
	if proceed, err := store.Start(ctx, os.Stdout, "als", c.Manifest, options.Publication{Span: c.Span, Window: c.Window, Version: c.RunID}); err != nil {
		fail(err)
	} else if !proceed {
		return
	}
	res, err := run(ctx, c)
	if err != nil {
		fail(err)
	}
	fmt.Printf("output: %s\ndead letter: %s\n", c.Output, c.DeadLetter)
	if res != nil {
		q := res.Metrics().AllMetrics()
		printRMSE(q, c.ALS.Iterations)
		runners.PrintCounters(os.Stdout, q)
		store.ReportRefused(os.Stdout, "als", c.RunID, q)
	}
	fmt.Printf("wall time: %s\n", time.Since(start).Round(time.Millisecond))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "als:", err)
	os.Exit(1)
}

// configFromFlags validates the flags into a config. It fails fast, before
// anything runs, on whatever would make the run fail later.
func configFromFlags() (config, error) {
	c := config{Input: input.Path(), Output: *output, DeadLetter: *dead, Users: *userOutput, UserTopN: *userTopN,
		ItemFactors: *itemFactors, UserFactors: *userFactors, Popular: *popular, PopularN: *popularN, Manifest: *manifestOut}
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
	paths := map[string]string{}
	for flagName, path := range map[string]string{"output": c.Output, "dead_letter": c.DeadLetter, "user_output": c.Users,
		"item_factors_output": c.ItemFactors, "user_factors_output": c.UserFactors, "popular_output": c.Popular, "manifest_output": c.Manifest} {
		if other, ok := paths[path]; ok && path != "" {
			return c, fmt.Errorf("--%s and --%s are both %s", other, flagName, path)
		}
		paths[path] = flagName
	}
	pub, err := window.Publication(time.Now(), *runID)
	if err != nil {
		return c, err
	}
	c.Span, c.Window, c.RunID = pub.Span, pub.Window, pub.Version
	if c.Scoring, err = score.Config(c.Spec, &c.Span); err != nil {
		return c, err
	}
	c.Scoring.Seed = *seed // --max_items_per_user's tie-break
	c.ALS = alsbeam.Config{
		Config:             als.Config{Rank: *rank, Lambda: modeLambda(*lambda, *implicit), Implicit: *implicit, Alpha: *alpha, Iterations: *iterations, Seed: *seed},
		Blocks:             *blocks,
		ValidationFraction: *validation,
	}
	if c.ALS.Blocks == 0 {
		c.ALS.Blocks = alsbeam.BlocksFor(runners.Current())
	}
	if err := c.ALS.Validate(); err != nil {
		return c, err
	}
	if c.TopN, c.MinSimilarity, err = top.Values(); err != nil {
		return c, err
	}
	if c.UserTopN < 1 {
		return c, fmt.Errorf("--user_top_n must be at least 1")
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
	if store.Enabled() {
		if err := datastoreio.CheckUserTopN(c.UserTopN); err != nil {
			return c, err
		}
	}
	return c, nil
}

// modeLambda resolves --lambda's default for the mode.
func modeLambda(lambda float64, implicit bool) float64 {
	switch {
	case lambda != defaultLambda:
		return lambda
	case implicit:
		return 50
	}
	return 0.1
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
	f := alsbeam.Factorize(s, rows, c.ALS)
	neighbors := alsbeam.ItemNeighbors(s, f, c.TopN, c.MinSimilarity)
	files := manifest.Files{Similarities: c.Output}
	written := []beam.PCollection{textsink.WriteJSON(s.Scope("Output"), c.Output, neighbors, gate)}
	write := func(name, path string, values beam.PCollection) {
		if path != "" {
			written = append(written, textsink.WriteJSON(s.Scope(name), path, values, gate))
		}
	}
	var users beam.PCollection
	if c.Users != "" || store.Enabled() {
		users = alsbeam.UserLists(s, f, c.UserTopN)
	}
	write("Users", c.Users, users)
	files.Users = c.Users
	var itemRows beam.PCollection
	if c.ItemFactors != "" || store.Enabled() {
		itemRows = alsbeam.FactorRows(s, f.Items)
	}
	write("ItemFactors", c.ItemFactors, itemRows)
	files.ItemFactors = c.ItemFactors
	if c.UserFactors != "" {
		write("UserFactors", c.UserFactors, alsbeam.FactorRows(s, f.Users))
		files.UserFactors = c.UserFactors
	}
	var pop beam.PCollection
	if c.Popular != "" || store.Enabled() {
		pop = popularity.Top(s, rows, c.PopularN)
	}
	write("Popular", c.Popular, pop)
	files.Popular = c.Popular
	if c.Manifest != "" {
		w, settings, cosine := c.Window, c.ALS.Config, model.DefaultSimilarity()
		m := publish.Manifest{Version: c.RunID, Similarity: &cosine, Window: &w, ALS: &settings}
		manifest.Write(s, c.Manifest, m, files, written)
	}
	if store.Enabled() {
		writeDatastore(s.Scope("Datastore"), c, gate, neighbors, datastoreio.Products{Popular: pop, Users: users, ItemFactors: itemRows})
	}
	return nil
}

// printRMSE prints the held-out RMSE of each iteration, when the run held
// ratings out.
func printRMSE(q metrics.QueryResults, iterations int) {
	gauges := map[string]int64{}
	for _, g := range q.Gauges() {
		gauges[g.Key.Namespace+"/"+g.Key.Name] = g.Result().Value
	}
	n, ok := gauges[alsbeam.ValidationGauge]
	if !ok {
		return
	}
	for it := 1; it <= iterations; it++ {
		if bits, ok := gauges[fmt.Sprintf(alsbeam.RMSEGauge, it)]; ok {
			fmt.Printf("iteration %d: held-out RMSE %.4f over %d ratings\n", it, math.Float64frombits(uint64(bits)), n)
		}
	}
}
