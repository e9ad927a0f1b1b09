//go:build !unix

package sqlite

// writable cannot tell ahead of time on this platform; SQLite's own error
// will name the problem.
func writable(string) bool { return true }
