package runners

import (
	"flag"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// dataflowOK is a complete set of Dataflow flags.
var dataflowOK = Options{Runner: "dataflow", Project: "my-project", Region: "europe-west1", StagingLocation: "gs://my-bucket/staging"}

func with(o Options, edit func(*Options)) Options {
	edit(&o)
	return o
}

func TestResolveErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Options
		want []string // substrings of the error
	}{
		{"unknown runner", Options{Runner: "spark"}, []string{"--runner=spark", "prism", "dataflow", "flink"}},
		{"direct runner", Options{Runner: "direct"}, []string{"--runner=direct", "prism (the default), dataflow or flink"}},
		{"dataflow without project", with(dataflowOK, func(o *Options) { o.Project = "" }), []string{"--project="}},
		{"dataflow without region", with(dataflowOK, func(o *Options) { o.Region = "" }), []string{"--region="}},
		{"dataflow without staging", with(dataflowOK, func(o *Options) { o.StagingLocation = "" }), []string{"--staging_location=gs://"}},
		{"dataflow local staging", with(dataflowOK, func(o *Options) { o.StagingLocation = "/tmp/staging" }), []string{"--staging_location=/tmp/staging", "gs://BUCKET"}},
		{"dataflow s3 staging", with(dataflowOK, func(o *Options) { o.StagingLocation = "s3://bucket/staging" }), []string{"--staging_location=s3://bucket/staging"}},
		{"dataflow staging without bucket", with(dataflowOK, func(o *Options) { o.StagingLocation = "gs:///staging" }), []string{"--staging_location=gs:///staging"}},
		{"dataflow missing worker binary", with(dataflowOK, func(o *Options) { o.WorkerBinary = "/no/such/binary" }), []string{"--worker_binary", "/no/such/binary"}},
		{"flink without endpoint", Options{Runner: "flink"}, []string{"--endpoint=HOST:PORT"}},
		{"flink endpoint without port", Options{Runner: "flink", Endpoint: "jobserver"}, []string{"--endpoint=jobserver", "HOST:PORT"}},
		{"flink endpoint without host", Options{Runner: "flink", Endpoint: ":8099"}, []string{"--endpoint=:8099"}},
		{"flink endpoint bad port", Options{Runner: "flink", Endpoint: "jobserver:http"}, []string{"--endpoint=jobserver:http"}},
		{"flink process environment", Options{Runner: "flink", Endpoint: "localhost:8099", EnvironmentType: "process"}, []string{"--environment_type=PROCESS", "DOCKER", "EXTERNAL", "LOOPBACK"}},
		{"flink external without pool", Options{Runner: "flink", Endpoint: "localhost:8099", EnvironmentType: "EXTERNAL"}, []string{"--environment_config=HOST:PORT", "worker pool"}},
		{"flink external bad pool", Options{Runner: "flink", Endpoint: "localhost:8099", EnvironmentType: "EXTERNAL", EnvironmentConfig: "apache/beam_go_sdk:2.77.0"}, []string{"--environment_config=apache/beam_go_sdk:2.77.0"}},
		{"flink loopback with config", Options{Runner: "flink", Endpoint: "localhost:8099", EnvironmentType: "LOOPBACK", EnvironmentConfig: "localhost:50000"}, []string{"--environment_config=localhost:50000", "LOOPBACK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(tc.in, "")
			if err == nil {
				t.Fatalf("Resolve(%+v) succeeded, want an error", tc.in)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestResolve(t *testing.T) {
	static := staticTiny(t)
	notStatic := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(notStatic, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	flinkDocker := Options{Runner: "flink", Endpoint: "localhost:8099", EnvironmentType: "DOCKER"}
	for _, tc := range []struct {
		name string
		in   Options
		exe  string
		want Options
	}{
		{"default is prism", Options{}, static, Options{Runner: "prism"}},
		{"prism alias", Options{Runner: "PrismRunner"}, static, Options{Runner: "prism"}},
		{"prism against a job server", Options{Runner: "prism", Endpoint: "localhost:8073"}, static, Options{Runner: "prism", Endpoint: "localhost:8073"}},
		{"dataflow ships the static running binary", dataflowOK, static, with(dataflowOK, func(o *Options) { o.WorkerBinary = static })},
		{"dataflow alias", with(dataflowOK, func(o *Options) { o.Runner = "DataflowRunner" }), static, with(dataflowOK, func(o *Options) { o.WorkerBinary = static })},
		{"dataflow leaves a non-static binary to Beam", dataflowOK, notStatic, dataflowOK},
		{"dataflow with an unknown executable", dataflowOK, "", dataflowOK},
		{"dataflow keeps an explicit worker binary", with(dataflowOK, func(o *Options) { o.WorkerBinary = notStatic }), static, with(dataflowOK, func(o *Options) { o.WorkerBinary = notStatic })},
		{"flink defaults to DOCKER", Options{Runner: "flink", Endpoint: "localhost:8099"}, static, with(flinkDocker, func(o *Options) { o.WorkerBinary = static })},
		{"flink alias", Options{Runner: "FlinkRunner", Endpoint: "jobserver:8099"}, notStatic, Options{Runner: "flink", Endpoint: "jobserver:8099", EnvironmentType: "DOCKER"}},
		{"flink docker image", with(flinkDocker, func(o *Options) { o.EnvironmentConfig = "registry.local/beam_go_sdk:2.77.0" }), static,
			with(flinkDocker, func(o *Options) { o.EnvironmentConfig = "registry.local/beam_go_sdk:2.77.0"; o.WorkerBinary = static })},
		{"flink external worker pool", Options{Runner: "flink", Endpoint: "localhost:8099", EnvironmentType: "external", EnvironmentConfig: "localhost:50000"}, static,
			Options{Runner: "flink", Endpoint: "localhost:8099", EnvironmentType: "EXTERNAL", EnvironmentConfig: "localhost:50000", WorkerBinary: static}},
		{"flink loopback needs no worker binary", Options{Runner: "flink", Endpoint: "[::1]:8099", EnvironmentType: "Loopback"}, static,
			Options{Runner: "flink", Endpoint: "[::1]:8099", EnvironmentType: "LOOPBACK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.in, tc.exe)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Resolve(%+v, %s)\n got %+v\nwant %+v", tc.in, tc.exe, got, tc.want)
			}
		})
	}
}

// setFlags sets Beam's flags for one test and restores them after.
func setFlags(t *testing.T, values map[string]string) {
	t.Helper()
	for name := range flags(&Options{}) {
		f := flag.Lookup(name)
		old := f.Value.String()
		t.Cleanup(func() { f.Value.Set(old) })
		if err := f.Value.Set(values[name]); err != nil {
			t.Fatal(err)
		}
	}
}

func flagValue(name string) string { return flag.Lookup(name).Value.String() }

func TestPrepare(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary is whatever go test built: static or not, Prepare
	// must ship it exactly when it is.
	static, err := StaticLinuxAMD64(exe)
	if err != nil {
		t.Fatal(err)
	}
	wantWorker := ""
	if static {
		wantWorker = exe
	}
	t.Run("flink completed in place", func(t *testing.T) {
		setFlags(t, map[string]string{"runner": "FlinkRunner", "endpoint": "localhost:8099"})
		if err := Prepare(); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"runner": "flink", "environment_type": "DOCKER", "worker_binary": wantWorker, "endpoint": "localhost:8099"} {
			if got := flagValue(name); got != want {
				t.Errorf("--%s = %q, want %q", name, got, want)
			}
		}
	})
	t.Run("memory limit", func(t *testing.T) {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // restore
		setFlags(t, nil)                                     // Prism, no other flag
		t.Cleanup(func() { flag.Set("memory_limit_mb", "0") })
		flag.Set("memory_limit_mb", "4608")
		if err := Prepare(); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetMemoryLimit(-1); got != 4608<<20 {
			t.Errorf("memory limit = %d, want %d", got, 4608<<20)
		}
		flag.Set("memory_limit_mb", "-1")
		if err := Prepare(); err == nil || !strings.Contains(err.Error(), "--memory_limit_mb=-1") {
			t.Errorf("Prepare() = %v, want a --memory_limit_mb error", err)
		}
	})
	t.Run("gc percent", func(t *testing.T) {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
		defer debug.SetGCPercent(debug.SetGCPercent(100))
		setFlags(t, nil)
		t.Cleanup(func() { flag.Set("memory_limit_mb", "0"); flag.Set("gc_percent", "0") })
		for _, tc := range []struct {
			name, limit, percent, gogc string
			want                       int
		}{
			{"defaults keep GOGC", "0", "0", "", 100},
			{"a memory limit raises it", "4608", "0", "", limitedGCPercent},
			{"GOGC wins over the raise", "4608", "0", "150", 100}, // the runtime read GOGC at start; Prepare leaves it
			{"the flag wins", "4608", "250", "", 250},
			{"the flag alone", "0", "50", "", 50},
		} {
			debug.SetGCPercent(100)
			t.Setenv("GOGC", tc.gogc)
			flag.Set("memory_limit_mb", tc.limit)
			flag.Set("gc_percent", tc.percent)
			if err := Prepare(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := debug.SetGCPercent(100); got != tc.want {
				t.Errorf("%s: GC percent %d, want %d", tc.name, got, tc.want)
			}
		}
		flag.Set("gc_percent", "-1")
		if err := Prepare(); err == nil || !strings.Contains(err.Error(), "--gc_percent=-1") {
			t.Errorf("Prepare() = %v, want a --gc_percent error", err)
		}
	})
	t.Run("dataflow reads --staging_location", func(t *testing.T) {
		setFlags(t, map[string]string{"runner": "dataflow", "project": "p", "region": "r", "staging_location": "/local"})
		err := Prepare()
		if err == nil || !strings.Contains(err.Error(), "--staging_location=/local") {
			t.Fatalf("Prepare() = %v, want a --staging_location error", err)
		}
		if got := flagValue("runner"); got != "dataflow" {
			t.Errorf("--runner = %q after an error, want it untouched", got)
		}
	})
}

// TestKeepKeysInOneBundle: Prism's no-split experiment joins the others
// once, on every runner but Dataflow.
func TestKeepKeysInOneBundle(t *testing.T) {
	for _, tc := range []struct{ runner, before, want string }{
		{"", "", "prism_disable_sdf_split"},
		{"prism", "a,b", "a,b,prism_disable_sdf_split"},
		{"flink", "prism_disable_sdf_split", "prism_disable_sdf_split"},
		{"DataflowRunner", "a", "a"},
	} {
		setFlags(t, map[string]string{"runner": tc.runner})
		old := flag.Lookup("experiments").Value.String()
		t.Cleanup(func() { flag.Set("experiments", old) })
		flag.Set("experiments", tc.before)
		if err := KeepKeysInOneBundle(); err != nil {
			t.Fatal(err)
		}
		if got := flag.Lookup("experiments").Value.String(); got != tc.want {
			t.Errorf("--runner=%s --experiments=%s: got %q, want %q", tc.runner, tc.before, got, tc.want)
		}
	}
}
