package kafkaio

import "sync/atomic"

// endEstimator is a partition's end offset as the fetches last reported
// it (their high watermark): a size hint that needs no request and never
// fails.
type endEstimator struct {
	end atomic.Int64
}

// Estimate is the last high watermark observed (0 before any).
func (e *endEstimator) Estimate() int64 { return e.end.Load() }

func (e *endEstimator) observe(hw int64) {
	for {
		old := e.end.Load()
		if hw <= old || e.end.CompareAndSwap(old, hw) {
			return
		}
	}
}
