package runners

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// tinyModule writes a one-file module to a new directory and returns it.
func tinyModule(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"go.mod": "module tiny\n\ngo 1.21\n", "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// staticTiny builds a trivial program the way the pipeline ships:
// CGO_ENABLED=0 for linux/amd64.
func staticTiny(t *testing.T) string {
	t.Helper()
	dir := tinyModule(t, "package main\n\nfunc main() {}\n")
	return build(t, "tiny-static", dir, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS="}, ".")
}

// dynamicTiny builds a cgo program, linked dynamically against libc by the
// C toolchain. It skips the test where there is no C compiler or the host
// is not linux/amd64 (cgo does not cross-compile without one).
func dynamicTiny(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc on PATH: cannot build a cgo (dynamically linked) binary to compare with")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("host is %s/%s: a cgo build would not be linux/amd64", runtime.GOOS, runtime.GOARCH)
	}
	dir := tinyModule(t, "package main\n\n// int answer(void) { return 42; }\nimport \"C\"\n\nfunc main() { _ = C.answer() }\n")
	return build(t, "tiny-dynamic", dir, []string{"CGO_ENABLED=1", "CC=gcc", "GOWORK=off", "GOFLAGS="}, ".")
}

func TestStaticLinuxAMD64(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path func(*testing.T) string
		want bool
	}{
		{"CGO_ENABLED=0 build", staticTiny, true},
		{"cgo build", dynamicTiny, false},
		{"shell script", func(*testing.T) string { return notELF }, false},
		{"empty file", func(*testing.T) string { return empty }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			got, err := StaticLinuxAMD64(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("StaticLinuxAMD64(%s) = %v, want %v", path, got, tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := StaticLinuxAMD64(filepath.Join(t.TempDir(), "nope")); err == nil {
			t.Error("no error for a missing file")
		}
	})
}
