package model

import (
	"fmt"
	"math"

	"github.com/recsys/itemsim/internal/exactsum"
)

// Aggregation modes.
const (
	AggregateSum = "sum" // the sum of the item's event weights (the seed's rule)
	AggregateMax = "max" // the largest single weight (Tencent's real-time item-CF)
)

// Rules are the scoring rules that turn a user's events into one implicit
// score per (user, item). Times are unix seconds; 0 leaves a bound open.
type Rules struct {
	Aggregate string
	// HalfLife in seconds: an event's weight halves every HalfLife before
	// AsOf (0: no decay).
	HalfLife float64
	// AsOf is the reference time of the decay; 0 means the newest event.
	AsOf int64
	// Since and Until keep events with Since <= time < Until.
	Since, Until int64
	// Clip caps each (user, item) score; 0 disables it (see
	// Weights.ResolveClip for the flag's default).
	Clip float64
	// MaxItemsPerUser keeps a user's highest-scored items only; 0 keeps all.
	// Items are ranked by their score before clipping, ties broken by a hash
	// of (Seed, user, item), so the cap favours no range of ids.
	MaxItemsPerUser int
	// Seed fixes the cap's tie-break (the job's --seed).
	Seed uint64
}

// NeedsTime reports whether the rules read event times.
func (r Rules) NeedsTime() bool { return r.HalfLife > 0 || r.Since != 0 || r.Until != 0 }

// Validate reports inconsistent rules in terms of their flags.
func (r Rules) Validate() error {
	switch {
	case r.Aggregate != AggregateSum && r.Aggregate != AggregateMax:
		return fmt.Errorf("--aggregate=%q: want sum or max", r.Aggregate)
	case r.HalfLife < 0 || math.IsNaN(r.HalfLife) || math.IsInf(r.HalfLife, 0):
		return fmt.Errorf("--half_life must be a positive duration or 0")
	case r.Clip < 0 || math.IsNaN(r.Clip) || math.IsInf(r.Clip, 0):
		return fmt.Errorf("--clip_score must be >= 0 (0 disables clipping)")
	case r.MaxItemsPerUser < 0:
		return fmt.Errorf("--max_items_per_user must be >= 0 (0 keeps every item)")
	case r.Since != 0 && r.Until != 0 && r.Since >= r.Until:
		return fmt.Errorf("--since must be before --until")
	}
	return nil
}

// InWindow reports whether an event time lies in [Since, Until).
func (r Rules) InWindow(t int64) bool {
	return (r.Since == 0 || t >= r.Since) && (r.Until == 0 || t < r.Until)
}

// Decay scales a weight by its age relative to asOf: 2^(-age/HalfLife).
// Events newer than asOf count in full.
func (r Rules) Decay(weight float64, t, asOf int64) float64 {
	if r.HalfLife <= 0 {
		return weight
	}
	age := float64(asOf - t)
	if age <= 0 {
		return weight
	}
	return weight * math.Exp2(-age/r.HalfLife)
}

// Score is one item's score given the exact sum and the largest of its
// (decayed) weights: the sum or the max, as Aggregate says, then clipped
// at Clip. raw is the score before clipping (the cap ranks by it); the
// score was clipped when score < raw.
func (r Rules) Score(sum exactsum.Sum, best float64) (score, raw float64) {
	raw = best
	if r.Aggregate == AggregateSum {
		raw = sum.Float64()
	}
	if r.Clip > 0 && raw > r.Clip {
		return r.Clip, raw
	}
	return raw, raw
}
