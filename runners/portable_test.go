//go:build unix

package runners

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/container/pool"
	"github.com/recsys/itemsim/internal/testlogs"
)

// noCgo is the environment of every build the portable test runs: what
// ships to workers must not need a C library.
var noCgo = []string{"CGO_ENABLED=0"}

// portableJob is a pipeline TestPortable submits: pipelines/<pipeline>,
// run with flags, writing --output, --dead_letter and the files named by
// outputs, each compared byte for byte. A streaming job writes each as
// parts (parts: the flags name prefixes): their lines are compared, sorted.
type portableJob struct {
	pipeline string
	flags    []string
	outputs  []string
	parts    bool
}

// portableJobs are the jobs TestPortable runs. ALS sums every factor and
// Gram matrix exactly (order-free), so its factors, and the lists ranked
// from them, are the same bits whatever the runner and its bundles. The
// streaming job's replay goes through the job server with its state and
// event-time timers, the parts of it Flink must support.
var portableJobs = []portableJob{
	{pipeline: "similarity"},
	{pipeline: "als", flags: []string{"--rank=8", "--iterations=3"},
		outputs: []string{"user_output", "item_factors_output", "user_factors_output"}},
	{pipeline: "realtime", flags: []string{"--time_field=time", "--window=240h", "--slice=24h", "--emit_interval=24h",
		"--user_shards=2", "--item_shards=3"}, parts: true},
}

// TestPortable submits each job the way --runner=flink does, to a job
// server speaking Beam's portable Job API (Prism's standalone one stands
// in for Flink's: the Go SDK's flink runner is the universal runner, so
// the submission is the same), and checks that it writes byte for byte
// what the in-process Prism run writes. EXTERNAL runs the workers in a Go
// SDK worker pool, the production path of the Flink deployment.
func TestPortable(t *testing.T) {
	root := repoRoot(t)
	prism := build(t, "prism", root, noCgo, "github.com/apache/beam/sdks/v2/go/cmd/prism")
	boot := build(t, "boot", root, noCgo, "github.com/apache/beam/sdks/v2/go/container")
	bins := map[string]string{}
	for _, j := range portableJobs {
		// -s -w: no symbol table or DWARF, for a faster link of a big binary.
		bins[j.pipeline] = build(t, j.pipeline, root, noCgo, "-ldflags=-s -w", "./pipelines/"+j.pipeline)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	jobPort := freePort(t)
	startProcess(ctx, t, root, "prism", nil, prism, "--job_port="+strconv.Itoa(jobPort), "--serve_http=false", "--log_level=warn")
	endpoint := "localhost:" + strconv.Itoa(jobPort)
	waitListening(ctx, t, endpoint)
	loopback := []string{"--runner=flink", "--endpoint=" + endpoint, "--environment_type=LOOPBACK"}

	for _, j := range portableJobs {
		t.Run(j.pipeline, func(t *testing.T) {
			bin, out := bins[j.pipeline], t.TempDir()
			want := j.run(ctx, t, bin, root, out, "prism")
			t.Run("LOOPBACK", func(t *testing.T) {
				compare(t, j.run(ctx, t, bin, root, out, "flink-loopback", loopback...), want)
			})
			t.Run("EXTERNAL", func(t *testing.T) {
				poolAddr := startWorkerPool(ctx, t, root, boot, filepath.Base(bin))
				got := j.run(ctx, t, bin, root, out, "flink-external",
					"--runner=flink", "--endpoint="+endpoint, "--environment_type=EXTERNAL",
					"--environment_config="+poolAddr, "--worker_binary="+bin)
				compare(t, got, want)
			})
			if j.pipeline != "similarity" {
				return
			}
			// DIMSUM's sampled path (the committed fixture samples nothing):
			// a log where t = 0.3 drops about 40% of entries gives the same
			// bytes too.
			t.Run("LOOPBACK sampled", func(t *testing.T) {
				csv, _ := testlogs.Clustered()
				input := filepath.Join(t.TempDir(), "clustered.csv")
				if err := os.WriteFile(input, []byte(csv), 0o644); err != nil {
					t.Fatal(err)
				}
				flags := []string{"--input=" + input, "--user_field=user", "--item_field=item", "--score_field=score", "--threshold=0.3"}
				want := j.run(ctx, t, bin, root, out, "prism-sampled", flags...)
				got := j.run(ctx, t, bin, root, out, "flink-loopback-sampled", append(flags, loopback...)...)
				compare(t, got, want)
			})
		})
	}
}

// outputs are the files one run wrote, by the flag that named them.
type outputs map[string][]byte

// run runs the job's binary from the module root over the committed
// fixture with the job's flags and extra ones, writing its files as
// OUT/name.<flag>.jsonl, and returns what it wrote.
func (j portableJob) run(ctx context.Context, t *testing.T, bin, root, out, name string, flags ...string) outputs {
	t.Helper()
	args := []string{"--input=testdata/interactions.csv"}
	paths := map[string]string{}
	for _, f := range append([]string{"output", "dead_letter"}, j.outputs...) {
		paths[f] = filepath.Join(out, name+"."+f)
		if !j.parts {
			paths[f] += ".jsonl"
		}
		args = append(args, "--"+f+"="+paths[f])
	}
	args = append(append(args, j.flags...), flags...)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = root
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", j.pipeline, args, err, tail(log, 4000))
	}
	o := outputs{}
	for f, p := range paths {
		if j.parts {
			o[f], err = readParts(p)
		} else {
			o[f], err = os.ReadFile(p)
		}
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", j.pipeline, args, err, tail(log, 4000))
		}
	}
	return o
}

