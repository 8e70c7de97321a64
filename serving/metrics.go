package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBuckets are the histogram's upper bounds in seconds: fine below a
// millisecond, where the service is meant to answer.
var latencyBuckets = []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3, 250e-3, 1}

// latencyBucketsNS are latencyBuckets in nanoseconds, for observe.
var latencyBucketsNS = func() []int64 {
	ns := make([]int64, len(latencyBuckets))
	for i, b := range latencyBuckets {
		ns[i] = int64(math.Round(b * 1e9))
	}
	return ns
}()

// Status codes counted without a lock: 100..599.
const minCode, maxCode = 100, 599

// routeStats counts one route's requests by status code and times them.
// The hot path is three atomic adds: no lock, no map.
type routeStats struct {
	codes   [maxCode - minCode + 1]atomic.Uint64
	buckets []atomic.Uint64 // non-cumulative; the last is +Inf
	sumNS   atomic.Uint64
	// odd counts codes outside 100..599, which handlers do not return.
	mu  sync.Mutex
	odd map[int]uint64
}

func (r *routeStats) observe(code int, d time.Duration) {
	if code >= minCode && code <= maxCode {
		r.codes[code-minCode].Add(1)
	} else {
		r.mu.Lock()
		r.odd[code]++
		r.mu.Unlock()
	}
	ns := d.Nanoseconds()
	i := 0
	for i < len(latencyBucketsNS) && ns > latencyBucketsNS[i] {
		i++
	}
	r.buckets[i].Add(1) // first bound >= d
	r.sumNS.Add(uint64(max(ns, 0)))
}

// counts returns the non-zero counts by code.
func (r *routeStats) counts() map[int]uint64 {
	out := map[int]uint64{}
	for i := range r.codes {
		if n := r.codes[i].Load(); n > 0 {
			out[minCode+i] = n
		}
	}
	r.mu.Lock()
	for c, n := range r.odd {
		out[c] += n
	}
	r.mu.Unlock()
	return out
}

// metrics holds the service's Prometheus metrics, written by hand in the
// text exposition format.
type metrics struct {
	routes  map[string]*routeStats // fixed at construction
	names   []string               // routes, sorted
	reloads [2]atomic.Uint64       // ok, error
	// loadedAt is when the served model was loaded, unix nanoseconds.
	loadedAt atomic.Int64
}

func newMetrics(routes ...string) *metrics {
	m := &metrics{routes: map[string]*routeStats{}, names: slices.Sorted(slices.Values(routes))}
	for _, r := range routes {
		m.routes[r] = &routeStats{odd: map[int]uint64{}, buckets: make([]atomic.Uint64, len(latencyBuckets)+1)}
	}
	return m
}

// modelStats describe the served model in metrics.
type modelStats struct {
	version                        string
	items, popular, users, factors int
}

// write prints every metric. ms describes the served model; ok is false
// before the first load, when there is none.
func (m *metrics) write(w io.Writer, ms modelStats, ok bool) {
	fmt.Fprintln(w, "# HELP recsys_http_requests_total HTTP requests by route and status code.")
	fmt.Fprintln(w, "# TYPE recsys_http_requests_total counter")
	for _, name := range m.names {
		counts := m.routes[name].counts()
		for _, c := range slices.Sorted(maps.Keys(counts)) {
			fmt.Fprintf(w, "recsys_http_requests_total{route=\"%s\",code=\"%d\"} %d\n", label(name), c, counts[c])
		}
	}
	fmt.Fprintln(w, "# HELP recsys_http_request_duration_seconds Time in the handler, by route.")
	fmt.Fprintln(w, "# TYPE recsys_http_request_duration_seconds histogram")
	for _, name := range m.names {
		r := m.routes[name]
		var cum uint64
		for i := range r.buckets {
			cum += r.buckets[i].Load()
			le := "+Inf"
			if i < len(latencyBuckets) {
				le = strconv.FormatFloat(latencyBuckets[i], 'g', -1, 64)
			}
			fmt.Fprintf(w, "recsys_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %d\n", label(name), le, cum)
		}
		fmt.Fprintf(w, "recsys_http_request_duration_seconds_sum{route=\"%s\"} %g\n", label(name), float64(r.sumNS.Load())/1e9)
		// The count is the +Inf bucket's, so the two always agree.
		fmt.Fprintf(w, "recsys_http_request_duration_seconds_count{route=\"%s\"} %d\n", label(name), cum)
	}
	fmt.Fprintln(w, "# HELP recsys_model_reloads_total Model loads by result.")
	fmt.Fprintln(w, "# TYPE recsys_model_reloads_total counter")
	fmt.Fprintf(w, "recsys_model_reloads_total{result=\"ok\"} %d\n", m.reloads[0].Load())
	fmt.Fprintf(w, "recsys_model_reloads_total{result=\"error\"} %d\n", m.reloads[1].Load())
	if !ok {
		return
	}
	fmt.Fprintln(w, "# HELP recsys_model_info The served model's version.")
	fmt.Fprintln(w, "# TYPE recsys_model_info gauge")
	fmt.Fprintf(w, "recsys_model_info{version=\"%s\"} 1\n", label(ms.version))
	fmt.Fprintln(w, "# HELP recsys_model_items Items with a neighbour list in the served model.")
	fmt.Fprintln(w, "# TYPE recsys_model_items gauge")
	fmt.Fprintf(w, "recsys_model_items %d\n", ms.items)
	fmt.Fprintln(w, "# HELP recsys_model_popular_items Fallback items in the served model.")
	fmt.Fprintln(w, "# TYPE recsys_model_popular_items gauge")
	fmt.Fprintf(w, "recsys_model_popular_items %d\n", ms.popular)
	fmt.Fprintln(w, "# HELP recsys_model_users Users with a precomputed list (ALS) in the served model.")
	fmt.Fprintln(w, "# TYPE recsys_model_users gauge")
	fmt.Fprintf(w, "recsys_model_users %d\n", ms.users)
	fmt.Fprintln(w, "# HELP recsys_model_factors Items with a factor (ALS fold-in) in the served model.")
	fmt.Fprintln(w, "# TYPE recsys_model_factors gauge")
	fmt.Fprintf(w, "recsys_model_factors %d\n", ms.factors)
	fmt.Fprintln(w, "# HELP recsys_model_loaded_timestamp_seconds When the served model was loaded.")
	fmt.Fprintln(w, "# TYPE recsys_model_loaded_timestamp_seconds gauge")
	fmt.Fprintf(w, "recsys_model_loaded_timestamp_seconds %.3f\n", float64(m.loadedAt.Load())/1e9)
}

// label escapes a label value as the text format requires.
var label = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace
