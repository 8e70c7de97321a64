package popularity

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/scoring"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

func TestTop(t *testing.T) {
	rows := []model.Row{
		{User: "u1", Items: []string{"a", "b", "c"}, Scores: []float64{1, 1, 1}},
		{User: "u2", Items: []string{"b", "c"}, Scores: []float64{1, 1}},
		{User: "u3", Items: []string{"c", "d"}, Scores: []float64{1, 1}},
		{User: "u4", Items: []string{"d"}, Scores: []float64{1}},
	}
	p, s := beam.NewPipelineWithRoot()
	// c has 3 users; b and d tie at 2 and b, the smaller id, comes first.
	passert.Equals(s, Top(s, beam.Create(s, scoring.Shard{Rows: rows[:2]}, scoring.Shard{Rows: rows[2:]}), 3), []model.PopularItem{{Item: "c", Users: 3}, {Item: "b", Users: 2}, {Item: "d", Users: 2}})
	ptest.RunAndValidate(t, p)
}
