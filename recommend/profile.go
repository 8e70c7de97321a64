package recommend

import (
	"fmt"

	"github.com/recsys/itemsim/model"
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
// (model.Aggregate: sum or max, clipped). Times are not known at request
// time, so there is no decay.
type Profiler struct {
	Weights model.Weights
	Scoring model.Rules
}

// NewProfiler returns a Profiler for the pipeline's --weights, --aggregate
// and --clip_score (negative: the largest action weight, as in the
// pipeline: model.Weights.ResolveClip).
func NewProfiler(weights, aggregate string, clip float64) (Profiler, error) {
	w, err := model.ParseWeights(weights)
	if err != nil {
		return Profiler{}, err
	}
	c := model.Rules{Aggregate: aggregate, Clip: w.ResolveClip(clip)}
	if err := c.Validate(); err != nil {
		return Profiler{}, err
	}
	return Profiler{Weights: w, Scoring: c}, nil
}

// maxWeight bounds a weight given as is, far inside what model.Aggregate's exact
// sums hold (below 2^63) even summed over many events.
const maxWeight = 0x1p53

// Profile returns the customer's items (ascending) and their scores. An
// unknown action or a negative or non-finite weight is an error that names
// it.
func (p Profiler) Profile(events []Event) (items []string, weights []float64, err error) {
	ws := make([]model.Weighted, len(events))
	for k, e := range events {
		w, err := p.weight(e)
		if err != nil {
			return nil, nil, err
		}
		ws[k] = model.Weighted{Item: e.Item, Weight: w}
	}
	row, _ := model.Aggregate(p.Scoring, "", []model.Partial{model.Reduce(ws)})
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
