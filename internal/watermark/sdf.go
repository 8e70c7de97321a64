package watermark

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
)

// OffsetSource, embedded in an unbounded splittable DoFn over elements of
// type E with offset-range restrictions, gives it an Estimator as its
// watermark estimator (its state the watermark in unix milliseconds,
// starting at the element's timestamp) and ends its read on a drain.
type OffsetSource[E any] struct{}

// TruncateRestriction ends the read on a drain: nothing is left to read.
func (OffsetSource[E]) TruncateRestriction(rt *sdf.LockRTracker, _ E) offsetrange.Restriction {
	start := rt.GetRestriction().(offsetrange.Restriction).Start
	return offsetrange.Restriction{Start: start, End: start}
}

// InitialWatermarkEstimatorState is the element's timestamp.
func (OffsetSource[E]) InitialWatermarkEstimatorState(et beam.EventTime, _ offsetrange.Restriction, _ E) int64 {
	return int64(et)
}

// CreateWatermarkEstimator restores an Estimator from its state.
func (OffsetSource[E]) CreateWatermarkEstimator(ms int64) *Estimator { return &Estimator{Millis: ms} }

// WatermarkEstimatorState is the estimator's watermark.
func (OffsetSource[E]) WatermarkEstimatorState(we *Estimator) int64 { return we.Millis }
