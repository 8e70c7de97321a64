package options

import (
	"flag"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/scoring"
)

// groups is every group registered on one fresh FlagSet, as the similarity
// job registers them.
type groups struct {
	fs      *flag.FlagSet
	records *Records
	score   *Scoring
	window  *Window
	sim     *DIMSUM
	top     *TopN
	maxBad  *MaxBadFraction
}

func register(t *testing.T, args ...string) groups {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g := groups{fs, RegisterRecords(fs), RegisterScoring(fs), RegisterWindow(fs), RegisterDIMSUM(fs, "seed"), RegisterTopN(fs), RegisterMaxBadFraction(fs)}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return g
}

// configs validates every group in the order the jobs do and returns the
// first error.
func (g groups) configs(input string) (spec interactions.Spec, sc scoring.Config, dc dimsum.Config, n int, minSim, maxBad float64, err error) {
	if spec, err = g.records.Spec(input); err != nil {
		return
	}
	var span Span
	if span, err = g.window.Resolve(time.Now()); err != nil {
		return
	}
	if sc, err = g.score.Config(spec, &span); err != nil {
		return
	}
	if dc, err = g.sim.Config(sc.Shards); err != nil {
		return
	}
	if n, minSim, err = g.top.Values(); err != nil {
		return
	}
	maxBad, err = g.maxBad.Value()
	return
}

// TestDefaults: with no flag set, the configs are the seed export's
// defaults that the README documents.
func TestDefaults(t *testing.T) {
	spec, sc, dc, n, minSim, maxBad, err := register(t).configs("in/events.csv")
	if err != nil {
		t.Fatal(err)
	}
	wantSpec := interactions.Spec{Format: interactions.FormatCSV, Header: true, UserField: "user", ItemField: "productSku", ActionField: "type",
		Weights: spec.Weights}
	if !reflect.DeepEqual(spec, wantSpec) || spec.Weights.Max() != 6 || len(spec.Weights) != 3 {
		t.Errorf("spec %+v, want %+v with weights 1:0.5,2:2,3:6", spec, wantSpec)
	}
	if want := (scoring.Config{Rules: model.Rules{Aggregate: "sum", Clip: 6}, Shards: scoring.DefaultShards}); sc != want {
		t.Errorf("scoring %+v, want %+v", sc, want)
	}
	if want := (dimsum.Config{Seed: 42, MaxPendingPairs: dimsum.DefaultMaxPendingPairs, Shards: scoring.DefaultShards,
		Similarity: model.DefaultSimilarity()}); dc != want {
		t.Errorf("dimsum %+v, want %+v", dc, want)
	}
	if n != 20 || minSim != 0 || maxBad != 0.01 {
		t.Errorf("top_n %d, min_similarity %v, max_bad_fraction %v; want 20, 0, 0.01", n, minSim, maxBad)
	}
}

