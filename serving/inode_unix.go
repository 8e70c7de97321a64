//go:build unix

package main

import (
	"io/fs"
	"syscall"
)

// inode is the file's inode number: each publication renames a new file
// into place, so it changes even when the modification time (kept at the
// kernel's tick, a few milliseconds) and the size do not.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
