package recommend

import (
	"fmt"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/scoring"
)

// Event is one of a customer's interactions in a request: an action mapped
// through the weights, or a weight given as is.
type Event struct {
	Item   string
	Action string
	// Weight is used when Action is "".
	Weight float64
}

// Profiler turns a customer's events into the weighted items Recommend
// takes, by the pipeline's rules: action weights, then one score per item
// (scoring.Aggregate: sum or max, clipped). Times are not known at request
// time, so there is no decay.
type Profiler struct {
	Weights interactions.Weights
	Scoring scoring.Config
}

// NewProfiler returns a Profiler for the pipeline's --weights, --aggregate
// and --clip_score (negative: the largest action weight, as in the
// pipeline).
func NewProfiler(weights, aggregate string, clip float64) (Profiler, error) {
	w, err := interactions.ParseWeights(weights)
	if err != nil {
		return Profiler{}, err
	}
	c := scoring.Config{Aggregate: aggregate, Clip: clip}
	if c.Clip < 0 {
		c.Clip = w.Max()
	}
	if err := c.Validate(); err != nil {
		return Profiler{}, err
	}
	return Profiler{Weights: w, Scoring: c}, nil
}

// maxWeight bounds a weight given as is, far inside what scoring's exact
// sums hold (below 2^63) even summed over many events.
const maxWeight = 0x1p53

// Profile returns the customer's items (ascending) and their scores. An
// unknown action or a negative or non-finite weight is an error that names
// it.
func (p Profiler) Profile(events []Event) (items []string, weights []float64, err error) {
	ws := make([]scoring.Weighted, len(events))
	for k, e := range events {
		w, err := p.weight(e)
		if err != nil {
			return nil, nil, err
		}
		ws[k] = scoring.Weighted{Item: e.Item, Weight: w}
	}
	row, _ := scoring.Aggregate(p.Scoring, "", []scoring.Partial{scoring.Reduce(ws)})
	return row.Items, row.Scores, nil
}

// weight is an event's weight: its action's, or its own if valid.
func (p Profiler) weight(e Event) (float64, error) {
	if e.Action != "" {
		w, ok := p.Weights[e.Action]
		if !ok {
			return 0, fmt.Errorf("unknown action %q (known: %s)", e.Action, p.Weights)
		}
		return w, nil
	}
	if !(e.Weight >= 0 && e.Weight < maxWeight) {
		return 0, fmt.Errorf("item %q: weight %v must be in [0, 2^53)", e.Item, e.Weight)
	}
	return e.Weight, nil
}

// score is scoring.Aggregate's rule for one item of one partial, given
// the exact sum and the largest of its weights: the sum or the max,
// clipped. Items scoring 0 are dropped by the caller.
func (p Profiler) score(sum exactsum.Sum, best float64) float64 {
	score := best
	if p.Scoring.Aggregate == scoring.AggregateSum {
		score = sum.Float64()
	}
	if p.Scoring.Clip > 0 && score > p.Scoring.Clip {
		score = p.Scoring.Clip
	}
	return score
}
