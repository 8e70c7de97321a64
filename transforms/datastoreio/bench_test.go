package datastoreio

import (
	"context"
	"testing"
	"time"
)

// BenchmarkWrite measures the writer (adaptive batching and throttling on)
// through the real client against the in-process server, per entity. With
// ramp-up it is bounded by the 500 entities/s budget.
func BenchmarkWrite(b *testing.B) {
	for _, bc := range []struct {
		name   string
		rampUp bool
	}{{"adaptive", false}, {"rampup", true}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := newServer(b)
			ctx := context.Background()
			cfg := testConfig(fake(srv), "bench").withDefaults()
			client, err := newClient(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			items := neighbors(itemIDs("item-", 0, 10_000), 50, 0)
			w := newWriter(client, realClock{}, cfg.Retry, cycle(), &countMetrics{})
			var ramp *rampUp
			if bc.rampUp {
				ramp = &rampUp{start: time.Now(), workers: 1}
			}
			commits := len(srv.Commits())
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if ramp != nil {
					if _, err := ramp.acquire(ctx, realClock{}); err != nil {
						b.Fatal(err)
					}
				}
				o, err := upsertOp(cfg.keys(), "bench", items[i%len(items)], start)
				if err != nil {
					b.Fatal(err)
				}
				if err := w.add(ctx, o); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.flush(ctx); err != nil {
				b.Fatal(err)
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/secs, "entities/s")
			b.ReportMetric(float64(len(srv.Commits())-commits)/secs, "commits/s")
		})
	}
}
