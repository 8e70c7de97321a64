// Package jobtest runs the pipelines' mains in their tests: flags set for
// one test, the job run as its own binary (the test binary re-executed
// with an environment variable that makes TestMain call main), counters
// read from a result, and the recommendation server built, started and
// asked.
package jobtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/runners"
)

// SetFlags sets the command line's flags for one test and restores them
// after.
func SetFlags(t testing.TB, args ...string) {
	t.Helper()
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			t.Fatalf("flag %q: want --name=value", a)
		}
		f := flag.Lookup(name)
		if f == nil {
			t.Fatalf("no flag --%s", name)
		}
		old := f.Value.String()
		if err := f.Value.Set(value); err != nil {
			t.Fatalf("--%s=%s: %v", name, value, err)
		}
		t.Cleanup(func() { f.Value.Set(old) })
	}
}

// Counter sums the counter namespace/name over a run's steps.
func Counter(res beam.PipelineResult, name string) int64 {
	var n int64
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace+"/"+c.Key.Name == name {
			n += c.Result()
		}
	}
	return n
}

// RunMain runs the test binary as the job: with env=1 in its environment,
// the package's TestMain calls main instead of the tests. It returns the
// combined output and the error of the run.
func RunMain(env string, args ...string) (string, error) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MustRunMain is RunMain failing the test when the job fails.
func MustRunMain(t testing.TB, env string, args ...string) string {
	t.Helper()
	out, err := RunMain(env, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// BuildServing builds the server's binary into dir.
func BuildServing(t testing.TB, dir string) string {
	t.Helper()
	return Build(t, dir, "serving")
}

// Build builds the project's command pkg (a path in the module, e.g.
// "pipelines/similarity") into dir and returns the binary's path.
func Build(t testing.TB, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, "github.com/recsys/itemsim/"+pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// StartServing starts the server on a free port with args, reloading
// every 100 ms, and returns its base URL; it is stopped when the test
// ends, and its log shown if the test failed.
func StartServing(t testing.TB, bin string, args ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var log bytes.Buffer
	cmd := exec.Command(bin, append([]string{"--addr=" + addr, "--reload_interval=100ms"}, args...)...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("serving %s log:\n%s", strings.Join(args, " "), log.String())
		}
	})
	return "http://" + addr
}

// WaitVersion polls base's /readyz until it serves version, for at most
// 30 s.
func WaitVersion(t testing.TB, base, version string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			last = err.Error()
			continue
		}
		var r struct{ Version string }
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err == nil && r.Version == version {
			return
		}
		last = fmt.Sprintf("status %d, version %q, %v", resp.StatusCode, r.Version, err)
	}
	t.Fatalf("%s does not serve version %s after 30 s: %s", base, version, last)
}

// Answer is one response of a server: its status, the version its body
// names and the body.
type Answer struct {
	Status  int
	Version string
	Body    string
}

// Ask sends one request: GET path, or POST body to path.
func Ask(client *http.Client, base, path, body string) Answer {
	var resp *http.Response
	var err error
	if body == "" {
		resp, err = client.Get(base + path)
	} else {
		resp, err = client.Post(base+path, "application/json", strings.NewReader(body))
	}
	if err != nil {
		return Answer{Status: -1, Body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v struct{ Version string }
	json.Unmarshal(b, &v)
	return Answer{Status: resp.StatusCode, Version: v.Version, Body: string(b)}
}

// RunJob sets the flags args for one test, validates them with the job's
// config and runs the job in this process with run.
func RunJob[C any](t testing.TB, config func() (C, error), run func(context.Context, C) (beam.PipelineResult, error), args ...string) (beam.PipelineResult, error) {
	t.Helper()
	SetFlags(t, args...)
	c, err := config()
	if err != nil {
		return nil, err
	}
	return run(context.Background(), c)
}

// ReadJSONLParts decodes every JSON line of the parts a streaming job
// wrote at prefix (textsink.WriteParts: prefix-*.jsonl), in the parts'
// name order.
func ReadJSONLParts[T any](t testing.TB, prefix string) []T {
	t.Helper()
	parts, err := filepath.Glob(prefix + "-*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, p := range parts {
		out = append(out, ReadJSONL[T](t, p)...)
	}
	return out
}

// ReadJSONL decodes every JSON line of a job's output file into a T.
func ReadJSONL[T any](t testing.TB, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

// MainStatefulOnPrism is the TestMain of a package whose tests run
// stateful pipelines on Prism: with Prism's splits of running bundles off
// (runners.KeepKeysInOneBundle), as the streaming job runs them.
func MainStatefulOnPrism(m *testing.M) {
	flag.Parse()
	if err := runners.KeepKeysInOneBundle(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ptest.MainWithDefault(m, "prism")
}
