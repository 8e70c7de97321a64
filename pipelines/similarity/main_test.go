package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/jobtest"
)

// TestMain runs the tests on Prism, or, with SIMILARITY_RUN_MAIN=1, is the
// similarity command itself (tests that run "the binary" exec the test
// binary so, with the command's own flags on its command line).
func TestMain(m *testing.M) {
	if os.Getenv("SIMILARITY_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	ptest.MainWithDefault(m, "prism")
}

const (
	movieLens = "../../../shared/datasets/ml-100k/u.data"
	rees46    = "../../../shared/datasets/rees46-2019-oct-sample/2019-Oct.csv"
	fixture   = "../../testdata/interactions.csv"
)

// runJob runs the whole job in this process with the given flags.
func runJob(t *testing.T, args ...string) (beam.PipelineResult, error) {
	t.Helper()
	return jobtest.RunJob(t, configFromFlags, run, args...)
}

func mustRun(t *testing.T, args ...string) beam.PipelineResult {
	t.Helper()
	res, err := runJob(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func skipWithout(t *testing.T, path string) {
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s is absent (../shared/datasets is not beside the repository): %v", path, err)
	}
}

// TestFixtureMatchesReference runs the default (seed-format) job on the
// committed fixture and checks every list against the brute-force job.
func TestFixtureMatchesReference(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sim.jsonl")
	popular := filepath.Join(t.TempDir(), "popular.json")
	res := mustRun(t, "--input="+fixture, "--output="+out, "--popular_output="+popular, "--popular_n=3")
	scores := refScores(t, fixture, refOptions{sep: ',', header: true, user: 0, item: 1, value: 2,
		weights: map[string]float64{"1": 0.5, "2": 2, "3": 6}, clip: 6})
	items, cos := refCosines(scores)
	want := refTopN(items, cos, 20)
	got := readOutput(t, out)
	compareTopN(t, got, want, items, cos, 1e-9)
	if n := jobtest.Counter(res, "interactions/rows"); n != 5000 {
		t.Errorf("interactions/rows = %d, want 5000", n)
	}
	if n := jobtest.Counter(res, "scoring/users"); n != int64(len(scores)) {
		t.Errorf("scoring/users = %d, want %d", n, len(scores))
	}
	if n := jobtest.Counter(res, "topn/items"); n != int64(len(want)) {
		t.Errorf("topn/items = %d, want %d", n, len(want))
	}
	users := map[string]int{}
	for _, items := range scores {
		for item := range items {
			users[item]++
		}
	}
	ranked := make([]string, 0, len(users))
	for item := range users {
		ranked = append(ranked, item)
	}
	sort.Slice(ranked, func(a, b int) bool {
		x, y := ranked[a], ranked[b]
		return users[x] > users[y] || (users[x] == users[y] && x < y)
	})
	wantPopular := fmt.Sprintf(`{"items":[{"item":%q,"users":%d},{"item":%q,"users":%d},{"item":%q,"users":%d}]}`+"\n",
		ranked[0], users[ranked[0]], ranked[1], users[ranked[1]], ranked[2], users[ranked[2]])
	if got := readFile(t, popular); got != wantPopular {
		t.Errorf("popular output = %s, want %s", got, wantPopular)
	}
	if dead := readFile(t, strings.TrimSuffix(out, ".jsonl")+".dead_letter.jsonl"); dead != "" {
		t.Errorf("dead letter not empty: %q", dead)
	}
}

// TestOutputIsInvariant: shuffling the input lines, splitting them over
// several files, running twice with the same seed, and changing the number
// of shards or of goroutines change no byte, in exact and in sampled mode.
func TestOutputIsInvariant(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(readFile(t, fixture), "\n"), "\n")
	header, rows := lines[0], lines[1:]
	dir := t.TempDir()
	split := filepath.Join(dir, "split")
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	for k := 0; k < 3; k++ {
		part := rows[k*len(rows)/3 : (k+1)*len(rows)/3]
		body := header + "\n" + strings.Join(part, "\n") + "\n"
		if err := os.MkdirAll(split, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(split, fmt.Sprintf("part-%d.csv", k)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, threshold := range []string{"0", "0.5"} {
		outs := map[string]string{}
		for name, flags := range map[string][]string{
			"original":                 {"--input=" + fixture, "--sum_goroutines=1"},
			"again with one shard":     {"--input=" + fixture, "--shards=1", "--sum_goroutines=3"},
			"shuffled-split, 7 shards": {"--input=" + filepath.Join(split, "*.csv"), "--shards=7"},
		} {
			out := filepath.Join(dir, threshold+"-"+strings.ReplaceAll(name, " ", "_")+".jsonl")
			mustRun(t, append(flags, "--output="+out, "--threshold="+threshold, "--max_pending_pairs=500")...)
			outs[name] = readFile(t, out)
		}
		if outs["original"] == "" {
			t.Fatal("empty output")
		}
		for name, o := range outs {
			if o != outs["original"] {
				t.Errorf("threshold %s: %s output differs from the original's", threshold, name)
			}
		}
	}
}

func TestMovieLensExactAndSampled(t *testing.T) {
	skipWithout(t, movieLens)
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	args := []string{"--input=" + movieLens, "--format=tsv", "--header=false", "--user_field=0", "--item_field=1", "--score_field=2", "--top_n=10"}
	exact := filepath.Join(dir, "exact.jsonl")
	res := mustRun(t, append(args, "--output="+exact)...)
	items, cos := refCosines(refScores(t, movieLens, refOptions{sep: '\t', user: 0, item: 1, value: 2}))
	want := refTopN(items, cos, 10)
	got := readOutput(t, exact)
	compareTopN(t, got, want, items, cos, 1e-9)
	if n := jobtest.Counter(res, "interactions/rows"); n != 100000 {
		t.Errorf("rows = %d, want 100000", n)
	}

	sampled := filepath.Join(dir, "sampled.jsonl")
	res = mustRun(t, append(args, "--output="+sampled, "--threshold=0.1")...)
	ov := overlap(readOutput(t, sampled), want, 10)
	t.Logf("threshold 0.1: top-10 overlap %.4f, entries dropped %d of %d", ov,
		jobtest.Counter(res, "dimsum/entries_dropped"), jobtest.Counter(res, "dimsum/entries_dropped")+jobtest.Counter(res, "dimsum/entries_kept"))
	if ov < 0.95 {
		t.Errorf("top-10 overlap with exact at threshold 0.1 = %.4f, want >= 0.95", ov)
	}
}

// TestREES46 runs the real e-commerce sample with named actions: its cut-off
// last line goes to the dead letter and the run succeeds.
func TestREES46(t *testing.T) {
	skipWithout(t, rees46)
	out := filepath.Join(t.TempDir(), "rees.jsonl")
	dead := filepath.Join(t.TempDir(), "dead.jsonl")
	res := mustRun(t, "--input="+rees46, "--header=true", "--user_field=user_id", "--item_field=product_id",
		"--action_field=event_type", "--weights=view:0.5,cart:2,purchase:6", "--time_field=event_time",
		"--output="+out, "--dead_letter="+dead)
	d := readFile(t, dead)
	if n := strings.Count(d, "\n"); n != 1 || !strings.Contains(d, `"reason":"field_count"`) || !strings.Contains(d, "2019-Oct.csv") {
		t.Errorf("dead letter = %q, want the one truncated line with reason field_count and its file", d)
	}
	if n := jobtest.Counter(res, "interactions/bad_field_count"); n != 1 {
		t.Errorf("bad_field_count = %d, want 1", n)
	}
	if rows := jobtest.Counter(res, "interactions/rows"); rows < 17000 {
		t.Errorf("rows = %d", rows)
	}
	if len(readOutput(t, out)) == 0 {
		t.Error("no item has a neighbour")
	}
}

func TestFailsFast(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing input", []string{"--input=" + filepath.Join(dir, "nope-*.csv"), "--output=" + filepath.Join(dir, "o.jsonl")}, "nope-*.csv matches no file"},
		{"unknown column", []string{"--input=" + fixture, "--output=" + filepath.Join(dir, "o.jsonl"), "--item_field=sku"}, `--item_field="sku" is neither a column`},
		{"threshold", []string{"--input=" + fixture, "--output=" + filepath.Join(dir, "o.jsonl"), "--threshold=2"}, "--threshold=2"},
		{"decay needs time", []string{"--input=" + fixture, "--output=" + filepath.Join(dir, "o.jsonl"), "--half_life=24h"}, "need --time_field"},
		{"no output", []string{"--input=" + fixture}, "--output is required"},
		{"bad format", []string{"--input=" + movieLens, "--output=" + filepath.Join(dir, "o.jsonl")}, "pass --format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jobtest.SetFlags(t, "--output=")
			_, err := runJob(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestBadFractionGate: a file with too many bad rows fails the run with a
// message that names the limit and the dead letter, writes the dead letter,
// and writes no output.
func TestBadFractionGate(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	body := "user,productSku,type\nu1,a,1\nu1,b,3\nu2,a,2\nu2,b,9\nu3,,1\n"
	if err := os.WriteFile(in, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, dead := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "dead.jsonl")
	_, err := runJob(t, "--input="+in, "--output="+out, "--dead_letter="+dead, "--max_bad_fraction=0.1")
	if err == nil || !strings.Contains(err.Error(), "2 of 5 rows (40.00%) are bad") || !strings.Contains(err.Error(), dead) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output written despite the failed check: %v", err)
	}
	d := readFile(t, dead)
	for _, want := range []string{`"reason":"unknown_action"`, `"reason":"empty_item"`, `"line":"u2,b,9"`} {
		if !strings.Contains(d, want) {
			t.Errorf("dead letter %q lacks %s", d, want)
		}
	}
	// The same input passes with a looser limit, and the good rows count.
	res := mustRun(t, "--input="+in, "--output="+out, "--dead_letter="+dead, "--max_bad_fraction=0.5")
	// By hand: u1 scores a=0.5, b=6; u2 a=2 (its b row is bad); so
	// cos(a, b) = 0.5·6 / (sqrt(0.25+4)·6) = 0.5/sqrt(4.25).
	got := readOutput(t, out)
	want := 0.5 / math.Sqrt(4.25)
	if len(got) != 2 || len(got["a"]) != 1 || got["a"][0].Item != "b" || math.Abs(got["a"][0].Score-want) > 1e-12 ||
		len(got["b"]) != 1 || got["b"][0].Item != "a" || got["b"][0].Score != got["a"][0].Score {
		t.Errorf("output %v, want a<->b at %v", got, want)
	}
	if n := jobtest.Counter(res, "interactions/rows"); n != 5 {
		t.Errorf("rows = %d, want 5", n)
	}
}
