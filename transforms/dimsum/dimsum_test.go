package dimsum

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/recsys/itemsim/model"
)

// bruteTable computes the item table the way the definition reads, with no
// shared code: B is the largest score, norms are of the raw columns.
func bruteTable(rows []model.Row) ItemTable {
	sq := map[string]float64{}
	scale := 0.0
	for _, r := range rows {
		for _, s := range r.Scores {
			scale = math.Max(scale, s)
		}
	}
	for _, r := range rows {
		for k, item := range r.Items {
			sq[item] += r.Scores[k] * r.Scores[k]
		}
	}
	t := ItemTable{Scale: scale}
	for item := range sq {
		t.Items = append(t.Items, item)
	}
	sort.Strings(t.Items)
	for _, item := range t.Items {
		t.Norms = append(t.Norms, math.Sqrt(sq[item]))
	}
	return t
}

// bruteCosines is the exact cosine of every co-occurring pair, by definition.
func bruteCosines(rows []model.Row) map[[2]string]float64 {
	cols := map[string]map[string]float64{}
	for _, r := range rows {
		for k, item := range r.Items {
			if cols[item] == nil {
				cols[item] = map[string]float64{}
			}
			cols[item][r.User] = r.Scores[k]
		}
	}
	out := map[[2]string]float64{}
	for a, ca := range cols {
		for b, cb := range cols {
			if a >= b {
				continue
			}
			dot, na, nb := 0.0, 0.0, 0.0
			for u, x := range ca {
				na += x * x
				dot += x * cb[u]
			}
			for _, y := range cb {
				nb += y * y
			}
			if dot > 0 {
				out[[2]string{a, b}] = dot / math.Sqrt(na*nb)
			}
		}
	}
	return out
}

// estimate runs the plain-Go path of Similarities: sample, accumulate with
// a flush every chunk rows (0: once) summed on the given goroutines, merge
// per item.
func estimate(rows []model.Row, t ItemTable, threshold float64, seed uint64, chunk, goroutines int) map[[2]string]float64 {
	index := map[string]int32{}
	for i, item := range t.Items {
		index[item] = int32(i)
	}
	params := NewParams(t, threshold)
	acc := NewAccumulator(len(t.Items), goroutines, model.Cosine, false)
	parts := map[int32][]PartialRow{}
	collect := func(i int32, p PartialRow) { parts[i] = append(parts[i], p) }
	for n, r := range rows {
		ids := make([]int32, len(r.Items))
		for k, item := range r.Items {
			ids[k] = index[item]
		}
		kept, vals := params.Sample(seed, r.User, r.Items, ids, r.Scores, nil, nil)
		acc.Add(kept, vals)
		if chunk > 0 && (n+1)%chunk == 0 {
			acc.Flush(collect)
		}
	}
	acc.Flush(collect)
	out := map[[2]string]float64{}
	var m Merger
	for i, ps := range parts {
		k := 0
		row := m.Merge(params, i, func(p *PartialRow) bool {
			if k == len(ps) {
				return false
			}
			*p = ps[k]
			k++
			return true
		})
		for x, j := range row.J {
			out[[2]string{t.Items[i], t.Items[j]}] = row.S[x]
		}
	}
	return out
}

// randomRows is a random sparse score matrix; scores are in (0, 5].
func randomRows(r *rand.Rand, users, items int, density float64) []model.Row {
	var rows []model.Row
	for u := 0; u < users; u++ {
		row := model.Row{User: "u" + itoa(u)}
		for i := 0; i < items; i++ {
			if r.Float64() < density {
				row.Items = append(row.Items, "i"+itoa(1000+i)) // fixed width: string order is numeric order
				row.Scores = append(row.Scores, float64(1+r.IntN(10))/2)
			}
		}
		if len(row.Items) > 0 {
			rows = append(rows, row)
		}
	}
	return rows
}

func itoa(n int) string { return fmt.Sprintf("%04d", n) }

