package dimsum_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
	"github.com/recsys/itemsim/transforms/scoring"
	"github.com/recsys/itemsim/transforms/topn"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

func init() {
	register.Function1x1(round12)
	register.Function1x1(roundTable)
	register.DoFn4x1[context.Context, int, func(*pairScore) bool, []dimsum.ItemTable, error](&matchFn{})
	register.DoFn4x0[context.Context, int64, dimsum.Row, func(pairScore)](&pairsFn{})
	register.Iter1[pairScore]()
	register.Emitter1[pairScore]()
}

// The hand matrix: four users, four items, cosines worked out on paper.
//
//	    A  B  C  D
//	u1  2  1  .  .      |A|² = 6, |B|² = 6, |C|² = 8, |D|² = 5
//	u2  1  .  2  .      A·B = 3  -> 3/√36 = 0.5
//	u3  .  2  2  1      A·C = 2  -> 2/√48 = 1/(2√3)
//	u4  1  1  .  2      A·D = 2  -> 2/√30;  B·C = 4 -> 1/√3
//	                    B·D = 4  -> 4/√30;  C·D = 2 -> 1/√10
var handRows = []model.Row{
	{User: "u1", Items: []string{"A", "B"}, Scores: []float64{2, 1}},
	{User: "u2", Items: []string{"A", "C"}, Scores: []float64{1, 2}},
	{User: "u3", Items: []string{"B", "C", "D"}, Scores: []float64{2, 2, 1}},
	{User: "u4", Items: []string{"A", "B", "D"}, Scores: []float64{1, 1, 2}},
}

func round(x float64) float64 { return math.Round(x*1e12) / 1e12 }

// round12 and roundTable round scores to 12 decimals, into new slices:
// elements are not to be changed in place.
func round12(n model.Neighbors) model.Neighbors {
	out := model.Neighbors{Item: n.Item}
	for _, x := range n.Neighbors {
		out.Neighbors = append(out.Neighbors, model.Neighbor{Item: x.Item, Score: round(x.Score)})
	}
	return out
}

func roundTable(t dimsum.ItemTable) dimsum.ItemTable {
	out := dimsum.ItemTable{Items: t.Items, Scale: t.Scale, Counts: t.Counts, Users: t.Users, Totals: t.Totals}
	for _, x := range t.Norms {
		out.Norms = append(out.Norms, round(x))
	}
	return out
}

func nb(item string, score float64) model.Neighbor {
	return model.Neighbor{Item: item, Score: round(score)}
}

// shard deals rows round-robin into n shards.
func shard(rows []model.Row, n int) []scoring.Shard {
	out := make([]scoring.Shard, n)
	for k, r := range rows {
		out[k%n].Rows = append(out[k%n].Rows, r)
	}
	return out
}

// TestHandMatrix: the table's scale is the largest score (2) without a
// bound, the bound (the scoring clip) with one; cosines do not depend on it.
func TestHandMatrix(t *testing.T) {
	for _, tc := range []struct {
		name         string
		bound, scale float64
	}{
		{"scale from the scores", 0, 2},
		{"scale from the clip", 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			rows := beam.CreateList(s, shard(handRows, 2))
			table := dimsum.Table(s, rows, tc.bound)
			b := tc.scale
			passert.Equals(s, beam.ParDo(s, roundTable, table), dimsum.ItemTable{
				Items:  []string{"A", "B", "C", "D"},
				Norms:  []float64{round(math.Sqrt(6)), round(math.Sqrt(6)), round(math.Sqrt(8)), round(math.Sqrt(5))},
				Scale:  b,
				Counts: []int64{3, 3, 2, 2},
				Users:  4,
				Totals: []float64{4, 4, 4, 3},
			})
			pairs := dimsum.Similarities(s, dimsum.Config{}, rows, table)
			got := topn.Top(s, 2, 0, pairs, table)
			passert.Equals(s, beam.ParDo(s, round12, got),
				model.Neighbors{Item: "A", Neighbors: []model.Neighbor{nb("B", 0.5), nb("D", 2/math.Sqrt(30))}},
				model.Neighbors{Item: "B", Neighbors: []model.Neighbor{nb("D", 4/math.Sqrt(30)), nb("C", 1/math.Sqrt(3))}},
				model.Neighbors{Item: "C", Neighbors: []model.Neighbor{nb("B", 1/math.Sqrt(3)), nb("D", 1/math.Sqrt(10))}},
				model.Neighbors{Item: "D", Neighbors: []model.Neighbor{nb("B", 4/math.Sqrt(30)), nb("A", 2/math.Sqrt(30))}},
			)
			ptest.RunAndValidate(t, p)
		})
	}
}

