// Package loadgen is a closed-loop HTTP load generator: a fixed number of
// workers send GET requests back to back over kept-alive connections for
// a duration, and the latency of every request is kept, so percentiles
// are exact rather than bucketed.
package loadgen

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config is one load run.
type Config struct {
	// URLs are requested round-robin, each worker from its own offset.
	URLs []string
	// Concurrency is the number of workers, each with one request in
	// flight.
	Concurrency int
	// Warmup runs before measuring, to open connections and warm caches.
	Warmup   time.Duration
	Duration time.Duration
}

// Result summarises the measured part of a run.
type Result struct {
	Requests int64 // answered 200
	Errors   int64 // transport errors and other codes
	Elapsed  time.Duration
	// Throughput is Requests per second of Elapsed.
	Throughput               float64
	P50, P90, P99, P999, Max time.Duration
	FirstError               string
	// ClientCPU is the CPU time the generator used, when known (wrk).
	ClientCPU time.Duration
}

// String prints the result on one line.
func (r Result) String() string {
	s := fmt.Sprintf("%d requests in %s: %.0f req/s, latency p50 %s p90 %s p99 %s p99.9 %s max %s, %d errors",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.Throughput, us(r.P50), us(r.P90), us(r.P99), us(r.P999), us(r.Max), r.Errors)
	if r.FirstError != "" {
		s += " (first: " + r.FirstError + ")"
	}
	return s
}

func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/1e3) }

// Run loads the URLs as configured.
func Run(ctx context.Context, c Config) (Result, error) {
	if len(c.URLs) == 0 || c.Concurrency < 1 || c.Duration <= 0 {
		return Result{}, fmt.Errorf("loadgen: need URLs, a concurrency >= 1 and a duration > 0")
	}
	client := NewClient(c.Concurrency)
	defer client.CloseIdleConnections()

	start := time.Now()
	measureFrom := start.Add(c.Warmup)
	end := measureFrom.Add(c.Duration)
	type worker struct {
		lat      []time.Duration
		errors   int64
		firstErr string
	}
	workers := make([]worker, c.Concurrency)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &workers[g]
			for i := g * len(c.URLs) / c.Concurrency; ctx.Err() == nil; i++ {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				err := Get(ctx, client, c.URLs[i%len(c.URLs)])
				d := time.Since(t0)
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					if w.errors++; w.firstErr == "" {
						w.firstErr = err.Error()
					}
					continue
				}
				w.lat = append(w.lat, d)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	var all []time.Duration
	var errs int64
	first := ""
	for _, w := range workers {
		all = append(all, w.lat...)
		errs += w.errors
		if first == "" {
			first = w.firstErr
		}
	}
	r := Summarize(all, time.Since(measureFrom))
	r.Errors, r.FirstError = errs, first
	return r, nil
}

// Summarize computes throughput and percentiles of the latencies of the
// successful requests of elapsed time (lat is sorted in place).
func Summarize(lat []time.Duration, elapsed time.Duration) Result {
	r := Result{Requests: int64(len(lat)), Elapsed: elapsed, Throughput: float64(len(lat)) / elapsed.Seconds()}
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		r.P50, r.P90, r.P99, r.P999, r.Max = q(.5), q(.9), q(.99), q(.999), lat[len(lat)-1]
	}
	return r
}

// NewClient returns a client keeping up to concurrency connections alive.
func NewClient(concurrency int) *http.Client {
	tr := &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, DisableCompression: true}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// RecommendationURLs makes count /make_recommendation URLs on base, each
// with perRequest items drawn from items (seeded) and spread over the
// seed API's actions.
func RecommendationURLs(base string, items []string, perRequest, count int, seed uint64) []string {
	urls := RecommendationPaths(items, perRequest, count, seed)
	for k := range urls {
		urls[k] = base + urls[k]
	}
	return urls
}

// RecommendationPaths makes the paths (with their queries) of
// RecommendationURLs, for generators that take the host separately.
func RecommendationPaths(items []string, perRequest, count int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed))
	actions := []string{"browsed", "basket", "purchased"}
	paths := make([]string, count)
	for k := range paths {
		byAction := make([][]string, len(actions))
		for range perRequest {
			a := r.IntN(len(actions))
			byAction[a] = append(byAction[a], url.QueryEscape(items[r.IntN(len(items))]))
		}
		p := "/make_recommendation?n=10"
		for a, ids := range byAction {
			if len(ids) > 0 {
				p += "&" + actions[a] + "=" + strings.Join(ids, ",")
			}
		}
		paths[k] = p
	}
	return paths
}

// Get requests url and reads the whole body; a status other than 200 is
// an error.
func Get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d from %s", resp.StatusCode, url)
	}
	return err
}
