//go:build unix

package datastoretest

import (
	"os/exec"
	"syscall"
)

// processGroupAlive reports whether any process of cmd's group still runs.
func processGroupAlive(cmd *exec.Cmd) bool {
	return syscall.Kill(-cmd.Process.Pid, 0) == nil
}
