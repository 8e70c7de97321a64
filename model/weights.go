package model

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// MaxScore is the largest score (and action weight) the job accepts. Up
// to it, a score's exact square and the exact sum of 2^40 of them stay
// inside the range exactsum holds and float64 represents, so the cosine of
// any accepted input is computed, not overflowed.
const MaxScore = 1e150

// Weights maps an action value to its implicit score.
type Weights map[string]float64

// ParseWeights parses "view:0.5,cart:2,purchase:6" (or "1:0.5,2:2,3:6").
// Every weight is a number in [0, MaxScore]; an action given twice is an
// error.
func ParseWeights(s string) (Weights, error) {
	w := Weights{}
	if strings.TrimSpace(s) == "" {
		return w, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--weights: %q is not action:weight", part)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(f >= 0 && f <= MaxScore) {
			return nil, fmt.Errorf("--weights: weight of %q is %q, want a number in [0, %g]", k, v, MaxScore)
		}
		if _, dup := w[k]; dup {
			return nil, fmt.Errorf("--weights: action %q is given twice", k)
		}
		w[k] = f
	}
	return w, nil
}

// String prints the weights sorted by action, in the form ParseWeights reads.
func (w Weights) String() string {
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + strconv.FormatFloat(w[k], 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// Max is the largest weight, 0 for none.
func (w Weights) Max() float64 {
	m := 0.0
	for _, v := range w {
		m = math.Max(m, v)
	}
	return m
}

// DefaultClip is the --clip_score that asks for the default clip (see
// ResolveClip).
const DefaultClip = -1

// ResolveClip is the clip that a --clip_score of clip means for records
// weighted by w: a negative clip is the largest action weight, so that no
// (user, item) scores above one event of the heaviest action; that is 0,
// no clip, when scores are read as they are (--score_field: no weights).
// Any other clip is itself (0 disables clipping).
func (w Weights) ResolveClip(clip float64) float64 {
	if clip < 0 {
		return w.Max()
	}
	return clip
}
