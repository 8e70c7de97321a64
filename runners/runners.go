// Package runners checks and completes the Beam runner flags of a pipeline
// binary before it builds its job, so that a bad launch fails at once with
// a message naming the flag, not minutes later inside a runner.
//
// The pipeline launches the same way on three runners: Prism (the default,
// in process, no job server), Dataflow (directly or as a Flex Template) and
// Flink (through Beam's portable Flink job server). Call Prepare right after
// flag.Parse and beam.Init.
package runners

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	// The packages that define the flags Prepare reads. The Dataflow
	// runner keeps --staging_location unexported, so all of them are read
	// and set through the flag package, alike.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/options/gcpopts"  // --project, --region
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"  // --endpoint, --environment_*, --worker_binary, --experiments
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners"          // --runner
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow" // --staging_location
)

// The supported runners, by their canonical Beam names.
const (
	Prism    = "prism"
	Dataflow = "dataflow"
	Flink    = "flink"
)

// The SDK environments a Flink job can run its Go workers in.
const (
	// Docker has every task manager start apache/beam_go_sdk containers
	// (or --environment_config's image); it needs Docker on the task
	// managers.
	Docker = "DOCKER"
	// External has the task managers ask a Go SDK worker pool
	// (--environment_config=host:port, usually a sidecar on localhost:50000)
	// to start workers.
	External = "EXTERNAL"
	// Loopback runs the workers inside the launching process: for tests
	// and local job servers only.
	Loopback = "LOOPBACK"
)

// aliases maps every runner name Beam registers for a supported runner,
// lower-cased, to its canonical name. Beam looks runners up by exact name,
// so the canonical one is written back to --runner.
var aliases = map[string]string{
	"":               Prism,
	"prism":          Prism,
	"prismrunner":    Prism,
	"dataflow":       Dataflow,
	"dataflowrunner": Dataflow,
	"flink":          Flink,
	"flinkrunner":    Flink,
}

// Options are the runner flags Prepare reads and may complete.
type Options struct {
	Runner            string // --runner
	Project           string // --project
	Region            string // --region
	StagingLocation   string // --staging_location
	Endpoint          string // --endpoint: the job service, host:port
	EnvironmentType   string // --environment_type
	EnvironmentConfig string // --environment_config
	WorkerBinary      string // --worker_binary
}

// Resolve validates o and returns it completed: the canonical runner name,
// Flink's default environment type, and, for runners that ship a worker
// binary, the running executable exe as --worker_binary when that is unset
// and exe is a static linux/amd64 build. exe may be empty (unknown).
func Resolve(o Options, exe string) (Options, error) {
	runner, ok := aliases[strings.ToLower(o.Runner)]
	if !ok {
		return o, fmt.Errorf("--runner=%s is not supported: use prism (the default), dataflow or flink", o.Runner)
	}
	o.Runner = runner
	switch runner {
	case Dataflow:
		if err := checkDataflow(o); err != nil {
			return o, err
		}
	case Flink:
		var err error
		if o, err = checkFlink(o); err != nil {
			return o, err
		}
	}
	if o.WorkerBinary != "" {
		if _, err := os.Stat(o.WorkerBinary); err != nil {
			return o, fmt.Errorf("--worker_binary: %v", err)
		}
		return o, nil
	}
	if !shipsWorkerBinary(o) || exe == "" {
		return o, nil
	}
	// Left empty, Beam cross-compiles the pipeline from its source with
	// `go build` at every launch, which needs the Go toolchain and this
	// module's source where the job is launched: a Flex Template launcher
	// image or an on-prem launch host has neither, and a rebuilt binary is
	// not the tested one. A static linux/amd64 build of this binary runs
	// unchanged on Dataflow workers and in apache/beam_go_sdk containers,
	// so ship it.
	static, err := StaticLinuxAMD64(exe)
	if err != nil {
		return o, fmt.Errorf("inspecting the running binary for --worker_binary: %v", err)
	}
	if static {
		o.WorkerBinary = exe
	}
	return o, nil
}

// shipsWorkerBinary reports whether the runner starts workers from a staged
// copy of the pipeline binary (Prism and Flink's LOOPBACK run them in the
// launching process instead).
func shipsWorkerBinary(o Options) bool {
	return o.Runner == Dataflow || (o.Runner == Flink && o.EnvironmentType != Loopback)
}

func checkDataflow(o Options) error {
	switch {
	case o.Project == "":
		return fmt.Errorf("--runner=dataflow needs --project=PROJECT_ID, the Google Cloud project to run the job in")
	case o.Region == "":
		return fmt.Errorf("--runner=dataflow needs --region=REGION, the Dataflow region (e.g. us-central1)")
	case o.StagingLocation == "":
		return fmt.Errorf("--runner=dataflow needs --staging_location=gs://BUCKET/PATH for the job's binary and temporary files")
	}
	bucket, ok := strings.CutPrefix(o.StagingLocation, "gs://")
	if bucket, _, _ = strings.Cut(bucket, "/"); !ok || bucket == "" {
		return fmt.Errorf("--staging_location=%s: want a Cloud Storage path gs://BUCKET/PATH", o.StagingLocation)
	}
	return nil
}

