//go:build !race

package webhook_test

// raceEnabled reports whether the race detector is on (see race_test.go).
const raceEnabled = false
