// Package options registers the flags the jobs share, once, with their
// doc strings, and validates them into the transforms' configs: how records
// are parsed (interactions.Spec), how they are scored (scoring.Config, and
// the --since/--until/--window window, relative to the run), DIMSUM (dimsum.Config), the top-N lists and
// the bad-row limit.
//
// Each group registers on the FlagSet it is given, so a job takes only the
// groups it needs, under the same names, defaults and meanings as every
// other job:
//
//	var (
//		records = options.RegisterRecords(flag.CommandLine)
//		score   = options.RegisterScoring(flag.CommandLine)
//	)
//
//	func main() {
//		flag.Parse()
//		beam.Init()
//		spec, err := records.Spec(*input)
//		...
//		sc, err := score.Config(spec, nil)
//
// A group's getters are meant to be called after the flags are parsed; the
// errors they return name the flag to fix. The source of the input (--input,
// BigQuery, a stream) is each job's own flag, since what it accepts differs.
//
// templates/dataflow's test reads the Register functions' flag definitions
// to check the Flex Template against the similarity job: keep each flag's
// name a string literal, a constant or a string parameter of its Register
// function.
package options

import (
	"flag"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/scoring"
)

// Records are the flags that say how a record is parsed: the format, the
// header and the field of each column, and the action weights.
type Records struct {
	format, userField, itemField, actionField, scoreField, timeField, weights *string
	header                                                                    *bool
}

// RegisterRecords registers --format, --header, --user_field,
// --item_field, --action_field, --score_field, --time_field and --weights
// on fs.
func RegisterRecords(fs *flag.FlagSet) *Records {
	return &Records{
		format:      fs.String("format", "", "Input format: csv, tsv or jsonl (default: from the file extension)."),
		header:      fs.Bool("header", true, "Delimited files start with a header row (field flags may then name columns)."),
		userField:   fs.String("user_field", "user", "User field: header name, 0-based index, or JSON key."),
		itemField:   fs.String("item_field", "productSku", "Item field: header name, 0-based index, or JSON key."),
		actionField: fs.String("action_field", "", "Action field, mapped through --weights (default: type, unless --score_field is set)."),
		scoreField:  fs.String("score_field", "", "Numeric score field used as is, instead of --action_field."),
		timeField:   fs.String("time_field", "", "Optional event time field: unix seconds or RFC 3339."),
		weights:     fs.String("weights", "1:0.5,2:2,3:6", "Action weights, action:weight comma-separated (e.g. view:0.5,cart:2,purchase:6)."),
	}
}

// Spec is the validated record spec for the files of input: the format
// from input's extension unless --format is set, the action field "type"
// unless --score_field is set, and the parsed --weights (see
// interactions.Spec.Complete).
func (r *Records) Spec(input string) (interactions.Spec, error) {
	return r.flags().Complete(input, *r.weights)
}

// MessageSpec is Spec for a stream's messages, one record each: JSONL
// unless --format says csv or tsv, whose fields are then 0-based indices
// (a message has no header; --header is ignored).
func (r *Records) MessageSpec() (interactions.Spec, error) {
	s := r.flags()
	s.Header = false
	if s.Format == "" {
		s.Format = interactions.FormatJSONL
	}
	s, err := s.Complete("", *r.weights)
	if err != nil {
		return s, err
	}
	_, err = interactions.NewParser(s, nil)
	return s, err
}

// TypedSpec is Spec for a source with typed columns (BigQuery), which is
// read as JSONL whatever --format says.
func (r *Records) TypedSpec() (interactions.Spec, error) {
	s := r.flags()
	s.Format = interactions.FormatJSONL
	return s.Complete("", *r.weights)
}

// flags is the spec as the flags give it, defaults not yet resolved.
func (r *Records) flags() interactions.Spec {
	return interactions.Spec{Format: *r.format, Header: *r.header, UserField: *r.userField, ItemField: *r.itemField,
		ActionField: *r.actionField, ScoreField: *r.scoreField, TimeField: *r.timeField}
}

// Scoring are the flags of scoring.Config but the window (see Window).
type Scoring struct {
	aggregate *string
	halfLife  *time.Duration
	asOf      *string
	maxItems  *int
	clip      *float64
	shards    *int
}

