package bigqueryio

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recsys/itemsim/internal/bigquerytest"
	"github.com/recsys/itemsim/transforms/interactions"
)

// BenchmarkRead reads 1,000,000 rows over 1, 2 and 8 streams from the
// in-process server, each stream in its own goroutine as a worker would,
// through the stream reader and decoder (not a Beam pipeline, whose
// in-process runner would dominate). It reports rows/s; the server shares
// the CPUs, so the figure is a lower bound of the client's throughput.
func BenchmarkRead(b *testing.B) {
	const rows = 1_000_000
	srv := bigquerytest.New(b)
	srv.BatchRows = 4096 // close to what BigQuery sends for narrow rows
	srv.AddTable("proj.ds.events", interactionTable(rows))
	ctx := context.Background()
	tab := Table{"proj", "ds", "events"}
	opts := serverOptions(srv)
	opts.BillingProject = "proj"
	c, err := newStorageClient(ctx, srv.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, streams := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			opts.MaxStreams = streams
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				session, err := createSession(ctx, tab, selectedFields(actionSpec), opts, true)
				if err != nil {
					b.Fatal(err)
				}
				schema := session.GetArrowSchema().GetSerializedSchema()
				runtime.GC() // collect the session's encoding garbage off the clock
				b.StartTimer()
				start := time.Now()
				var read atomic.Int64
				var wg sync.WaitGroup
				for _, st := range session.GetStreams() {
					dec, err := newDecoder(schema, actionSpec, tab.String())
					if err != nil {
						b.Fatal(err)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						p := retryPolicy{max: 3, backoff: time.Millisecond, maxBackoff: time.Millisecond}
						var n int64
						err := readStream(ctx, c, st.GetName(), p, func(batch []byte) (int64, error) {
							return dec.decode(batch, func(interactions.Event) { n++ }, func(string, string) {})
						})
						if err != nil {
							b.Error(err)
						}
						read.Add(n)
					}()
				}
				wg.Wait()
				elapsed += time.Since(start)
				if got := read.Load(); got != rows {
					b.Fatalf("read %d events, want %d", got, rows)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/elapsed.Seconds(), "rows/s")
		})
	}
}
