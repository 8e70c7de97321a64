package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
)

// tieTolerance is how close two scores must be for a different neighbour
// order to count as an exact tie computed with different rounding.
const tieTolerance = 1e-9

// readOutput reads a JSONL neighbour file (the pipeline's format).
func readOutput(path string) (map[string][]model.Neighbor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]model.Neighbor{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var n model.Neighbors
		if err := json.Unmarshal(sc.Bytes(), &n); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		out[n.Item] = n.Neighbors
	}
	return out, sc.Err()
}

// overlap is the mean over the exact output's items of the share of their
// exact top N found in the other output's top N (0 for a missing item).
func overlap(exact, other map[string][]model.Neighbor, n int) float64 {
	if len(exact) == 0 {
		return 0
	}
	var sum float64
	for item, want := range exact {
		got := map[string]bool{}
		for _, nb := range other[item] {
			got[nb.Item] = true
		}
		hit := 0
		for _, nb := range want[:min(n, len(want))] {
			if got[nb.Item] {
				hit++
			}
		}
		sum += float64(hit) / float64(min(n, len(want)))
	}
	return sum / float64(len(exact))
}

// Comparison of two exact outputs.
type Comparison struct {
	Items int `json:"items"`
	// MaxAbsDiff is the largest |Δ| between the k-th scores of an item's
	// two lists, over every item and rank.
	MaxAbsDiff float64 `json:"max_abs_diff"`
	// Mismatches counts items whose lists differ beyond exact ties: a
	// different length, an item in one output only, or a neighbour of one
	// list absent from the other while it is not tied (within
	// tieTolerance) with the other list's last score.
	Mismatches int `json:"mismatches"`
}

// compare compares a reference output with another exact one.
func compare(ref, got map[string][]model.Neighbor) Comparison {
	c := Comparison{Items: len(ref)}
	for item := range got {
		if _, ok := ref[item]; !ok {
			c.Mismatches++
		}
	}
	for item, a := range ref {
		b, ok := got[item]
		if !ok || len(a) != len(b) {
			c.Mismatches++
			continue
		}
		in := map[string]float64{}
		for _, nb := range b {
			in[nb.Item] = nb.Score
		}
		differ := false
		for k := range a {
			c.MaxAbsDiff = math.Max(c.MaxAbsDiff, math.Abs(a[k].Score-b[k].Score))
			s, ok := in[a[k].Item]
			switch {
			case ok && math.Abs(s-a[k].Score) > tieTolerance:
				differ = true
			case !ok && math.Abs(a[k].Score-b[len(b)-1].Score) > tieTolerance:
				differ = true
			}
		}
		if differ {
			c.Mismatches++
		}
	}
	return c
}

// crossCheck counts the items whose top-N list built from the in-process
// estimates differs from the pipeline's output in any id or score bit, or
// that only one of them has.
func crossCheck(lists [][]model.Candidate, items []string, out map[string][]model.Neighbor) int {
	bad, both := 0, 0
	for i, l := range lists {
		if len(l) == 0 {
			continue
		}
		got, ok := out[items[i]]
		if ok {
			both++
		}
		if !ok || len(got) != len(l) {
			bad++
			continue
		}
		for k, c := range l {
			if got[k].Item != items[c.ID] || got[k].Score != c.Score {
				bad++
				break
			}
		}
	}
	return bad + len(out) - both // plus the output's items without an in-process list
}

// accuracy accumulates, over the pairs whose exact cosine is at least the
// threshold, the absolute error of the estimates (a pair never estimated
// counts as 0) and how many are within 20% relative error.
type accuracy struct {
	n, within int64
	absErr    float64
}

// add scores item i's estimated row against its strong exact pairs; both
// have j ascending.
func (a *accuracy) add(exact, est dimsum.Row, t float64) {
	k := 0
	for x, j := range exact.J {
		cos := exact.S[x]
		if cos < t {
			continue
		}
		for k < len(est.J) && est.J[k] < j {
			k++
		}
		e := 0.0
		if k < len(est.J) && est.J[k] == j {
			e = est.S[k]
		}
		a.n++
		a.absErr += math.Abs(e - cos)
		if math.Abs(e-cos) <= 0.2*cos {
			a.within++
		}
	}
}
