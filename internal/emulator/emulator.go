// Package emulator runs the Google Cloud CLI's emulators (Datastore,
// Pub/Sub) for tests: each from its own launcher under the SDK's platform/
// directory (not `gcloud beta emulators ... start`, whose java child
// outlives a killed gcloud), on a free loopback port, in a process group of
// its own, ready once `GET /` answers "Ok", and stopped with every process
// it started when the test ends.
package emulator

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Timings: Java starts in about 2 s on an idle machine, more on a loaded one.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = 30 * time.Second
)

// Spec says how to find, start and stop one emulator.
type Spec struct {
	// Name is the emulator's name in messages, e.g. "Cloud Datastore".
	Name string
	// Component is its directory under the SDK's platform/, Jar a file
	// under it that shows it is installed, Launcher its start script.
	Component, Jar, Launcher string
	// Package is the Debian package that installs the component, for the
	// message when it is missing.
	Package string
	// Args are the launcher's arguments to serve on host:port.
	Args func(host string, port int) []string
	// Shutdown asks the emulator to exit (nil: kill the launcher, which
	// execs java). Stop kills the process group if it does not.
	Shutdown func(*Process) error
	// RequiredEnv names the environment variable that, when "1", turns a
	// missing emulator into a test failure instead of a skip: CI sets it
	// once it has checked that the emulator is installed, so the tests
	// cannot silently stop running against it.
	RequiredEnv string
}

// Process is a running emulator.
type Process struct {
	// Host is the emulator's host:port, for its *_EMULATOR_HOST variable.
	Host string

	spec   Spec
	cmd    *exec.Cmd
	dir    string        // the emulator's working directory
	exited chan struct{} // closed when cmd has been waited for
	log    *lockedBuffer
}

// Start starts the emulator and stops it when t and its subtests end.
// Startup takes seconds: start one per package run and share it. It skips t
// when the component or java is missing, unless the spec's RequiredEnv is
// "1", and fails t when the emulator does not come up, with its log.
func Start(t testing.TB, s Spec) *Process {
	t.Helper()
	launcher, err := s.Find()
	if err != nil {
		if os.Getenv(s.RequiredEnv) == "1" {
			t.Fatalf("%v (%s=1)", err, s.RequiredEnv)
		}
		t.Skipf("%v: skipping the tests against the real %s emulator", err, s.Name)
	}
	p, err := launch(s, launcher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// Launch starts the emulator outside a test (a benchmark): the caller
// stops it (Stop). It fails when the component or java is missing.
func Launch(s Spec) (*Process, error) {
	launcher, err := s.Find()
	if err != nil {
		return nil, err
	}
	return launch(s, launcher)
}

// Find returns the path of the emulator's launcher in the Google Cloud
// SDK: the SDK is the one holding gcloud's real path, else the one `gcloud
// info` names (seconds), else one of the usual install paths. It fails when
// the launcher, its jar or java is missing.
func (s Spec) Find() (string, error) {
	gcloud, _ := exec.LookPath("gcloud")
	// Candidate SDK roots, cheapest first; each is computed only if needed.
	roots := []func() string{
		func() string {
			if gcloud == "" {
				return ""
			}
			real, err := filepath.EvalSymlinks(gcloud)
			if err != nil {
				return ""
			}
			return filepath.Dir(filepath.Dir(real)) // SDK/bin/gcloud
		},
		func() string {
			if gcloud == "" {
				return ""
			}
			out, err := exec.Command(gcloud, "info", "--format=value(installation.sdk_root)").Output()
			if err != nil {
				return ""
			}
			return strings.TrimSpace(string(out))
		},
		func() string { return "/usr/lib/google-cloud-sdk" },
		func() string { return "/usr/share/google-cloud-sdk" },
		func() string {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			return filepath.Join(home, "google-cloud-sdk")
		},
	}
	launcher := ""
	var tried []string
	for _, root := range roots {
		r := root()
		if r == "" {
			continue
		}
		dir := filepath.Join(r, "platform", s.Component)
		if _, err := os.Stat(filepath.Join(dir, s.Jar)); err == nil {
			launcher = filepath.Join(dir, s.Launcher)
			break
		}
		tried = append(tried, r)
	}
	if launcher == "" {
		return "", fmt.Errorf("emulator: no %s emulator (gcloud component %s, Debian package %s) in %s", s.Name, s.Component, s.Package, strings.Join(tried, ", "))
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "", fmt.Errorf("emulator: the %s emulator needs java (Java 11 or later) on PATH", s.Name)
	}
	return launcher, nil
}

// launch runs launcher on a free port and waits until it answers.
func launch(s Spec, launcher string) (*Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// The Datastore emulator writes index files under its working
	// directory even when told to keep everything in memory: give each a
	// scratch one.
	dir, err := os.MkdirTemp("", "emulator-")
	if err != nil {
		return nil, err
	}
	p := &Process{Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), spec: s, dir: dir, exited: make(chan struct{}), log: &lockedBuffer{}}
	p.cmd = exec.Command(launcher, s.Args("127.0.0.1", port)...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// A launcher script's java child can outlive a killed script; its own
	// process group lets Stop kill both as a last resort.
	setProcessGroup(p.cmd)
	if err := p.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("emulator: starting %s: %w", launcher, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("emulator: %s on %s: %w\nemulator log:\n%s", s.Name, p.Host, err, p.log.String())
	}
	return p, nil
}

// waitReady polls the root endpoint until it answers "Ok".
func (p *Process) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		body, err := p.Call(http.MethodGet, "/")
		if err == nil && body == "Ok" {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited before answering: %v", p.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v (last answer %q, %v)", startTimeout, body, err)
		}
	}
}

// Call sends a body-less request to the emulator's HTTP API and returns the
// answer's body.
func (p *Process) Call(method, path string) (string, error) {
	req, err := http.NewRequest(method, "http://"+p.Host+path, nil)
	if err != nil {
		return "", err
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return strings.TrimSpace(string(body)), err
}

// Log returns what the emulator printed so far.
func (p *Process) Log() string { return p.log.String() }

// Stop asks the emulator to exit (Spec.Shutdown, else a kill of the
// launcher) and waits for its processes to exit, killing its process group
// if they do not.
func (p *Process) Stop() error {
	defer os.RemoveAll(p.dir)
	var askErr error
	if p.spec.Shutdown != nil {
		askErr = p.spec.Shutdown(p)
	} else {
		askErr = p.cmd.Process.Kill()
	}
	select {
	case <-p.exited:
		if p.spec.Shutdown == nil {
			// The launcher execs java, but make sure nothing it started stays.
			killProcessGroup(p.cmd)
		}
		return nil
	case <-time.After(stopTimeout):
	}
	killProcessGroup(p.cmd)
	<-p.exited
	return fmt.Errorf("emulator: %s on %s did not exit within %v of its stop (%v); killed its process group", p.spec.Name, p.Host, stopTimeout, askErr)
}

// Exited reports whether the launcher has exited and no process of its
// group (java) still runs: what Stop must leave.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
	default:
		return false
	}
	return !groupAlive(p.cmd)
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before the emulator binds it; the emulator then fails to start
// and says so in its log.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer is an io.Writer safe for the two output pipes of a process.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
