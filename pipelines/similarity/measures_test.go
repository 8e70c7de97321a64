package main

import (
	"github.com/recsys/itemsim/internal/gtest"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// This file checks every --measure against a brute-force reference written
// from the measures' definitions (not from package model's formulas: the
// log-likelihood ratio here is the G-test's 2·Σ k·ln(k/E), Mahout's is in
// entropies), on the fixture and on MovieLens 100K, within 1e-9.

// refMeasure is one measure's dense matrix: m[a][b] is item b's score in
// item a's neighbour list, 0 for pairs no user shares.
type refMeasure func(scores map[string]map[string]float64, idx map[string]int, n int) [][]float64

// refIndex names the items of scores with dense ids.
func refIndex(scores map[string]map[string]float64) ([]string, map[string]int) {
	idx := map[string]int{}
	var items []string
	for _, its := range scores {
		for i := range its {
			if _, ok := idx[i]; !ok {
				idx[i] = len(items)
				items = append(items, i)
			}
		}
	}
	return items, idx
}

func square(n int) [][]float64 {
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
	}
	return m
}

// refCounts are the users of each item, of each pair, and in all.
func refCounts(scores map[string]map[string]float64, idx map[string]int, n int) (ci []float64, cij [][]float64, users float64) {
	ci, cij = make([]float64, n), square(n)
	for _, its := range scores {
		users++
		for a := range its {
			ci[idx[a]]++
			for b := range its {
				if a != b {
					cij[idx[a]][idx[b]]++
				}
			}
		}
	}
	return ci, cij, users
}

// refBinary applies f to every co-occurring pair's counts.
func refBinary(f func(cij, ci, cj, users float64) float64) refMeasure {
	return func(scores map[string]map[string]float64, idx map[string]int, n int) [][]float64 {
		ci, cij, users := refCounts(scores, idx, n)
		m := square(n)
		for a := range m {
			for b := range m[a] {
				if cij[a][b] > 0 {
					m[a][b] = f(cij[a][b], ci[a], ci[b], users)
				}
			}
		}
		return m
	}
}

// refRP3 is RP3beta from its definition, the random walk i → u → j:
// (1/c_i)·Σ_{u has i and j} (1/n_u), divided by c_j^β.
func refRP3(beta float64) refMeasure {
	return func(scores map[string]map[string]float64, idx map[string]int, n int) [][]float64 {
		ci, cij, _ := refCounts(scores, idx, n)
		walk := square(n)
		for _, its := range scores {
			for a := range its {
				for b := range its {
					if a != b {
						walk[idx[a]][idx[b]] += 1 / float64(len(its))
					}
				}
			}
		}
		m := square(n)
		for a := range m {
			for b := range m[a] {
				if cij[a][b] > 0 {
					m[a][b] = walk[a][b] / ci[a] / math.Pow(ci[b], beta)
				}
			}
		}
		return m
	}
}

// refCorating is TencentRec's item-based CF from its definition: a pair's
// co-rating sum Σ_u min(r_ui, r_uj) over sqrt(Σ_u r_ui · Σ_u r_uj), times
// n/(n+λ) when λ > 0.
func refCorating(lambda float64) refMeasure {
	return func(scores map[string]map[string]float64, idx map[string]int, n int) [][]float64 {
		_, cij, _ := refCounts(scores, idx, n)
		total, co := make([]float64, n), square(n)
		for _, its := range scores {
			for a, x := range its {
				total[idx[a]] += x
				for b, y := range its {
					co[idx[a]][idx[b]] += math.Min(x, y)
				}
			}
		}
		m := square(n)
		for a := range m {
			for b := range m[a] {
				if a != b && cij[a][b] > 0 {
					m[a][b] = co[a][b] / math.Sqrt(total[a]*total[b])
					if lambda > 0 {
						m[a][b] *= cij[a][b] / (cij[a][b] + lambda)
					}
				}
			}
		}
		return m
	}
}

// refCosineOf is the cosine family on (re-weighted) scores: item a's list
// scores b by dot/(‖a‖^(2α)·‖b‖^(2(1−α))), times n/(n+λ) when λ > 0.
func refCosineOf(weigh func(scores map[string]map[string]float64) map[string]map[string]float64, alpha, lambda float64) refMeasure {
	return func(scores map[string]map[string]float64, idx map[string]int, n int) [][]float64 {
		w := weigh(scores)
		dot := square(n)
		for _, its := range w {
			for a, x := range its {
				for b, y := range its {
					dot[idx[a]][idx[b]] += x * y
				}
			}
		}
		_, cij, _ := refCounts(scores, idx, n)
		m := square(n)
		for a := range m {
			for b := range m[a] {
				if a == b || cij[a][b] == 0 {
					continue
				}
				m[a][b] = dot[a][b] / (math.Pow(dot[a][a], alpha) * math.Pow(dot[b][b], 1-alpha))
				if lambda > 0 {
					m[a][b] *= cij[a][b] / (cij[a][b] + lambda)
				}
			}
		}
		return m
	}
}