func TestExactEqualsBruteForce(t *testing.T) {
	rows := randomRows(rand.New(rand.NewPCG(7, 7)), 120, 60, 0.15)
	want := bruteCosines(rows)
	got := estimate(rows, bruteTable(rows), 0, 1, 0, 2)
	if len(got) != len(want) {
		t.Fatalf("%d pairs, want %d", len(got), len(want))
	}
	for pair, w := range want {
		if g, ok := got[pair]; !ok || math.Abs(g-w) > 1e-9 {
			t.Errorf("pair %v: got %v (present %v), want %v", pair, g, ok, w)
		}
	}
}

// TestFlushingDoesNotChangeBits: however often a worker flushes (bundle
// size, memory budget) and on however many goroutines it sums, the sums are
// the same bits.
func TestFlushingDoesNotChangeBits(t *testing.T) {
	rows := randomRows(rand.New(rand.NewPCG(3, 4)), 200, 300, 0.05) // more items than a flush chunk
	table := bruteTable(rows)
	for _, threshold := range []float64{0, 0.5} {
		ref := estimate(rows, table, threshold, 9, 0, 1)
		for _, chunk := range []int{0, 1, 7, 50} {
			for _, goroutines := range []int{1, 2, 3, 8} {
				got := estimate(rows, table, threshold, 9, chunk, goroutines)
				if len(got) != len(ref) {
					t.Fatalf("threshold %v chunk %d goroutines %d: %d pairs, want %d", threshold, chunk, goroutines, len(got), len(ref))
				}
				for pair, v := range ref {
					if got[pair] != v {
						t.Fatalf("threshold %v chunk %d goroutines %d: pair %v = %v, unchunked %v", threshold, chunk, goroutines, pair, got[pair], v)
					}
				}
			}
		}
	}
}

// TestFlushOrderAndRows: a flush emits the same partial rows, items
// ascending, on any number of goroutines.
func TestFlushOrderAndRows(t *testing.T) {
	rows := randomRows(rand.New(rand.NewPCG(5, 6)), 300, 500, 0.04)
	table := bruteTable(rows)
	index := map[string]int32{}
	for i, item := range table.Items {
		index[item] = int32(i)
	}
	flush := func(goroutines int) (items []int32, parts []PartialRow) {
		acc := NewAccumulator(len(table.Items), goroutines, model.Cosine, false)
		for _, r := range rows {
			ids := make([]int32, len(r.Items))
			for k, item := range r.Items {
				ids[k] = index[item]
			}
			acc.Add(ids, r.Scores)
		}
		acc.Flush(func(i int32, p PartialRow) {
			items, parts = append(items, i), append(parts, p)
		})
		return items, parts
	}
	refItems, refParts := flush(1)
	if len(refItems) < 2*flushChunk {
		t.Fatalf("only %d items have pairs: the goroutines would not split the work", len(refItems))
	}
	if !slices.IsSorted(refItems) {
		t.Fatal("items not emitted in ascending order")
	}
	for _, goroutines := range []int{2, 3, 8} {
		items, parts := flush(goroutines)
		if !slices.Equal(items, refItems) || !reflect.DeepEqual(parts, refParts) {
			t.Errorf("%d goroutines: flush differs from one goroutine's", goroutines)
		}
	}
}