func checkFlink(o Options) (Options, error) {
	if o.Endpoint == "" {
		return o, fmt.Errorf("--runner=flink needs --endpoint=HOST:PORT of Beam's Flink job server (its job port, 8099 by default)")
	}
	if err := checkHostPort(o.Endpoint); err != nil {
		return o, fmt.Errorf("--endpoint=%s: %v", o.Endpoint, err)
	}
	o.EnvironmentType = strings.ToUpper(o.EnvironmentType)
	switch o.EnvironmentType {
	case "":
		o.EnvironmentType = Docker
	case Docker:
	case External:
		if o.EnvironmentConfig == "" {
			return o, fmt.Errorf("--environment_type=EXTERNAL needs --environment_config=HOST:PORT of a Go SDK worker pool (e.g. localhost:50000)")
		}
		if err := checkHostPort(o.EnvironmentConfig); err != nil {
			return o, fmt.Errorf("--environment_config=%s: %v", o.EnvironmentConfig, err)
		}
	case Loopback:
		if o.EnvironmentConfig != "" {
			return o, fmt.Errorf("--environment_config=%s has no use with --environment_type=LOOPBACK: the workers run in this process", o.EnvironmentConfig)
		}
	default:
		return o, fmt.Errorf("--environment_type=%s is not supported with --runner=flink: use DOCKER (the default), EXTERNAL or LOOPBACK", o.EnvironmentType)
	}
	return o, nil
}

// checkHostPort accepts host:port with a non-empty host and a port number.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want HOST:PORT: %v", err)
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("want HOST:PORT with a host and a port in 1-65535")
	}
	return nil
}

// flags maps each Options field to the Beam flag it comes from.
func flags(o *Options) map[string]*string {
	return map[string]*string{
		"runner":             &o.Runner,
		"project":            &o.Project,
		"region":             &o.Region,
		"staging_location":   &o.StagingLocation,
		"endpoint":           &o.Endpoint,
		"environment_type":   &o.EnvironmentType,
		"environment_config": &o.EnvironmentConfig,
		"worker_binary":      &o.WorkerBinary,
	}
}

// memoryLimit is the process's soft memory limit. On Prism the whole job,
// runner and workers, runs in this process; without a limit Go lets the
// heap grow to twice what is live before it collects.
var memoryLimit = flag.Int64("memory_limit_mb", 0, "Soft memory limit of this process in MiB (as GOMEMLIMIT): the garbage collector works harder near it instead of letting the heap double. It bounds the embedded Prism runner, where the whole job runs in this process. 0 keeps GOMEMLIMIT (or no limit).")

// gcPercent is the collector's target heap growth.
var gcPercent = flag.Int("gc_percent", 0, "Heap growth, in percent of the live heap, that triggers a garbage collection (as GOGC). 0 keeps GOGC, or uses 400 when --memory_limit_mb is set and GOGC is not: the limit then bounds the heap, and collecting a fifth as often frees a core's share on Prism.")

// limitedGCPercent is --gc_percent's default under a memory limit: on
// synth-1M at threshold 0.1 its median wall time was 14% and 7% below
// 100's in two series of 5 runs.
const limitedGCPercent = 400

// Prepare validates Beam's runner flags and completes them in place (see
// Resolve), and applies --memory_limit_mb and --gc_percent. Call it after
// flag.Parse and beam.Init, before building the pipeline; its error is
// meant for the user as is.
func Prepare() error {
	if *memoryLimit < 0 {
		return fmt.Errorf("--memory_limit_mb=%d: want a size in MiB, or 0 for no limit", *memoryLimit)
	}
	if *gcPercent < 0 {
		return fmt.Errorf("--gc_percent=%d: want a percentage, or 0 for the default", *gcPercent)
	}
	if *memoryLimit > 0 {
		debug.SetMemoryLimit(*memoryLimit << 20)
	}
	switch {
	case *gcPercent > 0:
		debug.SetGCPercent(*gcPercent)
	case *memoryLimit > 0 && os.Getenv("GOGC") == "":
		debug.SetGCPercent(limitedGCPercent)
	}
	var o Options
	fields := flags(&o)
	for name, dst := range fields {
		*dst = flag.Lookup(name).Value.String() // defined by the packages imported above
	}
	before := o
	exe, err := os.Executable()
	if err != nil {
		exe = "" // unknown: leave --worker_binary to Beam
	}
	o, err = Resolve(o, exe)
	if err != nil {
		return err
	}
	old := flags(&before)
	for name, v := range fields {
		if *v != *old[name] {
			if err := flag.Set(name, *v); err != nil {
				return fmt.Errorf("--%s=%s: %v", name, *v, err)
			}
		}
	}
	return nil
}

// Current is the canonical name of the runner --runner names (Prism when
// it is unset).
func Current() string {
	if name, ok := aliases[strings.ToLower(flag.Lookup("runner").Value.String())]; ok {
		return name
	}
	return flag.Lookup("runner").Value.String()
}

// prismNoSplits is the Prism experiment that turns off the splits Prism
// asks of a running bundle.
const prismNoSplits = "prism_disable_sdf_split"

// KeepKeysInOneBundle adds prismNoSplits to --experiments, for a job with
// stateful stages, unless it runs on Dataflow. Prism (Beam 2.77) splits a
// bundle that reports no progress for a while, as on a loaded machine, and
// frees the keys of the residual's elements even when the primary still
// holds the same key: two bundles then read one key's state at once and
// the later commit drops the other's writes (the streaming model's counts
// went wrong so in 6 of 24 loaded runs of its Prism test; none of 24 with
// the experiment). Dataflow and Flink keep a key in one bundle at a time;
// a job server (--runner=flink) may be Prism's own, and Flink ignores an
// experiment it does not know.
func KeepKeysInOneBundle() error {
	if Current() == Dataflow {
		return nil
	}
	return addExperiment(prismNoSplits)
}

// addExperiment adds exp to --experiments, once.
func addExperiment(exp string) error {
	f := flag.Lookup("experiments") // defined by jobopts
	var all []string
	if v := f.Value.String(); v != "" {
		all = strings.Split(v, ",")
	}
	if slices.Contains(all, exp) {
		return nil
	}
	return flag.Set("experiments", strings.Join(append(all, exp), ","))
}
