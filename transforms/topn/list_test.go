package topn

import (
	"slices"
	"testing"

	"github.com/recsys/itemsim/model"
)

func TestCombiner(t *testing.T) {
	c := &Combiner{N: 2}
	acc := c.CreateAccumulator()
	acc = c.AddInput(acc, List{C: []model.Candidate{{ID: 3, Score: 0.2}, {ID: 4, Score: 0.1}}})
	acc = c.MergeAccumulators(acc, List{C: []model.Candidate{{ID: 5, Score: 0.3}}})
	if got := c.ExtractOutput(acc); !slices.Equal(got.C, []model.Candidate{{ID: 5, Score: 0.3}, {ID: 3, Score: 0.2}}) {
		t.Errorf("combined %v", got.C)
	}
}
