package datastoreio

import (
	"context"
	"math"
	"time"
)

// Constants of the Java writer (DatastoreV1.WriteBatcherImpl,
// AdaptiveThrottler and RampupThrottlingFn).
const (
	startBatchSize     = 200
	minBatchSize       = 10
	targetBatchLatency = 6 * time.Second
	// Latency and request history are kept over 2 minutes in 10 s buckets.
	samplePeriod   = 2 * time.Minute
	sampleInterval = 10 * time.Second
	// throttleK is the overload ratio K: requests beyond K times the
	// accepted ones are throttled (Google SRE book, "client-side throttling").
	throttleK = 2.0
	// rampUpBase ops/s are shared by all workers for rampUpInterval, then
	// the budget grows 1.5x per interval.
	rampUpBase     = 500.0
	rampUpInterval = 5 * time.Minute
)

// movingSum sums samples over a sliding window of whole buckets, like the
// Java SDK's MovingFunction.
type movingSum struct {
	interval time.Duration
	ids      []int64 // bucket number each slot holds
	sums     []float64
	counts   []int64
}

func newMovingSum(period, interval time.Duration) *movingSum {
	n := int(period / interval)
	return &movingSum{interval: interval, ids: make([]int64, n), sums: make([]float64, n), counts: make([]int64, n)}
}

func (m *movingSum) add(now time.Time, v float64) {
	id := now.UnixNano() / int64(m.interval)
	i := int(id % int64(len(m.ids)))
	if m.ids[i] != id {
		m.ids[i], m.sums[i], m.counts[i] = id, 0, 0
	}
	m.sums[i] += v
	m.counts[i]++
}

// get returns the sum and number of samples in the window ending at now.
func (m *movingSum) get(now time.Time) (sum float64, count int64) {
	id := now.UnixNano() / int64(m.interval)
	for i, bid := range m.ids {
		if bid > id-int64(len(m.ids)) && bid <= id {
			sum += m.sums[i]
			count += m.counts[i]
		}
	}
	return sum, count
}

// batchSizer picks the next batch size so a commit takes about
// targetBatchLatency, from the moving average of per-entity latency.
type batchSizer struct {
	perEntityMs *movingSum
}

func newBatchSizer() *batchSizer {
	return &batchSizer{perEntityMs: newMovingSum(samplePeriod, sampleInterval)}
}

// next returns the batch size to use at now.
func (b *batchSizer) next(now time.Time) int {
	sum, n := b.perEntityMs.get(now)
	if n == 0 {
		return startBatchSize
	}
	mean := math.Max(sum/float64(n), 1) // as Java: at least 1 ms per entity
	size := int(float64(targetBatchLatency.Milliseconds()) / mean)
	return min(max(size, minBatchSize), maxBatchMutations)
}

// record adds the latency of a commit of n mutations.
func (b *batchSizer) record(now time.Time, latency time.Duration, n int) {
	b.perEntityMs.add(now, float64(latency.Milliseconds())/float64(n))
}

// throttler is the Java AdaptiveThrottler: it rejects a request with
// probability max(0, (requests - K*accepts) / (requests + 1)) over the window,
// so a client backs off before the service has to.
type throttler struct {
	requests, accepts *movingSum
	rand              func() float64
}

func newThrottler(rand func() float64) *throttler {
	return &throttler{
		requests: newMovingSum(samplePeriod, sampleInterval),
		accepts:  newMovingSum(samplePeriod, sampleInterval),
		rand:     rand,
	}
}

func (t *throttler) probability(now time.Time) float64 {
	r, _ := t.requests.get(now)
	a, _ := t.accepts.get(now)
	return math.Max(0, (r-throttleK*a)/(r+1))
}

// throttle reports whether to hold back a request at now. Held-back requests
// count as requests that were not accepted, as in Java.
func (t *throttler) throttle(now time.Time) bool {
	p := t.probability(now)
	t.requests.add(now, 1)
	return t.rand() < p
}

// accepted records a successful request.
func (t *throttler) accepted(now time.Time) { t.accepts.add(now, 1) }

// rampUpBudget is the ops/s one of workers may issue at now for a run that
// started at start, as in Java's RampupThrottlingFn: 500 for the first 5
// minutes, then times 1.5 per 5 minutes, counted in whole minutes.
func rampUpBudget(start, now time.Time, workers int) int {
	minutes := math.Floor(now.Sub(start).Minutes())
	growth := math.Max(0, (minutes-rampUpInterval.Minutes())/rampUpInterval.Minutes())
	budget := rampUpBase * math.Pow(1.5, growth) / float64(workers)
	return int(math.Max(1, math.Min(budget, math.MaxInt32)))
}

// rampUp spends the per-second budget, one op per entity.
type rampUp struct {
	start   time.Time
	workers int
	second  time.Time
	used    int
}

// acquire waits until one more op fits the current second's budget and
// returns how long it waited.
func (r *rampUp) acquire(ctx context.Context, clk clock) (time.Duration, error) {
	var waited time.Duration
	for {
		now := clk.Now()
		if sec := now.Truncate(time.Second); !sec.Equal(r.second) {
			r.second, r.used = sec, 0
		}
		if r.used < rampUpBudget(r.start, now, r.workers) {
			r.used++
			return waited, nil
		}
		d := r.second.Add(time.Second).Sub(now)
		if err := clk.Sleep(ctx, d); err != nil {
			return waited, err
		}
		waited += d
	}
}