// readParts is the lines of the parts written at prefix, sorted.
func readParts(prefix string) ([]byte, error) {
	parts, err := filepath.Glob(prefix + "-*.jsonl")
	if err != nil {
		return nil, err
	}
	var lines [][]byte
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		lines = append(lines, bytes.SplitAfter(b, []byte("\n"))...)
	}
	slices.SortFunc(lines, bytes.Compare)
	return bytes.Join(lines, nil), nil
}

// compare checks that a run wrote the reference run's files, byte for
// byte. Every file but the dead letter must have lines to compare.
func compare(t *testing.T, got, want outputs) {
	t.Helper()
	for f, w := range want {
		if f != "dead_letter" && bytes.Count(w, []byte("\n")) == 0 {
			t.Errorf("the in-process Prism run wrote no lines to --%s: nothing to compare", f)
			continue
		}
		if g := got[f]; !bytes.Equal(g, w) {
			t.Errorf("--%s differs from the in-process Prism run's (%d bytes, want %d):\n%s\nwant\n%s", f, len(g), len(w), firstDiff(g, w), firstDiff(w, g))
		}
	}
}

// firstDiff is where a first differs from b: the line, the byte, and a's
// text around it, for error messages.
func firstDiff(a, b []byte) string {
	al, bl := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i, l := range al {
		var o []byte
		if i < len(bl) {
			o = bl[i]
		}
		if i < len(bl) && bytes.Equal(l, o) {
			continue
		}
		k := 0
		for k < len(l) && k < len(o) && l[k] == o[k] {
			k++
		}
		return fmt.Sprintf("line %d, byte %d: %s", i+1, k+1, l[max(0, k-80):min(len(l), k+160)])
	}
	return "(no more lines)"
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess starts bin in dir, with extra environment variables env,
// in its own process group, logging to a file, and kills the whole group (the process and whatever it started) when
// the test ends. The log is printed if the test failed.
func startProcess(ctx context.Context, t *testing.T, dir, name string, env []string, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		logFile.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, tail(log, 4000))
		}
	})
}

// waitListening waits until addr accepts TCP connections.
func waitListening(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nothing listens on %s: %v", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// workerPoolPort is the port `boot --worker_pool` always listens on.
const workerPoolPort = 50000

// The environment of the test binary's worker pool helper: the port to
// serve and the boot binary the workers run.
const (
	poolPortEnv = "RUNNERS_TEST_WORKER_POOL_PORT"
	poolBootEnv = "RUNNERS_TEST_WORKER_POOL_BOOT"
)

func init() { helpers[poolPortEnv] = serveWorkerPool }

// serveWorkerPool serves, on another port, the worker pool that
// boot --worker_pool serves on port 50000 (the same package).
func serveWorkerPool() int {
	port, err := strconv.Atoi(os.Getenv(poolPortEnv))
	if err == nil {
		var p *pool.Process
		if p, err = pool.New(context.Background(), port, os.Getenv(poolBootEnv)); err == nil {
			err = p.ServeAndWait()
		}
	}
	fmt.Fprintln(os.Stderr, "worker pool:", err)
	return 1
}

// startWorkerPool starts a Go SDK worker pool, as the apache/beam_go_sdk
// sidecar runs it, from the module root (the workers it starts inherit
// that directory, where the relative --input resolves), and returns its
// address. The pool's workers are boot processes that fetch the worker
// binary (named worker) from the job server and run it.
func startWorkerPool(ctx context.Context, t *testing.T, root, boot, worker string) string {
	t.Helper()
	removeBootLeftovers(t, worker)
	port := workerPoolPort
	if l, err := net.Listen("tcp", fmt.Sprintf(":%d", port)); err == nil {
		l.Close()
		startProcess(ctx, t, root, "worker pool", nil, boot, "--worker_pool")
	} else {
		// Port 50000 is taken (say, by a local worker pool sidecar): the
		// test binary serves the same pool on a free port.
		port = freePort(t)
		t.Logf("port %d is in use: serving the worker pool on port %d", workerPoolPort, port)
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		startProcess(ctx, t, root, "worker pool", []string{poolPortEnv + "=" + strconv.Itoa(port), poolBootEnv + "=" + boot}, self)
	}
	addr := net.JoinHostPort("localhost", strconv.Itoa(port))
	waitListening(ctx, t, addr)
	return addr
}

// removeBootLeftovers removes, when the test ends, the copies of the
// worker binary that boot leaves in /tmp (it hardcodes /tmp/bin*/worker
// and stages to /tmp/staged/N-NAME): those that did not exist before the
// test started.
func removeBootLeftovers(t *testing.T, worker string) {
	t.Helper()
	const staged = "/tmp/staged"
	patterns := []string{"/tmp/bin*/worker", staged + "/*-" + worker}
	before := map[string]bool{}
	if _, err := os.Stat(staged); err == nil {
		before[staged] = true
	}
	for _, p := range patterns {
		old, _ := filepath.Glob(p)
		for _, f := range old {
			before[f] = true
		}
	}
	t.Cleanup(func() {
		for _, p := range patterns {
			now, _ := filepath.Glob(p)
			for _, f := range now {
				if before[f] {
					continue
				}
				os.Remove(f)
				if filepath.Base(f) == "worker" {
					os.Remove(filepath.Dir(f)) // only if empty: boot's own directory
				}
			}
		}
		if !before[staged] {
			os.Remove(staged) // only if empty
		}
	})
}
