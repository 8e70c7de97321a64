// Command loadtest loads a running recommendation server (./serving) on
// /make_recommendation with requests of 1 and 10 items drawn from the
// model's items, and prints throughput and latency percentiles per size.
//
//	go run ./serving --similarities=/tmp/ml100k.jsonl --popular=/tmp/ml100k-popular.json --addr=127.0.0.1:8080 &
//	go run ./serving/loadtest --url=http://127.0.0.1:8080 --similarities=/tmp/ml100k.jsonl
//
// It is a closed loop: --concurrency workers each keep one request in
// flight, so latency is measured at the throughput the server sustains.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/recsys/itemsim/internal/loadgen"
	"github.com/recsys/itemsim/recommend"
)

var (
	target      = flag.String("url", "http://127.0.0.1:8080", "Base URL of the server.")
	sims        = flag.String("similarities", "/tmp/ml100k.jsonl", "The model's JSONL file, to draw item ids from.")
	sizes       = flag.String("items", "1,10", "Items per request, comma-separated: one run per size.")
	concurrency = flag.Int("concurrency", 8, "Requests in flight.")
	duration    = flag.Duration("duration", 10*time.Second, "Measured time per run.")
	warmup      = flag.Duration("warmup", 2*time.Second, "Unmeasured time before each run.")
	distinct    = flag.Int("distinct", 10000, "Distinct request URLs per run.")
	seed        = flag.Uint64("seed", 1, "Seed of the item draws.")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run() error {
	f, err := os.Open(*sims)
	if err != nil {
		return err
	}
	lists, err := recommend.ReadNeighbors(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %v", *sims, err)
	}
	items := make([]string, len(lists))
	for k, l := range lists {
		items[k] = l.Item
	}
	base := strings.TrimSuffix(*target, "/")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("--items: %q is not a positive count", s)
		}
		urls := loadgen.RecommendationURLs(base, items, n, *distinct, *seed)
		res, err := loadgen.Run(context.Background(), loadgen.Config{URLs: urls, Concurrency: *concurrency, Warmup: *warmup, Duration: *duration})
		if err != nil {
			return err
		}
		fmt.Printf("items=%d concurrency=%d: %s\n", n, *concurrency, res)
	}
	return nil
}
