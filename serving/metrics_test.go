package main

import (
	"strings"
	"testing"
	"time"
)

// TestObserve: a latency lands in the first bucket whose bound it does not
// exceed, codes outside 100..599 are still counted, and the count is the
// +Inf bucket's.
func TestObserve(t *testing.T) {
	m := newMetrics("r")
	r := m.routes["r"]
	r.observe(200, 25*time.Microsecond)   // le=2.5e-05
	r.observe(200, 25*time.Microsecond+1) // le=5e-05
	r.observe(404, 2*time.Second)         // +Inf
	r.observe(700, time.Millisecond)      // le=0.001
	var b strings.Builder
	m.write(&b, modelStats{}, false)
	for _, want := range []string{
		`recsys_http_requests_total{route="r",code="200"} 2`,
		`recsys_http_requests_total{route="r",code="404"} 1`,
		`recsys_http_requests_total{route="r",code="700"} 1`,
		`recsys_http_request_duration_seconds_bucket{route="r",le="2.5e-05"} 1`,
		`recsys_http_request_duration_seconds_bucket{route="r",le="5e-05"} 2`,
		`recsys_http_request_duration_seconds_bucket{route="r",le="0.0005"} 2`,
		`recsys_http_request_duration_seconds_bucket{route="r",le="0.001"} 3`,
		`recsys_http_request_duration_seconds_bucket{route="r",le="1"} 3`,
		`recsys_http_request_duration_seconds_bucket{route="r",le="+Inf"} 4`,
		`recsys_http_request_duration_seconds_count{route="r"} 4`,
		`recsys_http_request_duration_seconds_sum{route="r"} 2.001050001`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, b.String())
		}
	}
}

// BenchmarkObserve is the per-request cost of the metrics, from every
// core at once.
func BenchmarkObserve(b *testing.B) {
	r := newMetrics("r").routes["r"]
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.observe(200, 80*time.Microsecond)
		}
	})
}
