// Command synth writes a synthetic e-commerce interaction log (CSV with the
// seed system's columns user,productSku,type plus time) to stdout or --out.
//
//	go run ./bench/cmd/synth --interactions=1000000 --items=20000 --out=/tmp/1m.csv
//	go run ./bench/cmd/synth --users=100000 --items=500 --out=/tmp/u1x.csv   # fixed catalogue
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/recsys/itemsim/bench/synth"
)

func main() {
	n := flag.Int("interactions", 5000, "Rows to generate.")
	users := flag.Int("users", 0, "Fixed-catalogue mode: exactly this many users, each with all their rows (--interactions is then ignored).")
	items := flag.Int("items", 1000, "Catalogue size (at least 50).")
	seed := flag.Uint64("seed", 1, "Generator seed.")
	out := flag.String("out", "", "Output file (default stdout).")
	flag.Parse()
	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "synth:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	if err := synth.Write(w, synth.Config{Interactions: *n, Users: *users, Items: *items, Seed: *seed}); err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(1)
	}
}
