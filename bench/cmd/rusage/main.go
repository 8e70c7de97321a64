// Command rusage runs a command and writes its wall time and wait4
// resource usage as JSON to --out: the benchmark harness starts every
// measured tool through it.
//
// The indirection keeps the peak RSS honest. Go starts a child with
// vfork semantics (CLONE_VM), and Linux carries the parent's high-water RSS
// into the child's ru_maxrss at exec, so a child of the harness, which holds
// a whole dataset, would report at least the harness's peak. This small
// process's children report their own.
//
//	rusage --out=/tmp/usage.json -- similarity --input=...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Usage is what --out receives.
type Usage struct {
	WallSec   float64 `json:"wall_sec"`
	UserSec   float64 `json:"user_sec"`
	SysSec    float64 `json:"sys_sec"`
	MaxRSSKiB int64   `json:"max_rss_kib"`
}

func main() {
	out := flag.String("out", "", "JSON file of the command's usage (required).")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: rusage --out=FILE -- COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(1)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	b, jerr := json.Marshal(Usage{WallSec: wall.Seconds(), UserSec: time.Duration(ru.Utime.Nano()).Seconds(),
		SysSec: time.Duration(ru.Stime.Nano()).Seconds(), MaxRSSKiB: ru.Maxrss})
	if jerr == nil {
		jerr = os.WriteFile(*out, b, 0o644)
	}
	if jerr != nil {
		fmt.Fprintln(os.Stderr, "rusage:", jerr)
		os.Exit(1)
	}
	if err != nil {
		os.Exit(cmd.ProcessState.ExitCode())
	}
}