// TestUnbiased: on a matrix whose norms exceed sg (so entries are dropped),
// the mean estimate over 200 seeds is within 3 standard errors of the exact
// cosine for every pair. The seeds are fixed, so the test is repeatable.
func TestUnbiased(t *testing.T) {
	const seeds, threshold = 200, 0.5
	rows := randomRows(rand.New(rand.NewPCG(11, 12)), 300, 6, 0.6)
	table := bruteTable(rows)
	sg := Oversampling(threshold, len(table.Items))
	for i, n := range table.Norms {
		if n/table.Scale <= sg {
			t.Fatalf("item %s has scaled norm %.2f <= sg %.2f: nothing would be sampled", table.Items[i], n/table.Scale, sg)
		}
	}
	exact := bruteCosines(rows)
	sum, sumSq := map[[2]string]float64{}, map[[2]string]float64{}
	for seed := uint64(1); seed <= seeds; seed++ {
		est := estimate(rows, table, threshold, seed, 0, 1)
		for pair := range exact {
			sum[pair] += est[pair]
			sumSq[pair] += est[pair] * est[pair]
		}
	}
	for pair, want := range exact {
		mean := sum[pair] / seeds
		sd := math.Sqrt((sumSq[pair] - seeds*mean*mean) / (seeds - 1))
		se := sd / math.Sqrt(seeds)
		if sd == 0 {
			t.Errorf("pair %v: estimates never vary: not sampled", pair)
		}
		if math.Abs(mean-want) > 3*se {
			t.Errorf("pair %v: mean %.5f, exact %.5f, |diff| %.5f > 3 SE (%.5f)", pair, mean, want, math.Abs(mean-want), 3*se)
		}
	}
}

func TestDrawIsUniformAndDeterministic(t *testing.T) {
	const n, bins = 100000, 10
	var count [bins]int
	for k := 0; k < n; k++ {
		d := Draw(42, "user"+itoa(k%5000), "item"+itoa(k/5000))
		if d < 0 || d >= 1 {
			t.Fatalf("Draw = %v outside [0,1)", d)
		}
		count[int(d*bins)]++
	}
	chi2 := 0.0
	for _, c := range count {
		e := float64(n) / bins
		chi2 += (float64(c) - e) * (float64(c) - e) / e
	}
	// 9 degrees of freedom: P(chi2 > 27.88) = 0.001.
	if chi2 > 27.88 {
		t.Errorf("chi-square %.1f over %v: draws are not uniform", chi2, count)
	}
	if Draw(1, "ab", "c") == Draw(1, "a", "bc") {
		t.Error("(ab, c) and (a, bc) draw alike: the separator is missing")
	}
	if Draw(1, "u", "i") != Draw(1, "u", "i") || Draw(1, "u", "i") == Draw(2, "u", "i") {
		t.Error("Draw must depend on (seed, user, item) and nothing else")
	}
}

func TestOversampling(t *testing.T) {
	if !math.IsInf(Oversampling(0, 100), 1) {
		t.Error("threshold 0 must mean sg = +Inf (exact)")
	}
	if got, want := Oversampling(0.1, 1000), math.Sqrt(10*math.Log(1000)/0.1); got != want {
		t.Errorf("Oversampling(0.1, 1000) = %v, want %v", got, want)
	}
	// Raw norms 2 and 100 at B = 4 are scaled norms 0.5 and 25, against
	// sg = sqrt(10·ln 4 / 0.5) = 5.27: the first is kept whole, the second
	// sampled; a zero or infinite norm keeps nothing.
	p := NewParams(ItemTable{Items: []string{"a", "b", "c", "d"}, Norms: []float64{2, 100, 0, math.Inf(1)}, Scale: 4}, 0.5)
	sg := Oversampling(0.5, 4)
	divisor := func(i int) float64 { return math.Ldexp(p.Residual[i], p.Shift[i]) }
	if p.Keep[0] != 1 || divisor(0) != 2 || p.Keep[1] != sg*4/100 || divisor(1) != sg*4 {
		t.Errorf("NewParams = %+v (sg %v)", p, sg)
	}
	// 2 = 0.5·2^2 (the residual is a mantissa in [0.5, 1)), so an entry of
	// score 3 contributes 3/4 and pair (0, 0) would divide its sum by 0.25.
	if p.Residual[0] != 0.5 || p.Shift[0] != 2 || p.Similarity(0, 0, 1) != 4 {
		t.Errorf("item 0: residual %v, shift %d, Similarity(0, 0, 1) = %v; want 0.5, 2, 4", p.Residual[0], p.Shift[0], p.Similarity(0, 0, 1))
	}
	if _, vals := p.Sample(1, "u", []string{"a"}, []int32{0}, []float64{3}, nil, nil); len(vals) != 1 || vals[0] != 0.75 {
		t.Errorf("Sample of score 3 for item 0 = %v, want [0.75]", vals)
	}
	if p.Keep[2] != 0 || p.Keep[3] != 0 {
		t.Errorf("unusable norms keep %v and %v, want 0", p.Keep[2], p.Keep[3])
	}
}

