//go:build race

package keyhash_test

const raceEnabled = true
