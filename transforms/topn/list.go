package topn

import "github.com/recsys/itemsim/model"

// List is a bounded list of candidates, best first (model.Order): the
// combiner's accumulator, kept by model.Insert and model.Merge.
type List struct {
	C []model.Candidate
}

// Combiner merges partial top-N lists of an item into its final list
// (model.Merge): a typed combiner, so runners that lift combiners merge
// before the shuffle. A candidate reaches an item once (each pair is
// summed in one place), so no duplicates meet.
type Combiner struct {
	N int
}

// CreateAccumulator returns an empty list.
func (c *Combiner) CreateAccumulator() List { return List{} }

// AddInput merges a partial list in.
func (c *Combiner) AddInput(acc, in List) List { return List{C: model.Merge(acc.C, in.C, c.N)} }

// MergeAccumulators merges two partial lists.
func (c *Combiner) MergeAccumulators(a, b List) List { return List{C: model.Merge(a.C, b.C, c.N)} }

// ExtractOutput returns the final list.
func (c *Combiner) ExtractOutput(acc List) List { return acc }
