package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is what one subprocess cost.
type Proc struct {
	WallSec   float64 `json:"wall_sec"`
	CPUSec    float64 `json:"cpu_sec"` // user + system
	MaxRSSMiB float64 `json:"max_rss_mib"`
	// OthersCPUSec is the CPU time the rest of the machine used while the
	// command ran (/proc/stat's busy time minus the command's): well above
	// 0, other work competed with it and its wall time is inflated.
	OthersCPUSec float64 `json:"others_cpu_sec"`
	// Load is the 1-minute load average when the command started (the
	// machine is shared: a high load means a contended run).
	Load float64 `json:"load_average"`
	// Reported is the wall time the tool printed itself (without process
	// start-up, and for the scipy peer without interpreter start-up).
	Reported string `json:"reported_wall,omitempty"`
}

// run runs a command through the rusage launcher (see bench/cmd/rusage
// for why) in the module root and measures it. It returns the command's
// standard output.
func (h *harness) run(name string, args ...string) (Proc, string, error) {
	return h.runEnv(nil, name, args...)
}

// runEnv is run with the environment env (nil: the harness's).
func (h *harness) runEnv(env []string, name string, args ...string) (Proc, string, error) {
	usage := filepath.Join(h.work, "usage.json")
	cmd := exec.Command(h.bin("rusage"), append([]string{"--out=" + usage, "--", name}, args...)...)
	cmd.Dir, cmd.Env = h.root, env
	load := loadAverage()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	busy := busyCPU()
	if err := cmd.Run(); err != nil {
		tail := stderr.String()
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		return Proc{}, "", fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail)
	}
	others := busyCPU() - busy
	b, err := os.ReadFile(usage)
	if err != nil {
		return Proc{}, "", err
	}
	var u struct { // bench/cmd/rusage's Usage
		WallSec   float64 `json:"wall_sec"`
		UserSec   float64 `json:"user_sec"`
		SysSec    float64 `json:"sys_sec"`
		MaxRSSKiB int64   `json:"max_rss_kib"`
	}
	if err := json.Unmarshal(b, &u); err != nil {
		return Proc{}, "", fmt.Errorf("%s: %v", usage, err)
	}
	p := Proc{WallSec: u.WallSec, CPUSec: u.UserSec + u.SysSec, MaxRSSMiB: float64(u.MaxRSSKiB) / 1024, Load: load}
	p.OthersCPUSec = max(0, others-p.CPUSec)
	for _, line := range strings.Split(stdout.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "wall time: "); ok {
			p.Reported = v
		}
	}
	return p, stdout.String(), nil
}

// parseCounters reads the pipeline's "counters:" block: "  name  value"
// lines (the float scale line is skipped).
func parseCounters(stdout string) map[string]int64 {
	c := map[string]int64{}
	in := false
	for _, line := range strings.Split(stdout, "\n") {
		switch {
		case line == "counters:":
			in = true
		case in && strings.HasPrefix(line, "  "):
			f := strings.Fields(line)
			if v, err := strconv.ParseInt(f[len(f)-1], 10, 64); err == nil && len(f) == 2 {
				c[f[0]] = v
			}
		default:
			in = false
		}
	}
	return c
}

// busyCPU is the machine's busy CPU time so far in seconds: the first line
// of /proc/stat without idle and iowait, in USER_HZ (100 per second on
// Linux). It is 0 where /proc/stat is unreadable.
func busyCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy float64
	for k, v := range f[1:] {
		if k == 3 || k == 4 || k >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / 100
}

// loadAverage is the 1-minute load average (the first field of
// /proc/loadavg), or -1 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