// RegisterScoring registers --aggregate, --half_life, --as_of,
// --max_items_per_user, --clip_score and --shards on fs.
func RegisterScoring(fs *flag.FlagSet) *Scoring {
	return &Scoring{
		aggregate: fs.String("aggregate", model.AggregateSum, "One score per (user, item): sum of its event weights, or max single weight."),
		halfLife:  fs.Duration("half_life", 0, "Time decay: an event's weight halves every half_life before --as_of (e.g. 720h; 0 disables)."),
		asOf:      fs.String("as_of", "", "Reference time of the decay, RFC 3339 or unix seconds (default: the newest event scored)."),
		maxItems:  fs.Int("max_items_per_user", 0, "Keep each user's highest-scored items only, ranked before clipping, ties broken by a hash of (seed, user, item) (0: no cap)."),
		clip:      fs.Float64("clip_score", model.DefaultClip, "Cap each (user, item) score (default -1: the largest action weight with --action_field, none with --score_field; 0 disables)."),
		shards:    fs.Int("shards", scoring.DefaultShards, "Shards of users, and of items, that the shuffles group by: each shuffle moves a few large elements per worker and shard, and each shard is processed by one worker at a time."),
	}
}

// Window are the flags that keep the events of a time window: --since and
// --until, each a time or a duration relative to the run, or --window, a
// length ending at --until. Relative values count from the run's reference
// time, --run_time (default: the launch) truncated to --window_align, so a
// nightly launch needs no date arithmetic and every launch of one day gets
// the same window.
type Window struct {
	since, until, runTime *string
	length, align         *time.Duration
}

// DefaultWindowAlign is --window_align's default: relative times count from
// the run's UTC midnight.
const DefaultWindowAlign = 24 * time.Hour

// RegisterWindow registers --since, --until, --window, --run_time and
// --window_align on fs.
func RegisterWindow(fs *flag.FlagSet) *Window {
	return &Window{
		since:   fs.String("since", "", "Keep events at or after this time: RFC 3339, a date, unix seconds, or a duration relative to the run's reference time (e.g. -720h; see --run_time)."),
		until:   fs.String("until", "", "Keep events before this time: RFC 3339, a date, unix seconds, or a duration relative to the run's reference time (e.g. 0h: its midnight)."),
		length:  fs.Duration("window", 0, "Keep the events of this long a window ending at --until, or at the run's reference time without --until (e.g. 720h: the last 30 days; 0: no window). Not with --since."),
		runTime: fs.String("run_time", "", "The run's time, which relative --since/--until and --window count from after --window_align (RFC 3339, date or unix seconds; default: now). Set it to run a past day again."),
		align:   fs.Duration("window_align", DefaultWindowAlign, "Truncate --run_time to a multiple of this (UTC) before relative times count from it: with 24h every run of a day gets the same window, hence the same version; 0 counts from the exact time."),
	}
}

// Span is a resolved window: the bounds the events are kept between, in
// unix seconds (0: unbounded), and the times relative values counted from.
type Span struct {
	Since, Until int64
	// Run is the run's time (--run_time, or the first Resolve's clock), and
	// Reference is Run truncated to --window_align.
	Run, Reference time.Time
	// Relative reports whether a bound was given relative to Reference.
	Relative bool
}

// End is the time the span's events end: Until, or the run's time when
// the window is open-ended (every event until the run). It orders the
// versions runs publish (publish.CheckOrder).
func (s Span) End() time.Time {
	if s.Until != 0 {
		return time.Unix(s.Until, 0).UTC()
	}
	return s.Run
}

// String describes the span for the run's log.
func (s Span) String() string {
	bound := func(t int64, none string) string {
		if t == 0 {
			return none
		}
		return time.Unix(t, 0).UTC().Format(time.RFC3339)
	}
	out := fmt.Sprintf("events from %s until %s", bound(s.Since, "the first"), bound(s.Until, "the last"))
	if s.Relative {
		out += fmt.Sprintf(" (relative to %s, the run time %s aligned)", s.Reference.Format(time.RFC3339), s.Run.Format(time.RFC3339))
	}
	return out
}