func unweighted(scores map[string]map[string]float64) map[string]map[string]float64 { return scores }

// idfWeighted multiplies user u's scores by ln(1 + (N − n_u + 0.5)/(n_u + 0.5)).
func idfWeighted(scores map[string]map[string]float64) map[string]map[string]float64 {
	return bm25Weighted(scores, 0, 0, false)
}

// bm25Weighted is idfWeighted of a·(k1+1)/(k1·(1−b+b·t_i/t̄) + a) when bm25.
func bm25Weighted(scores map[string]map[string]float64, k1, b float64, bm25 bool) map[string]map[string]float64 {
	total := map[string]float64{}
	for _, its := range scores {
		for i, a := range its {
			total[i] += a
		}
	}
	mean := 0.0
	for _, t := range total {
		mean += t
	}
	mean /= float64(len(total))
	n := float64(len(total))
	out := map[string]map[string]float64{}
	for u, its := range scores {
		nu := float64(len(its))
		idf := math.Log(1 + (n-nu+0.5)/(nu+0.5))
		out[u] = map[string]float64{}
		for i, a := range its {
			if bm25 {
				a = a * (k1 + 1) / (k1*(1-b+b*total[i]/mean) + a)
			}
			out[u][i] = a * idf
		}
	}
	return out
}

// measureCases are the settings checked, with their flags.
var measureCases = []struct {
	name  string
	flags []string
	ref   refMeasure
}{
	{"jaccard", []string{"--measure=jaccard"}, refBinary(func(cij, ci, cj, _ float64) float64 { return cij / (ci + cj - cij) })},
	{"llr", []string{"--measure=llr"}, refBinary(func(cij, ci, cj, u float64) float64 { return 1 - 1/(1+gtest.G(cij, ci-cij, cj-cij, u-ci-cj+cij)) })},
	{"lift", []string{"--measure=lift"}, refBinary(func(cij, ci, cj, _ float64) float64 { return cij / (ci * cj) })},
	{"cooccurrence", []string{"--measure=cooccurrence"}, refBinary(func(cij, _, _, _ float64) float64 { return cij })},
	{"rp3beta 0.6", []string{"--measure=rp3beta", "--rp3_beta=0.6"}, refRP3(0.6)},
	{"jaccard shrunk", []string{"--measure=jaccard", "--shrinkage=5"}, refBinary(func(cij, ci, cj, _ float64) float64 {
		return cij / (ci + cj - cij) * cij / (cij + 5)
	})},
	{"corating", []string{"--measure=corating"}, refCorating(0)},
	{"corating shrunk", []string{"--measure=corating", "--shrinkage=4"}, refCorating(4)},
	{"cosine idf", []string{"--user_weighting=idf"}, refCosineOf(idfWeighted, 0.5, 0)},
	{"cosine bm25", []string{"--user_weighting=bm25", "--bm25_k1=1.2", "--bm25_b=0.75"}, refCosineOf(func(s map[string]map[string]float64) map[string]map[string]float64 {
		return bm25Weighted(s, 1.2, 0.75, true)
	}, 0.5, 0)},
	{"asymmetric 0.8", []string{"--asymmetric_alpha=0.8"}, refCosineOf(unweighted, 0.8, 0)},
	{"asymmetric 0.2 shrunk", []string{"--asymmetric_alpha=0.2", "--shrinkage=10"}, refCosineOf(unweighted, 0.2, 10)},
	{"cosine shrunk idf", []string{"--shrinkage=25", "--user_weighting=idf"}, refCosineOf(idfWeighted, 0.5, 25)},
}

// checkMeasures runs every case on input and compares each item's top n
// with the reference's.
func checkMeasures(t *testing.T, input string, args []string, scores map[string]map[string]float64, n int) {
	items, idx := refIndex(scores)
	for _, c := range measureCases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sim.jsonl")
			mustRun(t, append(append([]string{"--input=" + input, "--output=" + out, "--top_n=" + strconv.Itoa(n)}, args...), c.flags...)...)
			m := c.ref(scores, idx, len(items))
			want := refTopN(items, m, n)
			got := readOutput(t, out)
			if len(want) == 0 {
				t.Fatal("the reference has no list: the case checks nothing")
			}
			compareTopN(t, got, want, items, m, 1e-9)
		})
	}
}

// TestMeasuresMatchReference: the fixture with the seed's weights and clip.
func TestMeasuresMatchReference(t *testing.T) {
	scores := refScores(t, fixture, refOptions{sep: ',', header: true, user: 0, item: 1, value: 2,
		weights: map[string]float64{"1": 0.5, "2": 2, "3": 6}, clip: 6})
	checkMeasures(t, fixture, nil, scores, 20)
}

