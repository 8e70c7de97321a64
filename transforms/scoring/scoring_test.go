package scoring

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/interactions"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// TestValidate: the rules' errors come from model.Rules.Validate; the
// shards are checked here.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Rules: model.Rules{Aggregate: "avg"}}, `--aggregate="avg": want sum or max`},
		{Config{Rules: model.Rules{Aggregate: model.AggregateSum}, Shards: -1}, "--user_shards must be >= 0 (0 means 256)"},
	} {
		if err := tc.c.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %v, want %q", tc.c, err, tc.want)
		}
	}
	if err := (Config{Rules: model.Rules{Aggregate: model.AggregateMax}, Shards: 0}).Validate(); err != nil {
		t.Error(err)
	}
}

// TestPerUser runs the transform: window, decay against the newest event,
// sum per item, clip.
func TestPerUser(t *testing.T) {
	ev := func(u, i string, w float64, tm int64) interactions.Event {
		return interactions.Event{User: u, Item: i, Weight: w, Time: tm, HasTime: true}
	}
	events := []interactions.Event{
		ev("u1", "a", 2, 1000), ev("u1", "a", 2, 900), ev("u1", "b", 6, 1000),
		ev("u2", "a", 0.5, 1000), ev("u2", "c", 4, 100), // outside the window
		ev("u3", "z", 8, 50), // outside: u3 has no row
	}
	for _, tc := range []struct {
		name string
		c    Config
		want []model.Row
	}{
		{"decay from the newest event (side input)", Config{Rules: model.Rules{HalfLife: 100}}, []model.Row{
			{User: "u1", Items: []string{"a", "b"}, Scores: []float64{3, 5}}, // 2 + 2/2; 6 clipped
			{User: "u2", Items: []string{"a"}, Scores: []float64{0.5}},
		}},
		{"decay from --as_of", Config{Rules: model.Rules{HalfLife: 100, AsOf: 1100}}, []model.Row{
			{User: "u1", Items: []string{"a", "b"}, Scores: []float64{1.5, 3}}, // 2/2 + 2/4; 6/2
			{User: "u2", Items: []string{"a"}, Scores: []float64{0.25}},
		}},
		{"no decay", Config{}, []model.Row{
			{User: "u1", Items: []string{"a", "b"}, Scores: []float64{4, 5}},
			{User: "u2", Items: []string{"a"}, Scores: []float64{0.5}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Aggregate, c.Since, c.Clip, c.Shards = model.AggregateSum, 500, 5, 2
			p, s := beam.NewPipelineWithRoot()
			// Two batches, and two shards: the users' events meet across both.
			batches := beam.Create(s, interactions.Batch{Events: events[:3]}, interactions.Batch{Events: events[3:]})
			passert.Equals(s, Rows(s, PerUser(s, batches, c)), beam.CreateList(s, tc.want))
			ptest.RunAndValidate(t, p)
		})
	}
}