// TestHandMeasures scores the hand matrix by Jaccard (c_A = c_B = 3,
// c_C = c_D = 2; A,B and B,D share 2 users, the other pairs 1) and by the
// asymmetric cosine at α = 3/4, where i's list scores j by
// dot_ij/(‖i‖²)^(3/4)(‖j‖²)^(1/4) (dots A·B 3, A·C 2, A·D 2, B·C 4, B·D 4,
// C·D 2; ‖·‖² 6, 6, 8, 5): the second checks that each direction reaches
// its own list.
func TestHandMeasures(t *testing.T) {
	for _, tc := range []struct {
		name string
		sim  model.Similarity
		want []model.Neighbors
	}{
		{"jaccard", model.Similarity{Measure: model.Jaccard, Weighting: model.WeightNone, Alpha: 0.5}, []model.Neighbors{
			{Item: "A", Neighbors: []model.Neighbor{nb("B", 0.5), nb("C", 0.25)}},
			{Item: "B", Neighbors: []model.Neighbor{nb("D", 2.0/3), nb("A", 0.5)}},
			{Item: "C", Neighbors: []model.Neighbor{nb("D", 1.0/3), nb("A", 0.25)}},
			{Item: "D", Neighbors: []model.Neighbor{nb("B", 2.0/3), nb("C", 1.0/3)}},
		}},
		// Rating totals A 4, B 4, C 4, D 3; co-ratings (the minima) A·B
		// 1+1, A·C 1, A·D 1, B·C 2, B·D 1+1, C·D 1.
		{"corating", model.Similarity{Measure: model.Corating, Weighting: model.WeightNone, Alpha: 0.5}, []model.Neighbors{
			{Item: "A", Neighbors: []model.Neighbor{nb("B", 0.5), nb("D", 1/math.Sqrt(12))}},
			{Item: "B", Neighbors: []model.Neighbor{nb("D", 2/math.Sqrt(12)), nb("A", 0.5)}},
			{Item: "C", Neighbors: []model.Neighbor{nb("B", 0.5), nb("D", 1/math.Sqrt(12))}},
			{Item: "D", Neighbors: []model.Neighbor{nb("B", 2/math.Sqrt(12)), nb("A", 1/math.Sqrt(12))}},
		}},
		{"asymmetric alpha 0.75", model.Similarity{Measure: model.Cosine, Weighting: model.WeightNone, Alpha: 0.75}, []model.Neighbors{
			{Item: "A", Neighbors: []model.Neighbor{nb("B", 3/asym(6, 6)), nb("D", 2/asym(6, 5))}},
			{Item: "B", Neighbors: []model.Neighbor{nb("D", 4/asym(6, 5)), nb("C", 4/asym(6, 8))}},
			{Item: "C", Neighbors: []model.Neighbor{nb("B", 4/asym(8, 6)), nb("D", 2/asym(8, 5))}},
			{Item: "D", Neighbors: []model.Neighbor{nb("B", 4/asym(5, 6)), nb("A", 2/asym(5, 6))}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			rows := beam.CreateList(s, shard(handRows, 2))
			table, pairs := dimsum.Pairs(s, dimsum.Config{Similarity: tc.sim}, rows, 0)
			got := topn.Top(s, 2, 0, pairs, table)
			passert.Equals(s, beam.ParDo(s, round12, got), beam.CreateList(s, tc.want))
			ptest.RunAndValidate(t, p)
		})
	}
}

// asym is the α = 3/4 denominator (‖i‖²)^(3/4)·(‖j‖²)^(1/4).
func asym(sqI, sqJ float64) float64 { return math.Pow(sqI, 0.75) * math.Pow(sqJ, 0.25) }

type pairScore struct {
	I, J  int32
	Score float64
}

type pairsFn struct{}

func (pairsFn) ProcessElement(_ context.Context, i int64, r dimsum.Row, emit func(pairScore)) {
	for k, j := range r.J {
		emit(pairScore{I: int32(i), J: j, Score: r.S[k]})
	}
}

// matchFn fails unless the pipeline's pairs are exactly the wanted pairs,
// each within Tol.
type matchFn struct {
	Want map[string]float64
	Tol  float64
}

func (f *matchFn) ProcessElement(_ context.Context, _ int, pairs func(*pairScore) bool, tables []dimsum.ItemTable) error {
	items := tables[0].Items
	seen := 0
	var ps pairScore
	for pairs(&ps) {
		key := items[ps.I] + "|" + items[ps.J]
		want, ok := f.Want[key]
		if !ok || math.Abs(ps.Score-want) > f.Tol {
			return fmt.Errorf("pair %s = %v; want %v (expected: %v)", key, ps.Score, want, ok)
		}
		seen++
	}
	if seen != len(f.Want) {
		return fmt.Errorf("got %d pairs, want %d", seen, len(f.Want))
	}
	return nil
}

// TestPipelineExactEqualsBruteForce runs the Beam transforms on a random
// sparse matrix, with a tiny flush budget so that partial rows really meet
// in the shuffle, and compares every pair with the brute-force cosine.
// matchFn runs once per group, so an empty output would never reach it:
// passert.Count makes a missing or partial output fail on its own.
func TestPipelineExactEqualsBruteForce(t *testing.T) {
	rows := dimsum.RandomRows(120, 60, 0.15)
	want := map[string]float64{}
	for pair, v := range dimsum.BruteCosines(rows) {
		want[pair[0]+"|"+pair[1]] = v
	}
	if len(want) < 100 {
		t.Fatalf("the fixture has %d pairs: too few to test", len(want))
	}
	p, s := beam.NewPipelineWithRoot()
	in := beam.CreateList(s, rows) // one row per element: the composites batch them
	table := dimsum.Table(s, in, 0)
	pairs := dimsum.Similarities(s, dimsum.Config{MaxPendingPairs: 50, Shards: 3}, in, table)
	flat := beam.ParDo(s, &pairsFn{}, pairs)
	passert.Count(s, flat, "pairs", len(want))
	beam.ParDo0(s, &matchFn{Want: want, Tol: 1e-9}, beam.GroupByKey(s, beam.AddFixedKey(s, flat)), beam.SideInput{Input: table})
	ptest.RunAndValidate(t, p)
}
