// Command coldstart times opening a database and running the first query
// (what every CLI invocation pays) and checks FTS5 trigram support.
package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"
	_ "modernc.org/sqlite"
)

func main() {
	name := os.Args[1]
	path := filepath.Join(os.TempDir(), "coldstart-"+name+".db")
	os.Remove(path)
	start := time.Now()
	db, err := sql.Open(name, "file:"+path)
	if err != nil {
		panic(err)
	}
	var v string
	if err := db.QueryRow("select sqlite_version()").Scan(&v); err != nil {
		panic(err)
	}
	first := time.Since(start)
	_, err = db.Exec("create virtual table t using fts5(name, tokenize='trigram case_sensitive 0')")
	fmt.Printf("%s sqlite %s first query after %v; fts5 trigram: %v\n", name, v, first.Round(100*time.Microsecond), err)
}