// Resolve returns the window the flags give, relative values counted from
// the run's reference time: --run_time, else now, truncated to
// --window_align. A job resolves it once and passes the Span on, so that
// every part of a run sees one window.
func (w *Window) Resolve(now time.Time) (Span, error) {
	var sp Span
	if *w.align < 0 {
		return sp, fmt.Errorf("--window_align must be >= 0")
	}
	if *w.length < 0 {
		return sp, fmt.Errorf("--window must be >= 0 (0: no window)")
	}
	if *w.length > 0 && *w.since != "" {
		return sp, fmt.Errorf("--window and --since both set the window's start: give one")
	}
	sp.Run = now.UTC().Truncate(time.Second)
	if *w.runTime != "" {
		t, err := interactions.ParseTime(*w.runTime)
		if err != nil {
			return sp, fmt.Errorf("--run_time: %v", err)
		}
		sp.Run = time.Unix(t, 0).UTC()
	}
	sp.Reference = sp.Run
	if *w.align > 0 {
		sp.Reference = sp.Run.Truncate(*w.align)
	}
	for _, b := range []struct {
		name  string
		value string
		dst   *int64
	}{{"since", *w.since, &sp.Since}, {"until", *w.until, &sp.Until}} {
		if b.value == "" {
			continue
		}
		t, relative, err := windowTime(b.value, sp.Reference)
		if err != nil {
			return sp, fmt.Errorf("--%s: %v", b.name, err)
		}
		*b.dst, sp.Relative = t, sp.Relative || relative
	}
	if *w.length > 0 {
		if *w.until == "" {
			sp.Until, sp.Relative = sp.Reference.Unix(), true
		}
		sp.Since = sp.Until - int64(w.length.Seconds())
	}
	if sp.Since != 0 && sp.Until != 0 && sp.Since >= sp.Until {
		return sp, fmt.Errorf("--since must be before --until: the window [%s, %s) is empty", time.Unix(sp.Since, 0).UTC().Format(time.RFC3339), time.Unix(sp.Until, 0).UTC().Format(time.RFC3339))
	}
	return sp, nil
}

// windowTime reads a bound: a time (interactions.ParseTime), else a signed
// duration added to ref. A bound of 0 would read as unbounded, so it is
// refused.
func windowTime(v string, ref time.Time) (t int64, relative bool, err error) {
	if t, err = interactions.ParseTime(v); err != nil {
		d, derr := time.ParseDuration(strings.TrimSpace(v))
		if derr != nil {
			return 0, false, fmt.Errorf("%q is neither a time (RFC 3339, a date or unix seconds) nor a duration relative to the run (-720h, 0h)", v)
		}
		t, relative = ref.Add(d).Unix(), true
	}
	if t == 0 {
		return 0, false, fmt.Errorf("%q is the unix epoch, which means no bound: leave the flag out", v)
	}
	return t, relative, nil
}

