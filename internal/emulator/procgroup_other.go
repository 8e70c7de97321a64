//go:build !unix

package emulator

import "os/exec"

// setProcessGroup does nothing where process groups are not available.
func setProcessGroup(*exec.Cmd) {}

// killProcessGroup kills the launcher only: its java child may survive.
func killProcessGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// groupAlive cannot see the launcher's children here.
func groupAlive(*exec.Cmd) bool { return false }
