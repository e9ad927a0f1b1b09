// Package testsqlite lets tests reach a SQLite file behind keyward's back:
// to plant a state the store would refuse to write (a newer schema version,
// a corrupt row) or to check what was written.
package testsqlite

import (
	"database/sql"
	"testing"

	_ "modernc.org/sqlite" // the driver keyward's store uses
)

// Open opens the SQLite file at path with plain database/sql; it is closed
// when the test ends.
func Open(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Exec runs query on the SQLite file at path, without going through the
// store, and closes the file again.
func Exec(tb testing.TB, path, query string) {
	tb.Helper()
	db := Open(tb, path)
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		tb.Fatal(err)
	}
}
