package main

import "testing"

func TestZZProf(t *testing.T) {
	mustRun(t, "--input=/tmp/perf/synth1m.csv", "--output=/tmp/perf/p.jsonl", "--rank=32", "--iterations=4", "--alpha=2", "--blocks=1")
}
