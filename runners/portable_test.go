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

// TestPortable submits the pipeline the way --runner=flink does, to a job
// server speaking Beam's portable Job API (Prism's standalone one stands
// in for Flink's: the Go SDK's flink runner is the universal runner, so
// the submission is the same), and checks that it writes byte for byte
// what the in-process Prism run writes. EXTERNAL runs the workers in a Go
// SDK worker pool, the production path of the Flink deployment.
func TestPortable(t *testing.T) {
	root := repoRoot(t)
	// -s -w: no symbol table or DWARF, for a faster link of a big binary.
	similarity := build(t, "similarity", root, noCgo, "-ldflags=-s -w", "./pipelines/similarity")
	prism := build(t, "prism", root, noCgo, "github.com/apache/beam/sdks/v2/go/cmd/prism")
	boot := build(t, "boot", root, noCgo, "github.com/apache/beam/sdks/v2/go/container")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out := t.TempDir()
	want := runPipeline(ctx, t, similarity, root, out, "prism")

	jobPort := freePort(t)
	startProcess(ctx, t, root, "prism", nil, prism, "--job_port="+strconv.Itoa(jobPort), "--serve_http=false", "--log_level=warn")
	endpoint := "localhost:" + strconv.Itoa(jobPort)
	waitListening(ctx, t, endpoint)

	t.Run("LOOPBACK", func(t *testing.T) {
		got := runPipeline(ctx, t, similarity, root, out, "flink-loopback",
			"--runner=flink", "--endpoint="+endpoint, "--environment_type=LOOPBACK")
		compare(t, got, want)
	})
	// DIMSUM's sampled path (the committed fixture samples nothing): a log
	// where t = 0.3 drops about 40% of entries gives the same bytes too.
	t.Run("LOOPBACK sampled", func(t *testing.T) {
		csv, _ := testlogs.Clustered()
		input := filepath.Join(t.TempDir(), "clustered.csv")
		if err := os.WriteFile(input, []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
		flags := []string{"--input=" + input, "--user_field=user", "--item_field=item", "--score_field=score", "--threshold=0.3"}
		want := runPipeline(ctx, t, similarity, root, out, "prism-sampled", flags...)
		got := runPipeline(ctx, t, similarity, root, out, "flink-loopback-sampled",
			append(flags, "--runner=flink", "--endpoint="+endpoint, "--environment_type=LOOPBACK")...)
		compare(t, got, want)
	})
	t.Run("EXTERNAL", func(t *testing.T) {
		poolAddr := startWorkerPool(ctx, t, root, boot, filepath.Base(similarity))
		got := runPipeline(ctx, t, similarity, root, out, "flink-external",
			"--runner=flink", "--endpoint="+endpoint, "--environment_type=EXTERNAL",
			"--environment_config="+poolAddr, "--worker_binary="+similarity)
		compare(t, got, want)
	})
}

// outputs are the files one run wrote.
type outputs struct {
	neighbors, deadLetter []byte
}

// runPipeline runs the pipeline binary from the module root over the
// committed fixture with extra flags, writing OUT/name.jsonl, and returns
// what it wrote.
func runPipeline(ctx context.Context, t *testing.T, bin, root, out, name string, flags ...string) outputs {
	t.Helper()
	path := filepath.Join(out, name+".jsonl")
	dead := filepath.Join(out, name+".dead_letter.jsonl")
	args := append([]string{"--input=testdata/interactions.csv", "--output=" + path, "--dead_letter=" + dead}, flags...)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = root
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("similarity %v: %v\n%s", args, err, tail(log, 4000))
	}
	var o outputs
	for dst, p := range map[*[]byte]string{&o.neighbors: path, &o.deadLetter: dead} {
		if *dst, err = os.ReadFile(p); err != nil {
			t.Fatalf("similarity %v: %v\n%s", args, err, tail(log, 4000))
		}
	}
	return o
}

func compare(t *testing.T, got, want outputs) {
	t.Helper()
	if n := bytes.Count(want.neighbors, []byte("\n")); n == 0 {
		t.Fatal("the in-process Prism run wrote no neighbour lists: nothing to compare")
	}
	if !bytes.Equal(got.neighbors, want.neighbors) {
		t.Errorf("neighbour lists differ from the in-process Prism run's (%d bytes, want %d)", len(got.neighbors), len(want.neighbors))
	}
	if !bytes.Equal(got.deadLetter, want.deadLetter) {
		t.Errorf("dead letters differ from the in-process Prism run's:\n%s\nwant\n%s", tail(got.deadLetter, 1000), tail(want.deadLetter, 1000))
	}
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
