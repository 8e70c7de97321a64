package datastoreio

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/datastore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeMutator records committed batches by key name and fails as told.
type fakeMutator struct {
	clk     *fakeClock
	latency time.Duration // per mutation
	names   map[*datastore.Mutation]string
	fail    func(call int, names []string) error
	calls   int
	batches [][]string // committed
}

func (f *fakeMutator) Mutate(_ context.Context, muts ...*datastore.Mutation) ([]*datastore.Key, error) {
	f.calls++
	f.clk.advance(f.latency * time.Duration(len(muts)))
	names := make([]string, len(muts))
	for i, m := range muts {
		names[i] = f.names[m]
	}
	if f.fail != nil {
		if err := f.fail(f.calls, names); err != nil {
			return nil, err
		}
	}
	f.batches = append(f.batches, names)
	return nil, nil
}

// op makes an upsert named name of the given size.
func (f *fakeMutator) op(name string, bytes int) op {
	m := datastore.NewUpsert(datastore.NameKey("K", name, nil), &struct{}{})
	f.names[m] = name
	return op{mut: m, key: name, what: fmt.Sprintf("item %q", name), bytes: bytes}
}

func newFake() (*fakeMutator, *fakeClock) {
	clk := newFakeClock()
	return &fakeMutator{clk: clk, names: map[*datastore.Mutation]string{}}, clk
}

// cycle returns deterministic draws 0.05, 0.15, ... 0.95, 0.05, ...
func cycle() func() float64 {
	i := 0
	return func() float64 { i++; return float64(i%10)/10 + 0.05 }
}

var fastRetry = Retry{MaxAttempts: 4, InitialBackoff: time.Second, MaxBackoff: 8 * time.Second, ThrottleDelay: 6 * time.Second}

func TestWriterBatching(t *testing.T) {
	type in struct {
		name  string
		bytes int
	}
	small := func(prefix string, n int) []in {
		var out []in
		for i := range n {
			out = append(out, in{fmt.Sprintf("%s%d", prefix, i), 1000})
		}
		return out
	}
	tests := []struct {
		name    string
		latency time.Duration // per mutation
		ops     []in
		want    []int // batch sizes
	}{
		{"start at 200 then grow to 500 on fast commits", 0, small("a", 1200), []int{200, 500, 500}},
		{"30ms per entity keeps 200", 30 * time.Millisecond, small("a", 600), []int{200, 200, 200}},
		{"60ms per entity shrinks to 100", 60 * time.Millisecond, small("a", 400), []int{200, 100, 100}},
		{"a second per entity floors at 10", time.Second, small("a", 220), []int{200, 10, 10}},
		{"byte limit closes a batch before a big entity", 0, []in{{"s1", 1000}, {"s2", 1000}, {"b1", 3e6}, {"b2", 3e6}, {"b3", 3e6}, {"s3", 1000}}, []int{4, 2}},
		{"an entity alone over the rest of a batch gets its own", 0, []in{{"s1", 1000}, {"b1", 8_998_500}, {"s2", 1000}}, []int{1, 1, 1}},
		{"repeated key starts a new batch", 0, []in{{"x", 10}, {"y", 10}, {"x", 10}}, []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fm, clk := newFake()
			fm.latency = tt.latency
			m := &countMetrics{}
			w := newWriter(fm, clk, fastRetry, func() float64 { return 0.5 }, m)
			var names []string
			for _, o := range tt.ops {
				if err := w.add(context.Background(), fm.op(o.name, o.bytes)); err != nil {
					t.Fatal(err)
				}
				names = append(names, o.name)
			}
			if err := w.flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			var sizes []int
			var got []string
			for _, b := range fm.batches {
				sizes = append(sizes, len(b))
				got = append(got, b...)
			}
			if !slices.Equal(sizes, tt.want) || !slices.Equal(got, names) {
				t.Errorf("batches %v of %v, want sizes %v of the input in order", sizes, got, tt.want)
			}
			if w.written.total() != len(tt.ops) || m.get(metricWritten) != int64(len(tt.ops)) || m.get(metricCommits) != int64(len(tt.want)) {
				t.Errorf("written %d, metrics %v; want %d entities in %d commits", w.written.total(), m.m, len(tt.ops), len(tt.want))
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "down")
	tests := []struct {
		name    string
		fail    func(call int, names []string) error
		wantErr []string // substrings; nil means success
		calls   int
		retries int64
	}{
		{"transient errors are retried", func(call int, _ []string) error {
			if call <= 2 {
				return unavailable
			}
			return nil
		}, nil, 3, 2},
		{"retries are bounded", func(int, []string) error { return unavailable }, []string{"committing 10 mutations", "Unavailable"}, 4, 3},
		{"invalid argument names the entity", func(_ int, names []string) error {
			if slices.Contains(names, "e7") {
				return status.Error(codes.InvalidArgument, "bad entity")
			}
			return nil
		}, []string{`writing item "e7"`, "InvalidArgument", "bad entity"}, 6, 0}, // 10 → 5 → 3 → 1
		{"a batch-level error names the batch", func(_ int, names []string) error {
			if len(names) == 10 {
				return status.Error(codes.InvalidArgument, "whole batch")
			}
			return nil
		}, []string{`committing 10 mutations (item "e0" … item "e9")`, "whole batch"}, 3, 0},
		{"permission denied is not retried nor bisected", func(int, []string) error {
			return status.Error(codes.PermissionDenied, "no")
		}, []string{"committing 10 mutations", "PermissionDenied"}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fm, clk := newFake()
			fm.fail = tt.fail
			m := &countMetrics{}
			w := newWriter(fm, clk, fastRetry, cycle(), m)
			for i := range 10 {
				if err := w.add(context.Background(), fm.op(fmt.Sprintf("e%d", i), 100)); err != nil {
					t.Fatal(err)
				}
			}
			err := w.flush(context.Background())
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("flush: %v", err)
			case tt.wantErr != nil && err == nil:
				t.Fatal("flush succeeded")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if fm.calls != tt.calls || m.get(metricRetries) != tt.retries {
				t.Errorf("%d calls, %d retries; want %d, %d", fm.calls, m.get(metricRetries), tt.calls, tt.retries)
			}
		})
	}
}

// TestWriterThrottles checks that a failing backend makes the writer hold
// back commits, and that it recovers once commits succeed.
func TestWriterThrottles(t *testing.T) {
	fm, clk := newFake()
	down := true
	fm.fail = func(int, []string) error {
		if down {
			return status.Error(codes.Unavailable, "down")
		}
		return nil
	}
	m := &countMetrics{}
	w := newWriter(fm, clk, fastRetry, cycle(), m)
	for i := range 5 {
		if err := w.add(context.Background(), fm.op(fmt.Sprintf("e%d", i), 100)); err != nil {
			t.Fatal(err)
		}
		if err := w.flush(context.Background()); err == nil {
			t.Fatal("commit succeeded while down")
		}
	}
	if m.get(metricThrottledMs) == 0 {
		t.Error("no throttling after 20 failed commits")
	}
	down = false
	clk.advance(samplePeriod + sampleInterval)
	before := m.get(metricThrottledMs)
	if err := w.add(context.Background(), fm.op("ok", 100)); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.get(metricThrottledMs) != before {
		t.Error("throttled after the failure window passed")
	}
}
