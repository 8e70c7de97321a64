package model

import (
	"math"
	"testing"

	"github.com/recsys/itemsim/internal/exactsum"
)

func TestDecayAndWindow(t *testing.T) {
	r := Rules{HalfLife: 100, Since: 10, Until: 20}
	tests := []struct {
		w       float64
		t, asOf int64
		want    float64
	}{
		{8, 1000, 1000, 8},
		{8, 900, 1000, 4},
		{8, 800, 1000, 2},
		{8, 1100, 1000, 8}, // newer than as_of: full weight
	}
	for _, tc := range tests {
		if got := r.Decay(tc.w, tc.t, tc.asOf); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Decay(%v, %d, %d) = %v, want %v", tc.w, tc.t, tc.asOf, got, tc.want)
		}
	}
	if got := (Rules{}).Decay(8, 0, 1000); got != 8 {
		t.Errorf("no half-life: Decay = %v, want 8", got)
	}
	for tm, want := range map[int64]bool{9: false, 10: true, 19: true, 20: false} {
		if r.InWindow(tm) != want {
			t.Errorf("InWindow(%d) = %v", tm, !want)
		}
	}
	if !(Rules{}).InWindow(math.MinInt64) || !(Rules{}).InWindow(math.MaxInt64) {
		t.Error("open bounds must keep every time")
	}
}

func TestNeedsTime(t *testing.T) {
	for r, want := range map[Rules]bool{
		{Aggregate: AggregateSum}:              false,
		{Aggregate: AggregateSum, HalfLife: 1}: true,
		{Aggregate: AggregateSum, Since: 1}:    true,
		{Aggregate: AggregateSum, Until: 1}:    true,
		{Aggregate: AggregateSum, AsOf: 1}:     false, // as_of alone decays nothing
	} {
		if r.NeedsTime() != want {
			t.Errorf("%+v: NeedsTime() = %v", r, !want)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []struct {
		r    Rules
		want string
	}{
		{Rules{Aggregate: "avg"}, `--aggregate="avg": want sum or max`},
		{Rules{Aggregate: AggregateSum, Clip: -1}, "--clip_score must be >= 0 (0 disables clipping)"},
		{Rules{Aggregate: AggregateSum, Clip: math.NaN()}, "--clip_score must be >= 0 (0 disables clipping)"},
		{Rules{Aggregate: AggregateSum, MaxItemsPerUser: -1}, "--max_items_per_user must be >= 0 (0 keeps every item)"},
		{Rules{Aggregate: AggregateSum, Since: 5, Until: 5}, "--since must be before --until"},
		{Rules{Aggregate: AggregateSum, HalfLife: math.NaN()}, "--half_life must be a positive duration or 0"},
		{Rules{Aggregate: AggregateSum, HalfLife: math.Inf(1)}, "--half_life must be a positive duration or 0"},
	}
	for _, tc := range bad {
		if err := tc.r.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %v, want %q", tc.r, err, tc.want)
		}
	}
	if err := (Rules{Aggregate: AggregateMax, HalfLife: 3600}).Validate(); err != nil {
		t.Error(err)
	}
}

// TestScore: one item's score by hand, under both aggregations, with and
// without the clip.
func TestScore(t *testing.T) {
	sum := exactsum.Of(0.5, 2, 6) // 8.5; the largest weight is 6
	tests := []struct {
		r          Rules
		score, raw float64
	}{
		{Rules{Aggregate: AggregateSum}, 8.5, 8.5},
		{Rules{Aggregate: AggregateMax}, 6, 6},
		{Rules{Aggregate: AggregateSum, Clip: 6}, 6, 8.5},
		{Rules{Aggregate: AggregateMax, Clip: 6}, 6, 6}, // at the clip: not clipped
		{Rules{Aggregate: AggregateMax, Clip: 2}, 2, 6},
		{Rules{Aggregate: AggregateSum, Clip: 10}, 8.5, 8.5},
	}
	for _, tc := range tests {
		score, raw := tc.r.Score(sum, 6)
		if score != tc.score || raw != tc.raw {
			t.Errorf("%+v: Score = %v, %v; want %v, %v", tc.r, score, raw, tc.score, tc.raw)
		}
	}
}