// TestEveryFlag sets each shared flag and finds it in the configs.
func TestEveryFlag(t *testing.T) {
	g := register(t, "--format=tsv", "--header=false", "--user_field=0", "--item_field=1", "--score_field=2", "--time_field=3",
		"--aggregate=max", "--half_life=1h30m", "--as_of=1000", "--since=100", "--until=2000", "--max_items_per_user=7", "--clip_score=0",
		"--shards=9", "--threshold=0.25", "--seed=7", "--max_pending_pairs=11", "--sum_goroutines=3",
		"--user_weighting=bm25", "--bm25_k1=2", "--bm25_b=0.5",
		"--top_n=5", "--min_similarity=0.5", "--max_bad_fraction=0.2")
	spec, sc, dc, n, minSim, maxBad, err := g.configs("in/events.csv")
	if err != nil {
		t.Fatal(err)
	}
	if want := (interactions.Spec{Format: "tsv", UserField: "0", ItemField: "1", ScoreField: "2", TimeField: "3"}); !reflect.DeepEqual(spec, want) {
		t.Errorf("spec %+v, want %+v", spec, want)
	}
	if want := (scoring.Config{Rules: model.Rules{Aggregate: "max", HalfLife: 5400, AsOf: 1000, Since: 100, Until: 2000, MaxItemsPerUser: 7}, Shards: 9}); sc != want {
		t.Errorf("scoring %+v, want %+v", sc, want)
	}
	sim := model.Similarity{Measure: model.Cosine, Weighting: model.WeightBM25, BM25K1: 2, BM25B: 0.5, Alpha: 0.5, Beta: model.DefaultRP3Beta}
	if want := (dimsum.Config{Threshold: 0.25, Seed: 7, MaxPendingPairs: 11, Shards: 9, Goroutines: 3, Similarity: sim}); dc != want {
		t.Errorf("dimsum %#v, want %#v", dc, want)
	}
	// The exact-only knobs, at the default threshold 0.
	_, _, dc, _, _, _, err = register(t, "--measure=jaccard", "--shrinkage=3").configs("x.csv")
	if want := (model.Similarity{Measure: model.Jaccard, Weighting: model.WeightNone, BM25K1: model.DefaultBM25K1, BM25B: model.DefaultBM25B,
		Alpha: 0.5, Shrinkage: 3, Beta: model.DefaultRP3Beta}); err != nil || dc.Similarity != want {
		t.Errorf("similarity %#v, %v; want %#v", dc.Similarity, err, want)
	}
	_, _, dc, _, _, _, err = register(t, "--measure=rp3beta", "--rp3_beta=0.6").configs("x.csv")
	if err != nil || dc.Similarity.Measure != model.RP3Beta || dc.Similarity.Beta != 0.6 {
		t.Errorf("rp3beta: %+v, %v; want rp3beta with beta 0.6", dc.Similarity, err)
	}
	_, _, dc, _, _, _, err = register(t, "--asymmetric_alpha=0.7").configs("x.csv")
	if err != nil || dc.Similarity.Alpha != 0.7 {
		t.Errorf("asymmetric_alpha %v, %v; want 0.7", dc.Similarity.Alpha, err)
	}
	if n != 5 || minSim != 0.5 || maxBad != 0.2 {
		t.Errorf("top_n %d, min_similarity %v, max_bad_fraction %v; want 5, 0.5, 0.2", n, minSim, maxBad)
	}
	// --score_field has no weights, so the clip default is none.
	if _, sc, _, _, _, _, _ := register(t, "--score_field=s").configs("x.jsonl"); sc.Clip != 0 {
		t.Errorf("clip with --score_field = %v, want 0", sc.Clip)
	}
	if spec, err := register(t, "--format=csv").records.TypedSpec(); err != nil || spec.Format != interactions.FormatJSONL {
		t.Errorf("TypedSpec: format %q, error %v; want jsonl", spec.Format, err)
	}
}

