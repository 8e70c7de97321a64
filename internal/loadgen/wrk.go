package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WrkConfig is one run of wrk (https://github.com/wg/wrk, Debian package
// wrk), the C load generator: it costs far less CPU per request than Go's
// net/http client, which matters when client and server share the cores.
type WrkConfig struct {
	// Binary is the wrk executable; "" looks up wrk on PATH.
	Binary string
	// Script is the Lua script that rotates over the paths file and prints
	// a WRK_RESULT line (serving/loadtest/rotate.lua).
	Script string
	// Base is the server's URL, e.g. http://127.0.0.1:8080.
	Base string
	// Paths are requested round-robin, each wrk thread from its own offset.
	Paths []string
	// Threads (wrk -t) each run an event loop over Connections/Threads of
	// the connections (wrk -c), each with one request in flight.
	Threads, Connections int
	// Warmup is run first and discarded; Duration is measured. wrk takes
	// whole seconds, so both are rounded up to a second.
	Warmup, Duration time.Duration
}

// WrkPath returns the wrk executable on PATH, or "" if there is none.
func WrkPath() string {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return ""
	}
	return p
}

// wrkSummary is the JSON rotate.lua's done() prints after "WRK_RESULT ".
type wrkSummary struct {
	Requests      int64   `json:"requests"`
	DurationUS    int64   `json:"duration_us"`
	Bytes         int64   `json:"bytes"`
	ConnectErrors int64   `json:"connect_errors"`
	ReadErrors    int64   `json:"read_errors"`
	WriteErrors   int64   `json:"write_errors"`
	StatusErrors  int64   `json:"status_errors"`
	Timeouts      int64   `json:"timeouts"`
	P50           int64   `json:"p50_us"`
	P90           int64   `json:"p90_us"`
	P99           int64   `json:"p99_us"`
	P999          int64   `json:"p999_us"`
	Max           int64   `json:"max_us"`
	Mean          float64 `json:"mean_us"`
}

// RunWrk runs wrk as configured and returns its measured run in the same
// terms as Run. wrk records latency at microsecond resolution. A response
// with a status of 400 or more counts as an error, not a request.
func RunWrk(ctx context.Context, c WrkConfig) (Result, error) {
	if len(c.Paths) == 0 || c.Threads < 1 || c.Connections < c.Threads || c.Duration <= 0 || c.Script == "" {
		return Result{}, fmt.Errorf("loadgen: wrk needs paths, a script, threads >= 1, connections >= threads and a duration > 0")
	}
	bin := c.Binary
	if bin == "" {
		if bin = WrkPath(); bin == "" {
			return Result{}, fmt.Errorf("loadgen: wrk is not installed (apt-get install wrk)")
		}
	}
	dir, err := os.MkdirTemp("", "wrk-paths-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "paths.txt")
	if err := os.WriteFile(file, []byte(strings.Join(c.Paths, "\n")+"\n"), 0o644); err != nil {
		return Result{}, err
	}
	if c.Warmup > 0 {
		if _, _, err := wrkOnce(ctx, bin, c, file, c.Warmup); err != nil {
			return Result{}, fmt.Errorf("warmup: %w", err)
		}
	}
	s, cpu, err := wrkOnce(ctx, bin, c, file, c.Duration)
	if err != nil {
		return Result{}, err
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	r := Result{
		Requests: s.Requests - s.StatusErrors,
		Errors:   s.ConnectErrors + s.ReadErrors + s.WriteErrors + s.StatusErrors + s.Timeouts,
		Elapsed:  us(s.DurationUS),
		P50:      us(s.P50), P90: us(s.P90), P99: us(s.P99), P999: us(s.P999), Max: us(s.Max),
		ClientCPU: cpu,
	}
	if r.Elapsed > 0 {
		r.Throughput = float64(r.Requests) / r.Elapsed.Seconds()
	}
	if r.Errors > 0 {
		r.FirstError = fmt.Sprintf("wrk: connect %d, read %d, write %d, status>=400 %d, timeout %d",
			s.ConnectErrors, s.ReadErrors, s.WriteErrors, s.StatusErrors, s.Timeouts)
	}
	return r, nil
}

// WrkArgs are the arguments RunWrk passes wrk for one run of d, printed
// so a run can be repeated by hand.
func WrkArgs(c WrkConfig, pathsFile string, d time.Duration) []string {
	secs := max(1, int((d+time.Second-1)/time.Second))
	return []string{"-t" + strconv.Itoa(c.Threads), "-c" + strconv.Itoa(c.Connections),
		"-d" + strconv.Itoa(secs) + "s", "--timeout", "5s", "--latency", "-s", c.Script, c.Base, "--", pathsFile}
}

// wrkOnce runs wrk once and returns its summary and the CPU time it used.
func wrkOnce(ctx context.Context, bin string, c WrkConfig, file string, d time.Duration) (wrkSummary, time.Duration, error) {
	cmd := exec.CommandContext(ctx, bin, WrkArgs(c, file, d)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return wrkSummary{}, 0, fmt.Errorf("wrk: %v: %s%s", err, errb.String(), out.String())
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	s, err := parseWrk(out.String())
	return s, cpu, err
}

// parseWrk finds the WRK_RESULT line in wrk's output.
func parseWrk(out string) (wrkSummary, error) {
	for line := range strings.Lines(out) {
		rest, ok := strings.CutPrefix(line, "WRK_RESULT ")
		if !ok {
			continue
		}
		var s wrkSummary
		if err := json.Unmarshal([]byte(rest), &s); err != nil {
			return wrkSummary{}, fmt.Errorf("wrk: malformed result %q: %v", rest, err)
		}
		return s, nil
	}
	return wrkSummary{}, fmt.Errorf("wrk: no WRK_RESULT line (is the script rotate.lua?) in:\n%s", out)
}
