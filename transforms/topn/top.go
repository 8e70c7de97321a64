package topn

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
)

func init() {
	register.Combiner3[List, List, List](&Combiner{})
	register.DoFn4x0[context.Context, int64, dimsum.Row, func(int64, List)](&candidatesFn{})
	register.DoFn5x0[context.Context, int64, List, []dimsum.ItemTable, func(model.Neighbors)](&nameFn{})
	register.Emitter2[int64, List]()
	register.Emitter1[model.Neighbors]()
}

// Top keeps each item's n best neighbours with a score of at least
// minScore. rows is dimsum.Similarities' PCollection<KV<int64, dimsum.Row>>,
// table dimsum.Table's. Each pair feeds the lists of both its items (with
// s_ij in i's list and s_ji in j's, which differ for an asymmetric measure). It
// returns a PCollection<model.Neighbors>, one per item with a neighbour. Counter:
// topn/items.
func Top(s beam.Scope, n int, minScore float64, rows, table beam.PCollection) beam.PCollection {
	s = s.Scope("topn.Top")
	partial := beam.ParDo(s, &candidatesFn{N: n, MinScore: minScore}, rows)
	lists := beam.CombinePerKey(s, &Combiner{N: n}, partial)
	return beam.ParDo(s, &nameFn{}, lists, beam.SideInput{Input: table})
}

// candidatesFn keeps, inside the bundle, a bounded list per item fed from
// both directions of every pair, and emits each list once at the end of the
// bundle: one element per item per bundle crosses the shuffle, not one per
// pair.
type candidatesFn struct {
	N        int
	MinScore float64

	lists   []List
	touched []int32
}

func (f *candidatesFn) StartBundle(_ context.Context, _ func(int64, List)) {
	f.touched = f.touched[:0]
}

func (f *candidatesFn) list(id int32) *List {
	if int(id) >= len(f.lists) {
		f.lists = append(f.lists, make([]List, int(id)+1-len(f.lists))...)
	}
	l := &f.lists[id]
	if l.C == nil {
		l.C = make([]model.Candidate, 0, f.N)
		f.touched = append(f.touched, id)
	}
	return l
}

func (f *candidatesFn) ProcessElement(_ context.Context, i int64, row dimsum.Row, _ func(int64, List)) {
	id := int32(i)
	for k, j := range row.J {
		f.offer(id, j, row.S[k])
		back := row.S[k]
		if row.R != nil { // asymmetric: j's list holds s_ji
			back = row.R[k]
		}
		f.offer(j, id, back)
	}
}

// offer puts neighbour j with score s_ij in item i's list, unless the
// score is below MinScore or not positive.
func (f *candidatesFn) offer(i, j int32, score float64) {
	if score < f.MinScore || score <= 0 {
		return
	}
	l := f.list(i)
	l.C = model.Insert(l.C, model.Candidate{ID: j, Score: score}, f.N)
}

func (f *candidatesFn) FinishBundle(_ context.Context, emit func(int64, List)) {
	for _, id := range f.touched {
		emit(int64(id), f.lists[id])
		f.lists[id] = List{}
	}
	f.touched = f.touched[:0]
}

// nameFn turns a list of compact ids into named model.Neighbors.
type nameFn struct {
	items int64
}

func (f *nameFn) StartBundle(_ context.Context, _ []dimsum.ItemTable, _ func(model.Neighbors)) {
	f.items = 0
}

func (f *nameFn) ProcessElement(_ context.Context, id int64, l List, tables []dimsum.ItemTable, emit func(model.Neighbors)) {
	items := tables[0].Items
	out := model.Neighbors{Item: items[id], Neighbors: make([]model.Neighbor, len(l.C))}
	for k, c := range l.C {
		out.Neighbors[k] = model.Neighbor{Item: items[c.ID], Score: c.Score}
	}
	f.items++
	emit(out)
}

func (f *nameFn) FinishBundle(ctx context.Context, _ []dimsum.ItemTable, _ func(model.Neighbors)) {
	beam.NewCounter("topn", "items").Inc(ctx, f.items)
}