// Config is the validated scoring.Config for records parsed by spec: a
// negative --clip_score becomes the largest of spec's weights, none with
// --score_field (model.Weights.ResolveClip). w adds its window (see
// Window.Resolve); nil scores every event.
func (s *Scoring) Config(spec interactions.Spec, w *Span) (scoring.Config, error) {
	c := scoring.Config{Rules: model.Rules{Aggregate: *s.aggregate, HalfLife: s.halfLife.Seconds(), MaxItemsPerUser: *s.maxItems,
		Clip: spec.Weights.ResolveClip(*s.clip)}, Shards: *s.shards}
	if *s.asOf != "" {
		v, err := interactions.ParseTime(*s.asOf)
		if err != nil {
			return c, fmt.Errorf("--as_of: %v", err)
		}
		c.AsOf = v
	}
	if w != nil {
		c.Since, c.Until = w.Since, w.Until
	}
	if c.Shards < 0 {
		return c, fmt.Errorf("--shards must be >= 0 (0 means %d)", scoring.DefaultShards)
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	if c.NeedsTime() && spec.TimeField == "" {
		if w != nil {
			return c, fmt.Errorf("--half_life, --since, --until and --window need --time_field")
		}
		return c, fmt.Errorf("--half_life needs --time_field")
	}
	return c, nil
}

// DIMSUM are the flags of dimsum.Config but its shards, which are the
// scoring's (--shards).
type DIMSUM struct {
	threshold  *float64
	seed       *uint64
	pending    *int
	goroutines *int

	measure   *string
	weighting *string
	bm25K1    *float64
	bm25B     *float64
	alpha     *float64
	shrinkage *float64
	rp3Beta   *float64
}

// RegisterDIMSUM registers --threshold, the sampling seed as --<seedFlag>,
// --max_pending_pairs and --sum_goroutines on fs. The jobs also give the
// seed to scoring.Config.Seed (the cap's tie-break). The similarity job names
// the seed "seed"; a job whose --seed seeds something else names it
// otherwise (evaluate: "dimsum_seed").
func RegisterDIMSUM(fs *flag.FlagSet, seedFlag string) *DIMSUM {
	return &DIMSUM{
		threshold:  fs.Float64("threshold", 0, "DIMSUM similarity threshold in [0, 1]: pairs above it are estimated within bounded error; 0 is exact cosine."),
		seed:       fs.Uint64(seedFlag, 42, "Seed of DIMSUM's sampling (and of --max_items_per_user's tie-break): the same input and seed give byte-identical output."),
		pending:    fs.Int("max_pending_pairs", dimsum.DefaultMaxPendingPairs, "Pairs a worker sums before it ships its partial sums: higher means fewer pairs shuffled; the worker holds only the entries, not the pairs."),
		goroutines: fs.Int("sum_goroutines", 0, "Goroutines a worker sums a flush's pairs on, each holding a dense array of the item count (0: the cores, at most 4)."),

		measure:   fs.String("measure", string(model.Cosine), "Similarity measure: cosine (of the scores), or on binary co-occurrence jaccard, llr (Mahout's 1-1/(1+LLR)), lift (SAR), cooccurrence (the count) or rp3beta (random walk with a popularity penalty, --rp3_beta), or corating (TencentRec's Σ min(r_ui, r_uj)/sqrt(Σ r_ui·Σ r_uj) of the scores; with --aggregate=max, the streaming model's)."),
		weighting: fs.String("user_weighting", string(model.WeightNone), "Cosine only: weight each user's scores by none, idf (users with many items count less) or bm25 (idf and the item's length, as implicit's BM25)."),
		bm25K1:    fs.Float64("bm25_k1", model.DefaultBM25K1, "BM25's k1 (--user_weighting=bm25): how fast a score saturates."),
		bm25B:     fs.Float64("bm25_b", model.DefaultBM25B, "BM25's b in [0, 1] (--user_weighting=bm25): how much an item's length normalises its scores."),
		alpha:     fs.Float64("asymmetric_alpha", 0.5, "Cosine only: Aiolli's asymmetric cosine dot/(|i|^(2a)*|j|^(2(1-a))) in item i's list; 0.5 is cosine, other values make s_ij differ from s_ji."),
		rp3Beta:   fs.Float64("rp3_beta", model.DefaultRP3Beta, "--measure=rp3beta's popularity penalty in [0, 2]: item j's score in i's list is divided by its users^beta."),
		shrinkage: fs.Float64("shrinkage", 0, "Multiply each similarity by n/(n+shrinkage), n the users who have both items: pairs few users share count less (0 disables)."),
	}
}

// Config is the validated dimsum.Config with the given item shards (the
// scoring.Config's Shards).
func (d *DIMSUM) Config(shards int) (dimsum.Config, error) {
	c := dimsum.Config{Threshold: *d.threshold, Seed: *d.seed, MaxPendingPairs: *d.pending, Shards: shards, Goroutines: *d.goroutines,
		Similarity: model.Similarity{Measure: model.Measure(*d.measure), Weighting: model.UserWeighting(*d.weighting),
			BM25K1: *d.bm25K1, BM25B: *d.bm25B, Alpha: *d.alpha, Shrinkage: *d.shrinkage, Beta: *d.rp3Beta}}
	return c, c.Validate()
}

// TopN are the flags of the neighbour lists.
type TopN struct {
	n             *int
	minSimilarity *float64
}

// RegisterTopN registers --top_n and --min_similarity on fs.
func RegisterTopN(fs *flag.FlagSet) *TopN {
	return &TopN{
		n:             fs.Int("top_n", 20, "Neighbours kept per item."),
		minSimilarity: fs.Float64("min_similarity", 0, "Drop neighbours whose similarity is below this."),
	}
}

// Values are the validated neighbours per item and the least similarity
// kept, as topn.Top takes them.
func (t *TopN) Values() (n int, minSimilarity float64, err error) {
	switch {
	case *t.n < 1:
		return 0, 0, fmt.Errorf("--top_n must be at least 1")
	case math.IsNaN(*t.minSimilarity):
		return 0, 0, fmt.Errorf("--min_similarity must be a number")
	}
	return *t.n, *t.minSimilarity, nil
}

// MaxBadFraction is the flag that bounds the share of bad rows
// (interactions.Gate).
type MaxBadFraction struct {
	v *float64
}

// RegisterMaxBadFraction registers --max_bad_fraction on fs.
func RegisterMaxBadFraction(fs *flag.FlagSet) *MaxBadFraction {
	return &MaxBadFraction{fs.Float64("max_bad_fraction", 0.01, "Fail the run when more than this fraction of rows is bad.")}
}

// Value is the validated fraction, in [0, 1].
func (m *MaxBadFraction) Value() (float64, error) {
	if !(*m.v >= 0 && *m.v <= 1) {
		return 0, fmt.Errorf("--max_bad_fraction must be in [0, 1]")
	}
	return *m.v, nil
}
