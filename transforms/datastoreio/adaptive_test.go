package datastoreio

import (
	"context"
	"testing"
	"time"
)

func TestBatchSizer(t *testing.T) {
	tests := []struct {
		name    string
		records []time.Duration // latency of a 100-mutation commit, one per 10 s
		after   time.Duration   // time from the last record to next()
		want    int
	}{
		{"no samples starts at 200", nil, 0, 200},
		{"30ms per entity targets 6s", []time.Duration{3 * time.Second}, 0, 200},
		{"fast commits cap at 500", []time.Duration{10 * time.Millisecond}, 0, 500},
		{"slow commits floor at 10", []time.Duration{time.Minute}, 0, 10},
		{"mean of samples", []time.Duration{1 * time.Second, 5 * time.Second}, 0, 200},
		{"12ms per entity", []time.Duration{1200 * time.Millisecond}, 0, 500},
		{"60ms per entity", []time.Duration{6 * time.Second}, 0, 100},
		{"samples expire after 2 minutes", []time.Duration{time.Minute}, 3 * time.Minute, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			b := newBatchSizer()
			for _, l := range tt.records {
				b.record(clk.Now(), l, 100)
				clk.advance(sampleInterval)
			}
			clk.advance(tt.after)
			if got := b.next(clk.Now()); got != tt.want {
				t.Errorf("next() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestThrottlerProbability(t *testing.T) {
	tests := []struct {
		requests, accepts int
		want              float64
	}{
		{0, 0, 0},
		{10, 10, 0},
		{10, 5, 0}, // K=2: 2*5 accepts cover 10 requests
		{10, 4, 2.0 / 11},
		{10, 0, 10.0 / 11},
		{99, 0, 99.0 / 100},
		{100, 25, 50.0 / 101},
	}
	for _, tt := range tests {
		clk := newFakeClock()
		th := newThrottler(func() float64 { return 0.5 })
		for range tt.requests {
			th.requests.add(clk.Now(), 1)
		}
		for range tt.accepts {
			th.accepted(clk.Now())
		}
		if got := th.probability(clk.Now()); got != tt.want {
			t.Errorf("probability(%d requests, %d accepts) = %v, want %v", tt.requests, tt.accepts, got, tt.want)
		}
	}
}

func TestThrottlerWindowAndDecision(t *testing.T) {
	clk := newFakeClock()
	var draw float64
	th := newThrottler(func() float64 { return draw })
	for range 20 { // 20 rejected requests: p = 20/21
		th.requests.add(clk.Now(), 1)
	}
	draw = 0.9
	if !th.throttle(clk.Now()) {
		t.Error("draw 0.9 below p=20/21 was not throttled")
	}
	draw = 0.99
	if th.throttle(clk.Now()) {
		t.Error("draw 0.99 above p=21/22 was throttled")
	}
	clk.advance(samplePeriod + sampleInterval)
	if p := th.probability(clk.Now()); p != 0 {
		t.Errorf("probability after the window passed = %v, want 0", p)
	}
}

func TestRampUpBudget(t *testing.T) {
	tests := []struct {
		elapsed time.Duration
		workers int
		want    int
	}{
		{0, 1, 500},
		{4*time.Minute + 59*time.Second, 1, 500},
		{5 * time.Minute, 1, 500},
		{10 * time.Minute, 1, 750},
		{10*time.Minute + 59*time.Second, 1, 750}, // whole minutes, as Java
		{15 * time.Minute, 1, 1125},
		{10 * time.Minute, 3, 250},
		{0, 1000, 1}, // never below one op per second
		{24 * time.Hour, 1, 2147483647},
	}
	for _, tt := range tests {
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if got := rampUpBudget(start, start.Add(tt.elapsed), tt.workers); got != tt.want {
			t.Errorf("rampUpBudget(+%v, %d workers) = %d, want %d", tt.elapsed, tt.workers, got, tt.want)
		}
	}
}

func TestRampUpAcquire(t *testing.T) {
	tests := []struct {
		name    string
		workers int
		ops     int
		elapsed time.Duration // fake time spent acquiring
	}{
		{"within the first second", 1, 500, 0},
		{"three seconds of budget", 1, 1300, 2 * time.Second},
		{"shared by 4 workers", 4, 500, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			r := &rampUp{start: clk.Now(), workers: tt.workers}
			var waited time.Duration
			for range tt.ops {
				w, err := r.acquire(context.Background(), clk)
				if err != nil {
					t.Fatal(err)
				}
				waited += w
			}
			if waited != tt.elapsed || clk.slept != tt.elapsed {
				t.Errorf("waited %v (clock slept %v), want %v", waited, clk.slept, tt.elapsed)
			}
		})
	}
}