// TestErrors: each bad value fails with a message naming its flag.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--item_field="}, "--user_field and --item_field"},
		{[]string{"--weights=view"}, "weights"},
		{[]string{"--aggregate=avg"}, `--aggregate="avg"`},
		{[]string{"--as_of=yesterday"}, "--as_of"},
		{[]string{"--time_field=t", "--since=last week"}, "--since"},
		{[]string{"--time_field=t", "--since=2000", "--until=1000"}, "--since must be before --until"},
		{[]string{"--half_life=24h"}, "--half_life, --since, --until and --window need --time_field"},
		{[]string{"--until=2024-01-01"}, "need --time_field"},
		{[]string{"--clip_score=NaN"}, "--clip_score"},
		{[]string{"--max_items_per_user=-1"}, "--max_items_per_user"},
		{[]string{"--shards=-1"}, "--shards must be >= 0"},
		{[]string{"--threshold=2"}, "--threshold=2"},
		{[]string{"--sum_goroutines=-1"}, "--sum_goroutines"},
		{[]string{"--top_n=0"}, "--top_n must be at least 1"},
		{[]string{"--min_similarity=NaN"}, "--min_similarity must be a number"},
		{[]string{"--max_bad_fraction=1.5"}, "--max_bad_fraction must be in [0, 1]"},
	} {
		_, _, _, _, _, _, err := register(t, tc.args...).configs("in.csv")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

// TestSubsets: a job registers only the groups it takes, and names the
// DIMSUM seed as it needs.
func TestSubsets(t *testing.T) {
	names := func(fs *flag.FlagSet) []string {
		var out []string
		fs.VisitAll(func(f *flag.Flag) { out = append(out, f.Name) })
		return out
	}
	fs := flag.NewFlagSet("records", flag.ContinueOnError)
	RegisterRecords(fs)
	if got, want := names(fs), []string{"action_field", "format", "header", "item_field", "score_field", "time_field", "user_field", "weights"}; !slices.Equal(got, want) {
		t.Errorf("RegisterRecords: %v, want %v", got, want)
	}
	fs = flag.NewFlagSet("scoring", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sc := RegisterScoring(fs)
	d := RegisterDIMSUM(fs, "dimsum_seed")
	if err := fs.Parse([]string{"--dimsum_seed=9"}); err != nil {
		t.Fatal(err)
	}
	if fs.Lookup("seed") != nil || fs.Lookup("since") != nil || fs.Lookup("top_n") != nil {
		t.Errorf("flags of groups not registered: %v", names(fs))
	}
	if c, err := d.Config(0); err != nil || c.Seed != 9 {
		t.Errorf("--dimsum_seed=9: %+v, %v", c, err)
	}
	// Without a window, the time check names only the decay.
	spec := interactions.Spec{Weights: model.Weights{"1": 1}}
	fs.Set("half_life", "1h")
	if _, err := sc.Config(spec, nil); err == nil || err.Error() != "--half_life needs --time_field" {
		t.Errorf("error %v, want --half_life needs --time_field", err)
	}
}

// TestWindow resolves the window flags at a fixed clock: relative bounds
// count from the run's time truncated to --window_align, and every launch
// of one day gets the same window. Want values are written out by hand.
func TestWindow(t *testing.T) {
	now := time.Date(2026, 12, 2, 13, 45, 12, 0, time.UTC)
	day := func(d int) int64 { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC).Unix() }
	for _, tc := range []struct {
		args         []string
		since, until int64
		relative     bool
		end          time.Time
	}{
		{nil, 0, 0, false, now},
		{[]string{"--window=720h"}, day(2), day(32), true, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)},
		{[]string{"--since=-720h", "--until=0h"}, day(2), day(32), true, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)},
		{[]string{"--window=720h", "--window_align=0"}, now.Add(-720 * time.Hour).Unix(), now.Unix(), true, now},
		{[]string{"--window_align=1h", "--since=-2h"}, time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC).Unix(), 0, true, now},
		{[]string{"--window=48h", "--until=2026-11-29"}, day(27), day(29), false, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)},
		{[]string{"--run_time=2026-11-28T17:00:00Z", "--until=24h", "--window=48h"}, day(27), day(29), true, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)},
		{[]string{"--since=2026-11-01", "--until=1795132800"}, day(1), day(20), false, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
	} {
		sp, err := register(t, tc.args...).window.Resolve(now)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if sp.Since != tc.since || sp.Until != tc.until || sp.Relative != tc.relative || !sp.End().Equal(tc.end) {
			t.Errorf("%v: since %d until %d relative %v end %s; want %d %d %v %s", tc.args, sp.Since, sp.Until, sp.Relative, sp.End(), tc.since, tc.until, tc.relative, tc.end)
		}
	}
	// Two launches of one day, hours apart, resolve to one window.
	early, err1 := register(t, "--window=720h").window.Resolve(time.Date(2026, 12, 2, 0, 0, 1, 0, time.UTC))
	late, err2 := register(t, "--window=720h").window.Resolve(time.Date(2026, 12, 2, 23, 59, 59, 0, time.UTC))
	if err1 != nil || err2 != nil || early.Since != late.Since || early.Until != late.Until {
		t.Errorf("one day's launches: %+v (%v) and %+v (%v), want one window", early, err1, late, err2)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--window=720h", "--since=-24h"}, "--window and --since both"},
		{[]string{"--window=-1h"}, "--window must be >= 0"},
		{[]string{"--window_align=-24h"}, "--window_align must be >= 0"},
		{[]string{"--since=-30 days"}, `--since: "-30 days" is neither a time`},
		{[]string{"--run_time=tonight"}, "--run_time"},
		{[]string{"--until=0"}, "--until: \"0\" is the unix epoch"},
		{[]string{"--since=0h", "--until=-24h"}, "--since must be before --until"},
	} {
		if _, err := register(t, tc.args...).window.Resolve(now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}
