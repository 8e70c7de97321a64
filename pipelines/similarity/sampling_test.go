package main

import (
	"fmt"
	"github.com/recsys/itemsim/internal/jobtest"
	"github.com/recsys/itemsim/internal/testlogs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clusteredLog writes testlogs.Clustered to dir and returns its path and
// each user's items.
func clusteredLog(t *testing.T, dir string) (string, map[string][]string) {
	t.Helper()
	csv, users := testlogs.Clustered()
	path := filepath.Join(dir, "clustered.csv")
	if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, users
}

// TestSampledPathThroughBeam runs the job at t = 0.3 on a log where
// sampling drops entries, and checks what DIMSUM promises, through Beam on
// Prism: entries really dropped (over 30%); the emitted pair count within
// 4 standard deviations of its expectation Σ_u Σ_{i<j} p_i·p_j (keep
// probabilities p from the exact norms; variance Σ p(1−p)); at least 95%
// of the pairs whose exact cosine is at least t within 20% of it; and the
// same bytes whatever the bundling, input split, shards, goroutines and
// flush budget.
func TestSampledPathThroughBeam(t *testing.T) {
	const threshold = 0.3
	dir := t.TempDir()
	input, users := clusteredLog(t, dir)
	out := filepath.Join(dir, "sampled.jsonl")
	common := []string{"--user_field=user", "--item_field=item", "--score_field=score", "--threshold=0.3", "--top_n=200"}
	res := mustRun(t, append(common, "--input="+input, "--output="+out)...)

	// Brute force: exact norms (scores are 1), keep probabilities, cosines.
	count := map[string]float64{}
	for _, items := range users {
		for _, i := range items {
			count[i]++
		}
	}
	sg2 := 10 * math.Log(float64(len(count))) / threshold
	keep := func(i string) float64 { return math.Min(1, math.Sqrt(sg2/count[i])) }
	co := map[[2]string]float64{}
	var mean, variance float64
	entries := 0
	for _, items := range users {
		entries += len(items)
		for a := range items {
			for b := a + 1; b < len(items); b++ {
				i, j := items[a], items[b]
				if i > j {
					i, j = j, i
				}
				co[[2]string{i, j}]++
				p := keep(i) * keep(j)
				mean += p
				variance += p * (1 - p)
			}
		}
	}
	dropped := jobtest.Counter(res, "dimsum/entries_dropped")
	if share := float64(dropped) / float64(entries); share < 0.3 {
		t.Fatalf("%d of %d entries dropped (%.0f%%): the fixture does not sample", dropped, entries, 100*share)
	}
	emitted := float64(jobtest.Counter(res, "dimsum/pairs_emitted"))
	if z := (emitted - mean) / math.Sqrt(variance); math.Abs(z) > 4 {
		t.Errorf("pairs emitted %.0f, expected %.1f ± %.1f (z = %.1f)", emitted, mean, math.Sqrt(variance), z)
	}
	got := readOutput(t, out)
	estimate := map[[2]string]float64{}
	for i, nbs := range got {
		for _, nb := range nbs {
			if i < nb.Item {
				estimate[[2]string{i, nb.Item}] = nb.Score
			}
		}
	}
	above, close := 0, 0
	for pair, c := range co {
		cos := c / math.Sqrt(count[pair[0]]*count[pair[1]])
		if cos < threshold {
			continue
		}
		above++
		if est := estimate[pair]; math.Abs(est-cos) <= 0.2*cos {
			close++
		}
	}
	if above < 150 {
		t.Fatalf("only %d pairs reach the threshold: the fixture checks little", above)
	}
	if share := float64(close) / float64(above); share < 0.95 {
		t.Errorf("%d of %d pairs with cosine >= %v within 20%% (%.3f), want >= 0.95", close, above, threshold, share)
	}
	t.Logf("entries %d, dropped %d; pairs emitted %.0f (expected %.1f); %d of %d pairs above t within 20%%",
		entries, dropped, emitted, mean, close, above)

	// Invariance: split and shuffled input, shards, goroutines, flushes.
	lines := strings.Split(strings.TrimSuffix(readFile(t, input), "\n"), "\n")
	header, body := lines[0], lines[1:]
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(body), func(i, j int) { body[i], body[j] = body[j], body[i] })
	split := filepath.Join(dir, "split")
	if err := os.MkdirAll(split, 0o755); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 4; k++ {
		part := body[k*len(body)/4 : (k+1)*len(body)/4]
		if err := os.WriteFile(filepath.Join(split, fmt.Sprintf("p%d.csv", k)), []byte(header+"\n"+strings.Join(part, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readFile(t, out)
	for name, flags := range map[string][]string{
		"shuffled and split, one shard, one goroutine": {"--input=" + filepath.Join(split, "*.csv"), "--shards=1", "--sum_goroutines=1"},
		"7 shards, 3 goroutines, tiny flushes":         {"--input=" + input, "--shards=7", "--sum_goroutines=3", "--max_pending_pairs=1000"},
	} {
		o := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".jsonl")
		mustRun(t, append(append(common, flags...), "--output="+o)...)
		if readFile(t, o) != want {
			t.Errorf("%s: output differs from the first run's", name)
		}
	}
}
