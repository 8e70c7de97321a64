// Command profile runs the similarity job in-process on Prism under the CPU
// profiler, so that pprof sees the pipeline's own work (Prism's workers run
// in this process). It composes the same transforms as
// pipelines/similarity (read, score, item table, DIMSUM, top N, sorted
// JSONL) without the dead letter, the bad-row gate and the optional sinks,
// which a clean synthetic input does not exercise.
//
//	go run ./bench/cmd/profile --input=/tmp/1m.csv --threshold=0.1 \
//	  --cpuprofile=/tmp/cpu.prof --output=/tmp/profile.jsonl
//	go tool pprof -top /tmp/cpu.prof
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/recsys/itemsim/bench/data"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/dimsum"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/scoring"
	"github.com/recsys/itemsim/transforms/textsink"
	"github.com/recsys/itemsim/transforms/topn"
)

func init() {
	register.Function1x1(neighborsJSON)
}

func main() {
	var src data.Source
	src.RegisterFlags(flag.CommandLine)
	threshold := flag.Float64("threshold", 0.1, "DIMSUM threshold.")
	seed := flag.Uint64("seed", 42, "Sampling seed.")
	topN := flag.Int("top_n", 10, "Neighbours kept per item.")
	output := flag.String("output", "", "JSONL output (required).")
	cpuprofile := flag.String("cpuprofile", "", "CPU profile file (required).")
	heapprofile := flag.String("heapprofile", "", "Heap profile file, written whenever the live heap reaches a new peak (optional).")
	flag.Parse()
	beam.Init()
	if *heapprofile != "" {
		go watchHeap(*heapprofile)
	}
	if err := run(src, dimsum.Config{Threshold: *threshold, Seed: *seed}, *topN, *output, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run(src data.Source, dc dimsum.Config, topN int, output, cpuprofile string) error {
	if output == "" || cpuprofile == "" {
		return fmt.Errorf("--output and --cpuprofile are required")
	}
	spec, sc, err := src.Config()
	if err != nil {
		return err
	}
	p, s := beam.NewPipelineWithRoot()
	in, err := interactions.Read(s, src.Path, spec)
	if err != nil {
		return err
	}
	rows := scoring.PerUser(s, in.Batches, scoring.Config{Rules: sc})
	table := dimsum.Table(s, rows, sc.Clip)
	pairs := dimsum.Similarities(s, dc, rows, table)
	textsink.Write(s.Scope("Output"), output, beam.ParDo(s, neighborsJSON, topn.Top(s, topN, 0, pairs, table)))

	f, err := os.Create(cpuprofile)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	start := time.Now()
	err = beamx.Run(context.Background(), p)
	pprof.StopCPUProfile()
	if err != nil {
		return fmt.Errorf("pipeline failed: %v", err)
	}
	fmt.Printf("wall time: %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// watchHeap writes a heap profile to path each time the heap in use after
// a collection reaches a new peak, checked every 200 ms: the last file shows
// what the job held at its fullest.
func watchHeap(path string) {
	var peak uint64
	var ms runtime.MemStats
	for range time.Tick(200 * time.Millisecond) {
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse <= peak {
			continue
		}
		peak = ms.HeapInuse
		if f, err := os.Create(path); err == nil {
			pprof.WriteHeapProfile(f) // the profile of the last collection
			f.Close()
		}
	}
}

// neighborsJSON renders one output line as the pipeline does.
func neighborsJSON(n model.Neighbors) string {
	b, err := json.Marshal(n)
	if err != nil {
		panic(err) // strings and finite floats always marshal
	}
	return string(b)
}
