package main

import (
	"encoding/json"
	"fmt"
	"github.com/recsys/itemsim/internal/jobtest"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// runBinary runs the similarity command (this test binary as main) with
// args and returns its combined output; it fails the test when the command
// fails.
// runBinary runs the job as its own binary with args (the test binary
// with SIMILARITY_RUN_MAIN=1) and returns its output.
func runBinary(t *testing.T, args ...string) string {
	t.Helper()
	return jobtest.MustRunMain(t, "SIMILARITY_RUN_MAIN", args...)
}

// TestDecayReproduction is the reported case: with a 24 h half-life, the
// purchase of b 40 days before the newest event weighs 6·2^-40, whose
// square the old fixed-point sums dropped, so b's norm was 0 and a→b
// scored 9223372036854776000. By hand (clip 6, no decay elsewhere):
// a = (6, 0.5, 2, 0.5) over u1..u4, b = (6·2^-40, 0, 0, 0), c = (0, 0.5,
// 2, 0), d = (0, 0, 0, 0.5); ‖a‖² = 40.5, so cos(a,b) = 6/√40.5,
// cos(a,c) = 4.25/(√40.5·√4.25) = √4.25/√40.5 and cos(a,d) = 0.5/√40.5.
func TestDecayReproduction(t *testing.T) {
	const now = 1_700_000_000
	dir := t.TempDir()
	in := filepath.Join(dir, "decay.csv")
	rows := fmt.Sprintf("user,productSku,type,time\nu1,a,3,%d\nu1,b,3,%d\nu2,a,1,%[1]d\nu2,c,1,%[1]d\nu3,c,2,%[1]d\nu3,a,2,%[1]d\nu4,d,1,%[1]d\nu4,a,1,%[1]d\n",
		now, now-40*86400)
	if err := os.WriteFile(in, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sim.jsonl")
	runBinary(t, "--input="+in, "--output="+out, "--time_field=time", "--half_life=24h")
	got := readOutput(t, out)
	want := map[string][]refNeighbor{
		"a": {{"b", 6 / math.Sqrt(40.5)}, {"c", math.Sqrt(4.25) / math.Sqrt(40.5)}, {"d", 0.5 / math.Sqrt(40.5)}},
		"b": {{"a", 6 / math.Sqrt(40.5)}},
		"c": {{"a", math.Sqrt(4.25) / math.Sqrt(40.5)}},
		"d": {{"a", 0.5 / math.Sqrt(40.5)}},
	}
	if len(got) != len(want) {
		t.Fatalf("lists for %d items, want %d: %v", len(got), len(want), got)
	}
	for item, w := range want {
		g := got[item]
		if len(g) != len(w) {
			t.Fatalf("%s: neighbours %v, want %v", item, g, w)
		}
		for k := range w {
			if g[k].Item != w[k].Item || math.Abs(g[k].Score-w[k].Score) > 1e-12 {
				t.Errorf("%s: neighbour %d is %v, want %v", item, k, g[k], w[k])
			}
		}
	}
}

// TestScoreSpansProperty draws inputs whose scores span up to 300 orders
// of magnitude (1e-150 … 1e150, the accepted range), with random time
// decay (half-lives and ages drawn so weights fall by up to 2^-200), and
// checks every exact-mode cosine the job emits against a float64 brute
// force that scales each column by its largest entry (so nothing in it
// underflows): at most 1 + 1e-12, and within 1e-12 of the brute force.
// Every co-occurring pair must be emitted: --top_n covers every item.
func TestScoreSpansProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 1))
	for round := 0; round < 4; round++ {
		span := []float64{1e-300, 1e-40, 1, 1e300}[round] // largest score / smallest, at most
		halfLife := []float64{3600, 86400, 1e9, 600}[round]
		dir := t.TempDir()
		in := filepath.Join(dir, "scores.csv")
		var b strings.Builder
		b.WriteString("user,item,score,time\n")
		const now = 1_700_000_000
		type key struct{ u, i string }
		scores := map[key]float64{}
		for u := 0; u < 40; u++ {
			for k := 0; k < 2+r.IntN(5); k++ {
				item := fmt.Sprintf("i%d", r.IntN(12))
				score := math.Pow(10, -150+300*r.Float64())
				if span < 1 {
					score = math.Pow(10, math.Log10(span)/2*r.Float64()) // within [sqrt(span), 1]
				} else if span == 1 {
					score = 1.2e19 // a BigQuery NUMERIC-sized score everywhere
				}
				age := int64(r.Float64() * 200 * halfLife)
				if round == 2 {
					age = 0
				}
				fmt.Fprintf(&b, "u%d,%s,%g,%d\n", u, item, score, now-age)
				w := score * math.Exp2(-float64(age)/halfLife)
				scores[key{fmt.Sprintf("u%d", u), item}] += w
			}
		}
		fmt.Fprintf(&b, "anchor,i0,1,%d\n", now) // the newest event is "now"
		scores[key{"anchor", "i0"}] += 1
		if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "sim.jsonl")
		res := mustRun(t, "--input="+in, "--output="+out, "--user_field=user", "--item_field=item", "--score_field=score",
			"--time_field=time", fmt.Sprintf("--half_life=%ds", int64(halfLife)), "--top_n=100")
		if n := jobtest.Counter(res, "dimsum/zero_norm_items"); n != 0 {
			t.Errorf("round %d: %d items with a zero norm", round, n)
		}
		// Brute force: columns scaled by their largest entry.
		cols := map[string]map[string]float64{}
		for k, w := range scores {
			if w == 0 {
				continue // decayed below the smallest float64: the job drops it too
			}
			if cols[k.i] == nil {
				cols[k.i] = map[string]float64{}
			}
			cols[k.i][k.u] = w
		}
		norm := map[string]map[string]float64{} // column / its max, then / its norm
		for i, col := range cols {
			m := 0.0
			for _, w := range col {
				m = math.Max(m, w)
			}
			n2 := 0.0
			for _, w := range col {
				n2 += (w / m) * (w / m)
			}
			norm[i] = map[string]float64{}
			for u, w := range col {
				norm[i][u] = w / m / math.Sqrt(n2)
			}
		}
		got := readOutput(t, out)
		pairs := 0
		items := make([]string, 0, len(norm))
		for i := range norm {
			items = append(items, i)
		}
		sort.Strings(items)
		for _, i := range items {
			want := map[string]float64{}
			for _, j := range items {
				if i == j {
					continue
				}
				dot, shared := 0.0, false
				for u, x := range norm[i] {
					if y, ok := norm[j][u]; ok {
						dot += x * y
						shared = true
					}
				}
				if shared && dot > 0 {
					want[j] = dot
				}
			}
			gotI := map[string]float64{}
			for _, nb := range got[i] {
				gotI[nb.Item] = nb.Score
				if !(nb.Score <= 1+1e-12) {
					t.Errorf("round %d: %s→%s scores %v > 1", round, i, nb.Item, nb.Score)
				}
			}
			for j, w := range want {
				pairs++
				if g, ok := gotI[j]; !ok || math.Abs(g-w) > 1e-12 {
					t.Errorf("round %d: %s→%s = %v (emitted %v), brute force %v", round, i, j, g, ok, w)
				}
			}
			for j, g := range gotI {
				if _, ok := want[j]; !ok && g > 1e-300 {
					t.Errorf("round %d: %s→%s = %v, brute force has no such pair", round, i, j, g)
				}
			}
		}
		if pairs < 20 {
			t.Fatalf("round %d: only %d pairs: the fixture checks nothing", round, pairs)
		}
	}
}

