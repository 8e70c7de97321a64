package runners

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// binDir holds the binaries the tests build, once per test run.
var binDir string

// helpers are other mains of the test binary, for the child processes
// tests start: the test binary runs helpers[NAME] instead of the tests when
// the environment variable NAME is set.
var helpers = map[string]func() int{}

func TestMain(m *testing.M) {
	for env, helper := range helpers {
		if os.Getenv(env) != "" {
			os.Exit(helper())
		}
	}
	dir, err := os.MkdirTemp("", "runners-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// builds memoizes build: each binary is built once, whichever test asks
// first, and a failed build fails every test that needs it.
var (
	buildsMu sync.Mutex
	builds   = map[string]*built{}
)

type built struct {
	once sync.Once
	path string
	err  error
}

// build runs `go build -o BINDIR/name args...` in dir with extra
// environment variables env (e.g. CGO_ENABLED=0) and returns the binary's
// path. It skips the test when go is not on PATH.
func build(t *testing.T, name, dir string, env []string, args ...string) string {
	t.Helper()
	goTool := requireGo(t)
	buildsMu.Lock()
	b := builds[name]
	if b == nil {
		b = &built{path: filepath.Join(binDir, name)}
		builds[name] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		// A cold module and build cache on 2 cores takes minutes; a warm
		// one only links.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool, append([]string{"build", "-o", b.path}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%v (env %v): %v\n%s", cmd.Args, env, err, out)
		}
		t.Logf("built %s in %s", name, time.Since(start).Round(time.Millisecond))
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// requireGo returns the go command's path, or skips the test when there
// is none: building binaries is what these tests are about.
func requireGo(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build the binaries under test")
	}
	return p
}

// repoRoot is the module root, the directory above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// tail returns the last n bytes of b, for error messages.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return append([]byte("..."), b[len(b)-n:]...)
	}
	return bytes.Clone(b)
}
