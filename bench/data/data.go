// Package data loads an interaction file into the per-user score rows the
// pipeline computes, in plain Go, so that benchmarks can run the library's
// DIMSUM code, the exact single-process peer and the sampling theory on the
// very rows the pipeline scores.
//
// Parsing and scoring reuse transforms/interactions and model's scoring rules;
// the item table is computed with the pipeline's arithmetic (raw scores'
// exact squares summed exactly, the scale found apart), so estimates made
// from it are bit-identical to the pipeline's.
package data

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
	"github.com/recsys/itemsim/transforms/interactions"
)

// Matrix is a scored user×item matrix: rows sorted by user, each row's
// items ascending, IDs aligned with the rows' items (compact ids, the
// positions in Table.Items), and the item table of the pipeline.
type Matrix struct {
	Rows  []model.Row
	IDs   [][]int32
	Table dimsum.ItemTable
	// Bad counts the lines the pipeline would dead-letter.
	Bad int
}

// Load reads a single local file under spec and scores it under c, as the
// pipeline does with the same flags.
func Load(path string, spec interactions.Spec, c model.Rules) (*Matrix, error) {
	if c.NeedsTime() {
		return nil, fmt.Errorf("data: time decay and windows are not supported")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var header []string
	headerLine := ""
	if spec.Header && spec.Format != interactions.FormatJSONL {
		if !sc.Scan() {
			return nil, fmt.Errorf("%s: no header line: %v", path, sc.Err())
		}
		headerLine = strings.TrimSuffix(strings.TrimPrefix(sc.Text(), "\ufeff"), "\r")
		if header, err = spec.SplitHeader(headerLine); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
	}
	p, err := interactions.NewParser(spec, header)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	m := &Matrix{}
	// Ids are interned: a parsed field points into its whole line.
	intern := map[string]string{}
	users := map[string][]model.Weighted{}
	for sc.Scan() {
		line := sc.Text()
		if headerLine != "" && strings.TrimSuffix(line, "\r") == headerLine {
			continue
		}
		e, reason := p.Parse(line)
		if reason != "" {
			m.Bad++
			continue
		}
		item, ok := intern[e.Item]
		if !ok {
			item = strings.Clone(e.Item)
			intern[item] = item
		}
		if _, seen := users[e.User]; !seen {
			e.User = strings.Clone(e.User)
		}
		users[e.User] = append(users[e.User], model.Weighted{Item: item, Weight: e.Weight})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	for user, events := range users {
		row, _ := model.Aggregate(c, user, []model.Partial{model.Reduce(events)})
		if len(row.Items) > 0 {
			m.Rows = append(m.Rows, row)
		}
	}
	slices.SortFunc(m.Rows, func(a, b model.Row) int { return strings.Compare(a.User, b.User) })
	m.index(c.Clip)
	return m, nil
}

// index builds the item table and the rows' compact ids. Its scale is the
// pipeline's (dimsum.Table): bound, the scoring clip, when positive, else
// the largest score.
func (m *Matrix) index(bound float64) {
	scale := bound
	set := map[string]bool{}
	for _, r := range m.Rows {
		if bound <= 0 {
			scale = math.Max(scale, slices.Max(r.Scores))
		}
		for _, it := range r.Items {
			set[it] = true
		}
	}
	items := make([]string, 0, len(set))
	for it := range set {
		items = append(items, it)
	}
	slices.Sort(items)
	ids := make(map[string]int32, len(items))
	for i, it := range items {
		ids[it] = int32(i)
	}
	sq := make([]exactsum.Sum, len(items))
	m.IDs = make([][]int32, len(m.Rows))
	for r, row := range m.Rows {
		m.IDs[r] = make([]int32, len(row.Items))
		for k, it := range row.Items {
			i := ids[it]
			m.IDs[r][k] = i
			sq[i].AddProduct(row.Scores[k], row.Scores[k]) // as the pipeline's norm step
		}
	}
	m.Table = dimsum.ItemTable{Items: items, Norms: make([]float64, len(items)), Scale: scale}
	for i := range sq {
		m.Table.Norms[i] = sq[i].Sqrt()
	}
}

// Entries is the number of (user, item) scores.
func (m *Matrix) Entries() int {
	n := 0
	for _, r := range m.Rows {
		n += len(r.Items)
	}
	return n
}

// NaivePairs is Σ_u L_u(L_u−1)/2, the pairs an unsampled all-pairs job
// emits.
func (m *Matrix) NaivePairs() int64 {
	var n int64
	for _, r := range m.Rows {
		l := int64(len(r.Items))
		n += l * (l - 1) / 2
	}
	return n
}
