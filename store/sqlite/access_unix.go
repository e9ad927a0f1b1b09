//go:build unix

package sqlite

import "syscall"

// writable reports whether this process may write to path. Unlike a
// permission check it also sees read-only file systems, even as root.
func writable(path string) bool {
	const wOK = 2
	return syscall.Access(path, wOK) == nil
}
