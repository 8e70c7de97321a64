package watermark

import (
	"testing"
	"time"
)

// TestOnlyForward: the watermark takes later times and ignores earlier ones.
func TestOnlyForward(t *testing.T) {
	e := &Estimator{Millis: 1000}
	for _, c := range []struct{ observe, want int64 }{{500, 1000}, {1500, 1500}, {1499, 1500}, {2000, 2000}} {
		e.ObserveTimestamp(time.UnixMilli(c.observe))
		if got := e.CurrentWatermark(); !got.Equal(time.UnixMilli(c.want)) {
			t.Fatalf("after %d: %v, want %d ms", c.observe, got, c.want)
		}
	}
}