// TestMeasuresOnMovieLens: ratings as scores, top 10.
func TestMeasuresOnMovieLens(t *testing.T) {
	skipWithout(t, movieLens)
	if testing.Short() {
		t.Skip("-short")
	}
	scores := refScores(t, movieLens, refOptions{sep: '\t', user: 0, item: 1, value: 2})
	checkMeasures(t, movieLens, []string{"--format=tsv", "--header=false", "--user_field=0", "--item_field=1", "--score_field=2"}, scores, 10)
}

// TestCoratingWindowMatchesReference: the streaming job's model in batch,
// --measure=corating with --aggregate=max over a --since/--until window,
// equals the reference on the fixture's events of that window, each
// (user, item) rated by its largest action weight.
func TestCoratingWindowMatchesReference(t *testing.T) {
	const since, until = 1570500000, 1571800000 // about the middle half of the fixture
	scores := refScores(t, fixture, refOptions{sep: ',', header: true, user: 0, item: 1, value: 2,
		weights: map[string]float64{"1": 0.5, "2": 2, "3": 6}, max: true, window: []int64{since, until}, time: 3})
	full := refScores(t, fixture, refOptions{sep: ',', header: true, user: 0, item: 1, value: 2,
		weights: map[string]float64{"1": 0.5, "2": 2, "3": 6}, max: true})
	if len(scores) == len(full) {
		t.Fatalf("the window keeps all %d users: it tests nothing", len(full))
	}
	items, idx := refIndex(scores)
	m := refCorating(0)(scores, idx, len(items))
	want := refTopN(items, m, 20)
	if len(want) == 0 {
		t.Fatal("the reference has no list")
	}
	out := filepath.Join(t.TempDir(), "sim.jsonl")
	mustRun(t, "--input="+fixture, "--output="+out, "--measure=corating", "--aggregate=max", "--time_field=time",
		"--since="+strconv.Itoa(since), "--until="+strconv.Itoa(until))
	compareTopN(t, readOutput(t, out), want, items, m, 1e-9)
}

// TestMeasuresAreInvariant: shards, goroutines and flushes change no byte
// of a binary measure's, a shrunk cosine's or an asymmetric cosine's output.
func TestMeasuresAreInvariant(t *testing.T) {
	for _, flags := range [][]string{
		{"--measure=llr"},
		{"--measure=rp3beta"},
		{"--measure=corating", "--aggregate=max"},
		{"--shrinkage=10", "--asymmetric_alpha=0.7", "--user_weighting=bm25"},
	} {
		var first string
		for k, layout := range [][]string{
			{"--shards=1", "--sum_goroutines=1"},
			{"--shards=7", "--sum_goroutines=3", "--max_pending_pairs=500"},
		} {
			t.Run(strings.Join(append(flags, layout...), ""), func(t *testing.T) { // restores the flags after
				out := filepath.Join(t.TempDir(), "sim.jsonl")
				mustRun(t, append(append([]string{"--input=" + fixture, "--output=" + out}, flags...), layout...)...)
				got := readFile(t, out)
				switch {
				case got == "":
					t.Fatalf("%v: empty output", flags)
				case k == 0:
					first = got
				case got != first:
					t.Errorf("%v: output with %v differs from the first layout's", flags, layout)
				}
			})
		}
	}
}

// TestMeasureFlagsFailFast: a sampled non-cosine measure, an unknown
// measure and a cosine knob on a binary measure are refused with a message
// naming the flag.
func TestMeasureFlagsFailFast(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sim.jsonl")
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--measure=llr", "--threshold=0.1"}, "estimates cosine only"},
		{[]string{"--shrinkage=5", "--threshold=0.1"}, "plain cosine only"},
		{[]string{"--measure=pearson"}, `--measure="pearson"`},
		{[]string{"--measure=jaccard", "--user_weighting=idf"}, "apply to cosine only"},
		{[]string{"--user_weighting=tfidf"}, "--user_weighting"},
		{[]string{"--asymmetric_alpha=1.5"}, "--asymmetric_alpha"},
		{[]string{"--shrinkage=-1"}, "--shrinkage"},
		{[]string{"--measure=rp3beta", "--rp3_beta=2.5"}, "--rp3_beta"},
		{[]string{"--measure=rp3beta", "--shrinkage=3"}, "rp3beta sums 1/n_u"},
	} {
		t.Run(strings.Join(c.flags, ""), func(t *testing.T) { // restores the flags after
			_, err := runJob(t, append([]string{"--input=" + fixture, "--output=" + out}, c.flags...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: error %v, want one containing %q", c.flags, err, c.want)
			}
		})
	}
}
