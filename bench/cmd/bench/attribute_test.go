package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/pprof/profile"
)

// TestAttribute builds a profile whose samples' owners are known by hand
// and checks the shares attribute gives them.
func TestAttribute(t *testing.T) {
	fns := map[string]*profile.Function{}
	var locs []*profile.Location
	loc := func(name string) *profile.Location {
		f, ok := fns[name]
		if !ok {
			f = &profile.Function{ID: uint64(len(fns) + 1), Name: name}
			fns[name] = f
		}
		l := &profile.Location{ID: uint64(len(locs) + 1), Line: []profile.Line{{Function: f}}}
		locs = append(locs, l)
		return l
	}
	// Stacks leaf first, with their nanoseconds.
	stacks := []struct {
		frames []string
		ns     int64
	}{
		{[]string{"runtime.memmove", "runtime.growslice", "github.com/recsys/itemsim/transforms/scoring.Reduce", "github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/exec.(*ParDo).ProcessElement"}, 30},
		{[]string{"runtime.memmove", "bytes.Join", "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism/internal/worker.(*B).ProcessOn"}, 20},
		{[]string{"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/exec.(*DataSource).Process"}, 15},
		{[]string{"google.golang.org/protobuf/internal/impl.consumeBytesNoZero", "github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/harness.(*dataReader).Read"}, 10},
		{[]string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, 15},
		{[]string{"runtime.futex", "runtime.schedule"}, 5},
		{[]string{"golang.org/x/sync/errgroup.(*Group).Go.func1"}, 5},
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
	}
	for _, s := range stacks {
		var ls []*profile.Location
		for _, f := range s.frames {
			ls = append(ls, loc(f))
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: ls, Value: []int64{1, s.ns * 1e7}})
	}
	for _, f := range fns {
		p.Function = append(p.Function, f)
	}
	p.Location = locs
	path := filepath.Join(t.TempDir(), "cpu.prof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()

	shares, sec, err := attribute(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{componentJob: 0.30, componentPrism: 0.20, componentSDK: 0.15, componentRPC: 0.10, componentGC: 0.20, componentOther: 0.05}
	for c, w := range want {
		if math.Abs(shares[c]-w) > 1e-12 {
			t.Errorf("%s: share %v, want %v", c, shares[c], w)
		}
	}
	if len(shares) != len(want) {
		t.Errorf("shares %v: want exactly %v", shares, want)
	}
	if math.Abs(sec-1.0) > 1e-12 {
		t.Errorf("seconds %v, want 1 (100 samples of 10 ms)", sec)
	}
}
