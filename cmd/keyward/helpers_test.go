package main

import (
	"testing"

	"github.com/keyward/keyward/internal/testsqlite"
)

func countKeys(tb testing.TB, path string) int {
	tb.Helper()
	var n int
	if err := testsqlite.Open(tb, path).QueryRow("SELECT count(*) FROM keys").Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}
