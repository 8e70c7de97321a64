package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recsys/itemsim/internal/loadgen"
	"github.com/recsys/itemsim/recommend"
)

// BenchmarkLoopback serves the ML-100k model on a loopback port and sends
// /make_recommendation requests of 1 and 10 items from 4·GOMAXPROCS
// concurrent clients over kept-alive connections, reporting throughput and
// the p50 and p99 latency the clients saw. Client and server share the
// machine's cores.
func BenchmarkLoopback(b *testing.B) {
	sims, pop := "/tmp/ml100k.jsonl", "/tmp/ml100k-popular.json"
	if p := os.Getenv("ML100K_MODEL"); p != "" {
		sims, pop = p, ""
	}
	if _, err := os.Stat(sims); err != nil {
		b.Skipf("no ML-100k model at %s (%v): build it from /work/main with go run ./pipelines/similarity --input=../shared/datasets/ml-100k/u.data --format=tsv --header=false --user_field=0 --item_field=1 --score_field=2 --output=/tmp/ml100k.jsonl --popular_output=/tmp/ml100k-popular.json", sims, err)
	}
	m, err := recommend.LoadFiles(sims, pop, "ml100k")
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(sims)
	if err != nil {
		b.Fatal(err)
	}
	lists, err := recommend.ReadNeighbors(f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	items := make([]string, len(lists))
	for k, l := range lists {
		items[k] = l.Item
	}
	s := newTestServer(b, m)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: s}
	go srv.Serve(lis)
	defer srv.Close()

	for _, size := range []int{1, 10} {
		b.Run(fmt.Sprintf("items=%d", size), func(b *testing.B) {
			urls := loadgen.RecommendationURLs("http://"+lis.Addr().String(), items, size, 10000, 1)
			client := loadgen.NewClient(4 * 64)
			defer client.CloseIdleConnections()
			var mu sync.Mutex
			var all []time.Duration
			var next atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var lat []time.Duration
				for pb.Next() {
					u := urls[next.Add(1)%int64(len(urls))]
					t0 := time.Now()
					if err := loadgen.Get(context.Background(), client, u); err != nil {
						b.Error(err)
						return
					}
					lat = append(lat, time.Since(t0))
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
			r := loadgen.Summarize(all, time.Since(start))
			b.ReportMetric(r.Throughput, "req/s")
			b.ReportMetric(float64(r.P50)/1e3, "p50-µs")
			b.ReportMetric(float64(r.P99)/1e3, "p99-µs")
		})
	}
}