func TestAccumulatorSkipsLoneEntries(t *testing.T) {
	acc := NewAccumulator(3, 1, model.Cosine, false)
	if n := acc.Add([]int32{1}, []float64{1}); n != 0 {
		t.Errorf("a single entry adds %d pairs", n)
	}
	if n := acc.Add([]int32{0, 1, 2}, []float64{1, 0.5, 0.25}); n != 3 {
		t.Errorf("three entries add %d pairs, want 3", n)
	}
	var got []int32
	acc.Flush(func(i int32, p PartialRow) {
		got = append(got, i)
		if !slices.IsSorted(p.J) || p.J[0] <= i {
			t.Errorf("row %d: J %v not ascending above i", i, p.J)
		}
	})
	if !slices.Equal(got, []int32{0, 1}) {
		t.Errorf("flushed rows %v, want [0 1]", got)
	}
	if acc.Pending() != 0 {
		t.Error("Flush must empty the buffer")
	}
}

// TestShuffledSumsStayShort checks why the divisors are split: at the
// default weights (0.5, 2, 6) and norms that are no power of two, an
// entry's contribution keeps its score's few significant bits, so each
// pair's exact sum encodes in at most 4 bytes (dividing by the norm first
// gave full 53-bit mantissas: 10 to 11 bytes a pair). The estimates are
// still the cosines, checked against the brute force.
func TestShuffledSumsStayShort(t *testing.T) {
	weights := []float64{0.5, 2, 6, 6.5, 8, 12}
	r := rand.New(rand.NewPCG(3, 4))
	var rows []model.Row
	for u := range 300 {
		row := model.Row{User: "u" + itoa(u)}
		for i := range 40 {
			if r.Float64() < 0.2 {
				row.Items = append(row.Items, "i"+itoa(1000+i))
				row.Scores = append(row.Scores, weights[r.IntN(len(weights))])
			}
		}
		if len(row.Items) > 0 {
			rows = append(rows, row)
		}
	}
	table := bruteTable(rows)
	params := NewParams(table, 0)
	index := map[string]int32{}
	for i, item := range table.Items {
		index[item] = int32(i)
	}
	acc := NewAccumulator(len(table.Items), 1, model.Cosine, false)
	for _, row := range rows {
		ids := make([]int32, len(row.Items))
		for k, item := range row.Items {
			ids[k] = index[item]
		}
		kept, vals := params.Sample(1, row.User, row.Items, ids, row.Scores, nil, nil)
		acc.Add(kept, vals)
	}
	pairs, sumBytes := 0, 0
	acc.Flush(func(_ int32, p PartialRow) {
		for _, s := range p.Sums {
			pairs++
			sumBytes += s.EncodedLen()
			if s.EncodedLen() > 4 {
				t.Errorf("a pair's sum encodes in %d bytes, want at most 4", s.EncodedLen())
			}
		}
	})
	if pairs == 0 {
		t.Fatal("no pair was summed")
	}
	t.Logf("%d pairs, %.2f bytes per sum", pairs, float64(sumBytes)/float64(pairs))
	want := bruteCosines(rows)
	got := estimate(rows, table, 0, 1, 0, 1)
	if len(got) != len(want) {
		t.Fatalf("%d pairs estimated, brute force has %d", len(got), len(want))
	}
	for k, w := range want {
		if g := got[k]; math.Abs(g-w) > 1e-12 {
			t.Errorf("pair %v: %v, brute force %v", k, g, w)
		}
	}
}
