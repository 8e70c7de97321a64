package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// Components of the pipeline's CPU, in the order the report prints them.
var components = []string{componentJob, componentSDK, componentPrism, componentRPC, componentGC, componentOther}

const (
	componentJob   = "job (recsys/itemsim)"
	componentSDK   = "Beam Go SDK harness"
	componentPrism = "Prism runner"
	componentRPC   = "gRPC and protobuf"
	componentGC    = "Go GC and scheduler"
	componentOther = "other"
)

// attribute splits a CPU profile's samples among the components that
// spent them, so the report can say how much of the pipeline's CPU is the
// job's own code and how much is the runner's machinery. A sample belongs
// to the first frame, leaf upward, outside the Go runtime and the standard
// library: a memmove under the job's Reduce is the job's, one under
// Prism's bytes.Join is Prism's. Samples of the GC's background workers,
// and stacks with no frame outside the runtime (the scheduler), are the
// GC's. It returns each component's share of the samples (summing to 1)
// and the seconds they stand for.
func attribute(path string) (shares map[string]float64, seconds float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, 0, fmt.Errorf("parsing %s: %v", path, err)
	}
	value := slices.IndexFunc(p.SampleType, func(t *profile.ValueType) bool { return t.Unit == "nanoseconds" })
	if value < 0 {
		return nil, 0, fmt.Errorf("%s: no CPU time in the profile", path)
	}
	var total int64
	ns := map[string]int64{}
	for _, s := range p.Sample {
		v := s.Value[value]
		total += v
		ns[component(s)] += v
	}
	if total == 0 {
		return nil, 0, fmt.Errorf("%s: the profile holds no samples", path)
	}
	shares = map[string]float64{}
	for c, v := range ns {
		shares[c] = float64(v) / float64(total)
	}
	return shares, float64(total) / 1e9, nil
}

// component names the component a sample's stack belongs to.
func component(s *profile.Sample) string {
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			name := line.Function.Name
			if name == "runtime.gcBgMarkWorker" {
				return componentGC
			}
			if c := packageComponent(name); c != "" {
				return c
			}
		}
	}
	return componentGC
}

// packageComponent classifies a function by its package; "" for the Go
// runtime and the standard library, whose time goes to their caller.
func packageComponent(fn string) string {
	switch {
	case strings.HasPrefix(fn, "github.com/recsys/itemsim/"):
		return componentJob
	case strings.Contains(fn, "/beam/runners/prism/"):
		return componentPrism
	case strings.HasPrefix(fn, "github.com/apache/beam/"):
		return componentSDK
	case strings.HasPrefix(fn, "google.golang.org/grpc"), strings.HasPrefix(fn, "google.golang.org/protobuf"),
		strings.HasPrefix(fn, "golang.org/x/net/"):
		return componentRPC
	case standardLibrary(fn):
		return ""
	}
	return componentOther
}

// standardLibrary reports whether a function belongs to the Go runtime or
// the standard library: its import path has no dot in its first element
// (runtime.memmove, bytes.Join, internal/runtime/maps.NewEmptyMap).
func standardLibrary(fn string) bool {
	first, _, _ := strings.Cut(fn, "/")
	if !strings.Contains(fn, "/") {
		first, _, _ = strings.Cut(fn, ".")
		return first != "main" && first != "type:"
	}
	return !strings.Contains(first, ".")
}
