package main

import (
	"database/sql"
	"testing"

	_ "modernc.org/sqlite"
)

// rawExec runs SQL on a SQLite file behind keyward's back.
func rawExec(tb testing.TB, path, query string) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		tb.Fatal(err)
	}
}

func countKeys(tb testing.TB, path string) int {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM keys").Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}
