// Package watermark holds the watermark estimator of the project's
// unbounded sources (transforms/kafkaio, transforms/pubsubio).
package watermark

import "time"

// Estimator is a source's watermark in unix milliseconds, the estimator
// state a runner checkpoints (its exported field). It only moves forward.
type Estimator struct {
	Millis int64
}

// CurrentWatermark is the watermark.
func (e *Estimator) CurrentWatermark() time.Time { return time.UnixMilli(e.Millis) }

// ObserveTimestamp moves the watermark to t if t is later.
func (e *Estimator) ObserveTimestamp(t time.Time) {
	e.Millis = max(e.Millis, t.UnixMilli())
}
