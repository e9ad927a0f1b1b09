//go:build race

package webhook_test

// raceEnabled reports whether the race detector is on: it makes the SQLite
// driver (C translated to Go) ten times slower, so timing figures mean
// nothing then.
const raceEnabled = true
