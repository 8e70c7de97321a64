//go:build !unix

package main

import "io/fs"

// inode is 0 where the platform has no inode numbers: stamps are then the
// modification time and size alone.
func inode(fs.FileInfo) uint64 { return 0 }