// TestBadIdsAndScoresAreDeadLetters: an over-long id and an out-of-range
// score go to the dead letter with their reasons; the run succeeds.
func TestBadIdsAndScoresAreDeadLetters(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bad.tsv")
	var b strings.Builder
	for u := 0; u < 300; u++ {
		fmt.Fprintf(&b, "u%d\ti%d\t1\n", u, u%7)
		fmt.Fprintf(&b, "u%d\ti%d\t2\n", u, (u+1)%7)
	}
	fmt.Fprintf(&b, "u1\t%s\t1\n", strings.Repeat("x", 2000))
	b.WriteString("u2\ti3\t1e200\n")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sim.jsonl")
	res := mustRun(t, "--input="+in, "--output="+out, "--format=tsv", "--header=false", "--user_field=0", "--item_field=1", "--score_field=2")
	if n := jobtest.Counter(res, "interactions/bad_id_too_long"); n != 1 {
		t.Errorf("bad_id_too_long = %d, want 1", n)
	}
	if n := jobtest.Counter(res, "interactions/bad_score_out_of_range"); n != 1 {
		t.Errorf("bad_score_out_of_range = %d, want 1", n)
	}
	var reasons []string
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, strings.TrimSuffix(out, ".jsonl")+".dead_letter.jsonl")), "\n") {
		var d struct{ Reason string }
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, d.Reason)
	}
	sort.Strings(reasons)
	if strings.Join(reasons, ",") != "id_too_long,score_out_of_range" {
		t.Errorf("dead letter reasons %v", reasons)
	}
	if got := readOutput(t, out); len(got) != 7 {
		t.Errorf("%d items have lists, want 7", len(got))
	}
}
