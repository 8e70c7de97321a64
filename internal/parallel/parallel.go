// Package parallel runs a loop's iterations on several goroutines. Prism
// runs a stage as one bundle, so a bundle's own goroutines are how a hot
// step uses more than one core there; callers keep their results in
// per-iteration slots, so the output does not depend on the goroutine count.
package parallel

import (
	"sync"
	"sync/atomic"
)

// For calls f(w, k) for k in [0, n) on min(workers, n) goroutines (at
// least one) and waits for them. w in [0, workers) names the goroutine, for
// per-goroutine scratch; iterations are claimed one at a time, so uneven
// ones balance. With one goroutine, f runs on the caller's.
func For(workers, n int, f func(w, k int)) {
	workers = max(min(workers, n), 1)
	if workers == 1 {
		for k := range n {
			f(0, k)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < n; k = int(next.Add(1)) - 1 {
				f(w, k)
			}
		})
	}
	wg.Wait()
}
