package parallel

import (
	"sync/atomic"
	"testing"
)

func TestFor(t *testing.T) {
	for _, tc := range []struct{ workers, n int }{
		{1, 0}, {1, 5}, {4, 0}, {4, 1}, {4, 3}, {2, 1000}, {8, 1000}, {0, 10},
	} {
		calls := make([]atomic.Int32, tc.n)
		var bad atomic.Bool
		For(tc.workers, tc.n, func(w, k int) {
			if w < 0 || w >= max(tc.workers, 1) {
				bad.Store(true)
			}
			calls[k].Add(1)
		})
		if bad.Load() {
			t.Errorf("workers=%d n=%d: goroutine index out of range", tc.workers, tc.n)
		}
		for k := range calls {
			if c := calls[k].Load(); c != 1 {
				t.Errorf("workers=%d n=%d: iteration %d ran %d times", tc.workers, tc.n, k, c)
			}
		}
	}
}

// TestForScratch: iterations that share a goroutine index never overlap, so
// per-goroutine scratch needs no lock (the race detector checks this).
func TestForScratch(t *testing.T) {
	const workers = 3
	scratch := make([][]int, workers)
	For(workers, 300, func(w, k int) { scratch[w] = append(scratch[w], k) })
	total := 0
	for _, s := range scratch {
		total += len(s)
	}
	if total != 300 {
		t.Errorf("%d iterations recorded, want 300", total)
	}
}
