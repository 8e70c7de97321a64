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
// in-process runner would dominate), and reports rows/s.
//
// "service=5ms" gives each 4,096-row batch 5 ms of server time, a per-stream
// rate of about 0.8M rows/s, as the real service bounds each stream: there
// reads scale with streams until the client's CPUs are busy. "service=0"
// serves from memory as fast as the shared CPUs allow, so it measures the
// client's decode limit on this machine, which streams cannot raise.
func BenchmarkRead(b *testing.B) {
	for _, delay := range []time.Duration{5 * time.Millisecond, 0} {
		b.Run(fmt.Sprintf("service=%v", delay), func(b *testing.B) { benchmarkRead(b, delay) })
	}
}

func benchmarkRead(b *testing.B, delay time.Duration) {
	const rows = 1_000_000
	srv := bigquerytest.New(b)
	srv.BatchRows = 4096 // close to what BigQuery sends for narrow rows
	srv.BatchDelay = delay
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
