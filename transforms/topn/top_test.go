package topn

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// rowKV carries a keyed row into beam.Create.
type rowKV struct {
	I   int64
	Row dimsum.Row
}

func splitRowKV(kv rowKV, emit func(int64, dimsum.Row)) { emit(kv.I, kv.Row) }

func init() { register.Function2x0(splitRowKV) }

// TestTop feeds upper-triangle rows: both directions reach each list, ties
// go to the smaller id, scores under minScore are dropped, and an item left
// with no neighbour gets no line.
func TestTop(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	table := beam.Create(s, dimsum.ItemTable{Items: []string{"a", "b", "c", "d", "e"}})
	in := beam.CreateList(s, []rowKV{
		{0, dimsum.Row{J: []int32{1, 2, 3}, S: []float64{0.5, 0.9, 0.5}}},
		{1, dimsum.Row{J: []int32{2, 4}, S: []float64{0.9, 0.05}}},
		{2, dimsum.Row{J: []int32{3}, S: []float64{0.2}}},
	})
	got := Top(s, 2, 0.1, beam.ParDo(s, splitRowKV, in), table)
	passert.Equals(s, got,
		model.Neighbors{Item: "a", Neighbors: []model.Neighbor{{Item: "c", Score: 0.9}, {Item: "b", Score: 0.5}}},
		model.Neighbors{Item: "b", Neighbors: []model.Neighbor{{Item: "c", Score: 0.9}, {Item: "a", Score: 0.5}}},
		model.Neighbors{Item: "c", Neighbors: []model.Neighbor{{Item: "a", Score: 0.9}, {Item: "b", Score: 0.9}}},
		model.Neighbors{Item: "d", Neighbors: []model.Neighbor{{Item: "a", Score: 0.5}, {Item: "c", Score: 0.2}}},
	)
	ptest.RunAndValidate(t, p)
}
