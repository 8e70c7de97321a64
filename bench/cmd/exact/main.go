// Command exact is the single-process exact peer of the similarity
// pipeline: it reads the same flags for the input, scores the same way,
// computes every exact cosine in memory (bench/exact) and writes the
// pipeline's JSONL, one line per item with a neighbour, items ascending.
//
//	go run ./bench/cmd/exact --input=u.data --format=tsv --header=false \
//	  --user_field=0 --item_field=1 --score_field=2 --top_n=10 --output=/tmp/exact.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/recsys/itemsim/bench/data"
	"github.com/recsys/itemsim/bench/exact"
)

func main() {
	var src data.Source
	src.RegisterFlags(flag.CommandLine)
	topN := flag.Int("top_n", 20, "Neighbours kept per item.")
	output := flag.String("output", "", "JSONL output (required).")
	flag.Parse()
	if err := run(src, *topN, *output); err != nil {
		fmt.Fprintln(os.Stderr, "exact:", err)
		os.Exit(1)
	}
}

func run(src data.Source, topN int, output string) error {
	if output == "" || src.Path == "" {
		return fmt.Errorf("--input and --output are required")
	}
	start := time.Now()
	m, err := data.LoadSource(src)
	if err != nil {
		return err
	}
	loaded := time.Since(start)
	lists := exact.TopN(m, topN)
	f, err := os.Create(output)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, l := range lists {
		if err := enc.Encode(l); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("items: %d\nload time: %s\nwall time: %s\n", len(lists), loaded.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return nil
}
