package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// This file holds an independent reference of the whole job for tests: it
// reads the file with encoding/csv, scores with plain maps and computes
// every cosine with dense arithmetic. It shares no code with the pipeline.

type refOptions struct {
	sep        rune
	header     bool
	user, item int // column indices
	value      int
	weights    map[string]float64 // nil: value is a score
	clip       float64            // 0: none
	topN       int
	// max keeps a user's largest weight on an item (--aggregate=max), not
	// their sum.
	max bool
	// window, when set, keeps the rows whose unix seconds in column time
	// are in [window[0], window[1]) (--since, --until).
	window []int64
	time   int
}

// refScores returns user -> item -> score, skipping rows the pipeline would
// dead-letter (wrong field count, unknown action).
func refScores(t *testing.T, path string, o refOptions) map[string]map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.Comma, r.FieldsPerRecord, r.LazyQuotes = o.sep, -1, true
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if o.header {
		recs = recs[1:]
	}
	width := len(recs[0])
	scores := map[string]map[string]float64{}
	for _, rec := range recs {
		if len(rec) != width {
			continue
		}
		var w float64
		if o.weights != nil {
			var ok bool
			if w, ok = o.weights[rec[o.value]]; !ok {
				continue
			}
		} else if w, err = strconv.ParseFloat(rec[o.value], 64); err != nil {
			t.Fatal(err)
		}
		if o.window != nil {
			at, err := strconv.ParseInt(rec[o.time], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if at < o.window[0] || at >= o.window[1] {
				continue
			}
		}
		u, i := rec[o.user], rec[o.item]
		if scores[u] == nil {
			scores[u] = map[string]float64{}
		}
		if o.max {
			scores[u][i] = math.Max(scores[u][i], w)
		} else {
			scores[u][i] += w
		}
	}
	if o.clip > 0 {
		for _, items := range scores {
			for i, s := range items {
				items[i] = math.Min(s, o.clip)
			}
		}
	}
	return scores
}

// refCosines is the dense cosine matrix of the scores, with the item names.
func refCosines(scores map[string]map[string]float64) ([]string, [][]float64) {
	items, idx := refIndex(scores)
	n := len(items)
	dot := make([][]float64, n)
	for i := range dot {
		dot[i] = make([]float64, n)
	}
	for _, its := range scores {
		type e struct {
			i int
			s float64
		}
		var row []e
		for i, s := range its {
			row = append(row, e{idx[i], s})
		}
		for _, a := range row {
			for _, b := range row {
				dot[a.i][b.i] += a.s * b.s
			}
		}
	}
	cos := make([][]float64, n)
	for a := range cos {
		cos[a] = make([]float64, n)
		for b := range cos[a] {
			if a != b && dot[a][b] > 0 {
				cos[a][b] = dot[a][b] / math.Sqrt(dot[a][a]*dot[b][b])
			}
		}
	}
	return items, cos
}

type refNeighbor struct {
	Item  string  `json:"item"`
	Score float64 `json:"score"`
}

type refLine struct {
	Item      string        `json:"item"`
	Neighbors []refNeighbor `json:"neighbors"`
}

// refTopN is each item's top n by brute-force sorting.
func refTopN(items []string, cos [][]float64, n int) map[string][]refNeighbor {
	out := map[string][]refNeighbor{}
	for a, item := range items {
		var l []refNeighbor
		for b, s := range cos[a] {
			if s > 0 {
				l = append(l, refNeighbor{items[b], s})
			}
		}
		sort.Slice(l, func(x, y int) bool {
			if l[x].Score != l[y].Score {
				return l[x].Score > l[y].Score
			}
			return l[x].Item < l[y].Item
		})
		if len(l) > n {
			l = l[:n]
		}
		if len(l) > 0 {
			out[item] = l
		}
	}
	return out
}

// readOutput parses the pipeline's JSONL and checks its form: items
// ascending, each list sorted by score descending then item id, no self
// pair, scores in (0, 1+1e-9] for exact runs.
func readOutput(t *testing.T, path string) map[string][]refNeighbor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]refNeighbor{}
	prev := ""
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var l refLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("bad output line %q: %v", line, err)
		}
		if line <= prev {
			t.Fatalf("output lines not sorted: %q after %q", line, prev)
		}
		prev = line
		for k, nb := range l.Neighbors {
			if nb.Item == l.Item {
				t.Fatalf("item %s lists itself", l.Item)
			}
			if k > 0 {
				p := l.Neighbors[k-1]
				if p.Score < nb.Score || (p.Score == nb.Score && p.Item >= nb.Item) {
					t.Fatalf("item %s: neighbours out of order: %v before %v", l.Item, p, nb)
				}
			}
		}
		out[l.Item] = l.Neighbors
	}
	return out
}

// compareTopN checks got against the reference within tol; a neighbour may
// differ from the reference's only where the two tie within tol (exact ties
// in the reference may order either way after rounding).
func compareTopN(t *testing.T, got, want map[string][]refNeighbor, items []string, cos [][]float64, tol float64) {
	t.Helper()
	idx := map[string]int{}
	for i, it := range items {
		idx[it] = i
	}
	if len(got) != len(want) {
		t.Errorf("%d items with neighbours, want %d", len(got), len(want))
	}
	bad := 0
	for item, w := range want {
		g := got[item]
		if len(g) != len(w) {
			t.Errorf("item %s: %d neighbours, want %d", item, len(g), len(w))
			continue
		}
		for k := range w {
			exactOfGot := cos[idx[item]][idx[g[k].Item]]
			if math.Abs(g[k].Score-w[k].Score) > tol || math.Abs(exactOfGot-w[k].Score) > tol {
				if bad++; bad < 10 {
					t.Errorf("item %s #%d: got %v (exact %v), want %v", item, k, g[k], exactOfGot, w[k])
				}
			}
		}
	}
}

// overlap is the mean share of the reference's top-k ids found in got's.
func overlap(got, want map[string][]refNeighbor, k int) float64 {
	total, n := 0.0, 0
	for item, w := range want {
		w = w[:min(k, len(w))]
		g := got[item]
		g = g[:min(k, len(g))]
		in := map[string]bool{}
		for _, x := range g {
			in[x.Item] = true
		}
		hit := 0
		for _, x := range w {
			if in[x.Item] {
				hit++
			}
		}
		total += float64(hit) / float64(len(w))
		n++
	}
	return total / float64(n)
}
