package main

import (
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
)

// tuneGC gives the heap at least headroom bytes of growth between
// collections. The served model is the live heap; a small one (ML-100k's
// is about 2 MB) under Go's default GOGC=100 has a 4 MB heap goal, so at
// tens of thousands of requests a second the collector runs about 30
// times a second, and each cycle's stop-the-world phases, stretched when
// the cores are busy, land in the tail latency. tuneGC collects, measures
// the live heap, and raises the GC percentage so the goal is at least live
// + headroom; a large model keeps Go's default (never below 100). It does
// nothing when headroom <= 0 or GOGC is set in the environment. It
// returns the percentage set, or -1 when it changed nothing.
func tuneGC(headroom int64) int {
	if headroom <= 0 || os.Getenv("GOGC") != "" {
		return -1
	}
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return -1
	}
	pct := gcPercent(int64(s[0].Value.Uint64()), headroom)
	debug.SetGCPercent(pct)
	slog.Info("gc tuned", "live_bytes", s[0].Value.Uint64(), "gc_percent", pct)
	return pct
}

// gcPercent is the GOGC that lets a live heap grow by headroom, at least
// 100 and at most 10000.
func gcPercent(live, headroom int64) int {
	live = max(live, 1<<20)
	return int(min(max(100, math.Ceil(float64(headroom)*100/float64(live))), 10000))
}
