// Package popularity ranks items by how many users interacted with them: the
// fallback a recommender serves when a customer's items have no neighbours.
package popularity

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/scoring"
)

func init() {
	register.DoFn3x0[context.Context, scoring.Shard, func(string, int64)](&countFn{})
	register.Function2x1(add)
	register.Function3x0(toItem)
	register.Combiner3[Ranking, model.PopularItem, []model.PopularItem](&rankFn{})
	register.Emitter2[string, int64]()
	register.Emitter1[model.PopularItem]()
}

// Ranking is a bounded list of the most popular items seen, best first
// (model.PopularItem.Compare: more users first, ties by smaller id).
type Ranking struct {
	Items []model.PopularItem
}

// rankFn is a typed combiner keeping the N most popular items. (Beam's
// transforms/top is reflective and fails --beam_strict.)
type rankFn struct {
	N int
}

func (f *rankFn) CreateAccumulator() Ranking { return Ranking{} }

func (f *rankFn) AddInput(r Ranking, it model.PopularItem) Ranking {
	return f.MergeAccumulators(r, Ranking{Items: []model.PopularItem{it}})
}

// MergeAccumulators keeps the N best of both rankings (model.Merge, a new
// list: the inputs are not modified).
func (f *rankFn) MergeAccumulators(a, b Ranking) Ranking {
	return Ranking{Items: model.Merge(a.Items, b.Items, f.N)}
}

func (f *rankFn) ExtractOutput(r Ranking) []model.PopularItem { return r.Items }

// Top returns a PCollection holding one []model.PopularItem: the n items
// with the most users in rows (a PCollection<model.Row>, or of
// scoring.Shard batches of rows: see scoring.Batches), most popular first.
func Top(s beam.Scope, rows beam.PCollection, n int) beam.PCollection {
	s = s.Scope("popularity.Top")
	rows = scoring.Batches(s, rows)
	counts := beam.CombinePerKey(s, add, beam.ParDo(s, &countFn{}, rows))
	return beam.Combine(s, &rankFn{N: n}, beam.ParDo(s, toItem, counts))
}

func add(a, b int64) int64 { return a + b }

func toItem(item string, users int64, emit func(model.PopularItem)) {
	emit(model.PopularItem{Item: item, Users: users})
}

// countFn counts users per item inside the bundle and emits one count per
// item per bundle.
type countFn struct {
	counts map[string]int64
}

func (f *countFn) StartBundle(_ context.Context, _ func(string, int64)) {
	f.counts = map[string]int64{}
}

func (f *countFn) ProcessElement(_ context.Context, sh scoring.Shard, _ func(string, int64)) {
	for _, r := range sh.Rows {
		for _, item := range r.Items {
			f.counts[item]++
		}
	}
}

func (f *countFn) FinishBundle(_ context.Context, emit func(string, int64)) {
	for item, n := range f.counts {
		emit(item, n)
	}
}
