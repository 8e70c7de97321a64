package dimsum

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/scoring"
)

func init() {
	register.DoFn4x0[context.Context, scoring.Shard, []ItemTable, func(scoring.Shard)](&weighFn{})
	register.Emitter1[scoring.Shard]()
}

// Pairs scores every item pair that co-occurs in a user's row under
// c.Similarity: Table, then Similarities, in one pass over the pairs
// whatever the measure. A user weighting needs the catalogue's size and
// the items' lengths first, so then the rows are weighted with a first
// table and the table of the weighted rows is what the pairs use. bound is
// Table's (the scoring clip; unused once weighted). It returns the table
// (for naming ids, see topn.Top) and Similarities' rows.
func Pairs(s beam.Scope, c Config, rows beam.PCollection, bound float64) (table, pairs beam.PCollection) {
	s = s.Scope("dimsum.Pairs")
	rows = scoring.Batches(s, rows)
	table = Table(s, rows, bound)
	if sim := c.similarity(); sim.Weighting != model.WeightNone {
		rows = beam.ParDo(s, &weighFn{Similarity: sim}, rows, beam.SideInput{Input: table})
		table = Table(s, rows, 0)
	}
	return table, Similarities(s, c, rows, table)
}

// weighFn applies the user weighting to each row's scores.
type weighFn struct {
	Similarity model.Similarity

	table *ItemTable
	index map[string]int32
	ratio []float64 // each item's length t_i/t̄
}

func (f *weighFn) prepare(tables []ItemTable) {
	t := newTable(f.table, tables)
	if t == nil {
		return
	}
	f.table, f.index = t, t.Index()
	var sum exactsum.Sum
	for _, total := range t.Totals {
		sum.Add(total)
	}
	mean := sum.Float64() / float64(len(t.Items))
	f.ratio = make([]float64, len(t.Items))
	for i, total := range t.Totals {
		f.ratio[i] = total / mean
	}
}

func (f *weighFn) ProcessElement(_ context.Context, sh scoring.Shard, tables []ItemTable, emit func(scoring.Shard)) {
	f.prepare(tables)
	out := scoring.Shard{Rows: make([]model.Row, len(sh.Rows))}
	for k, r := range sh.Rows {
		w := model.Row{User: r.User, Items: r.Items, Scores: make([]float64, len(r.Scores))}
		for x, item := range r.Items {
			i, ok := f.index[item]
			if !ok {
				panic(fmt.Sprintf("dimsum: item %q of user %q is not in the item table", item, r.User))
			}
			w.Scores[x] = f.Similarity.Weigh(r.Scores[x], f.ratio[i], len(f.table.Items), len(r.Items))
		}
		out.Rows[k] = w
	}
	emit(out)
}
