// Package sqlitedrivers compares the two pure-Go SQLite drivers on the
// operations keyward's store depends on: a point lookup by primary key (the
// cache-miss path of Verify) and a single-row insert (Create). It is its own
// module so that the driver not chosen never enters keyward's go.mod.
//
//	cd bench/sqlitedrivers && go test -bench . -benchmem -count 5
package sqlitedrivers

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"
	_ "modernc.org/sqlite"
)

type driver struct{ name string }

var drivers = []driver{{"sqlite"}, {"sqlite3"}}

func dsn(dir string) string {
	return "file:" + filepath.Join(dir, "bench.db") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
}

func label(name string) string {
	if name == "sqlite" {
		return "modernc"
	}
	return "ncruces"
}

const schema = `CREATE TABLE keys (id TEXT PRIMARY KEY, prefix TEXT NOT NULL, name TEXT NOT NULL,
	owner TEXT NOT NULL, scopes TEXT NOT NULL, metadata TEXT NOT NULL, enabled INTEGER NOT NULL,
	created_at INTEGER NOT NULL, expires_at INTEGER, hash TEXT NOT NULL) WITHOUT ROWID`

func open(b *testing.B, d driver, rows int) *sql.DB {
	b.Helper()
	db, err := sql.Open(d.name, dsn(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		b.Fatal(err)
	}
	tx, _ := db.Begin()
	st, _ := tx.Prepare(`INSERT INTO keys VALUES (?, 'kw', ?, 'team', '["read"]', '{}', 1, 1700000000000, NULL, '$hmac-sha256$p=x$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG')`)
	for i := range rows {
		if _, err := st.Exec(fmt.Sprintf("id%014d", i), fmt.Sprintf("key %d", i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return db
}

func BenchmarkPointSelect(b *testing.B) {
	for _, d := range drivers {
		b.Run(label(d.name), func(b *testing.B) {
			db := open(b, d, 10000)
			st, err := db.Prepare(`SELECT id, prefix, name, owner, scopes, metadata, enabled, created_at, expires_at, hash FROM keys WHERE id = ?`)
			if err != nil {
				b.Fatal(err)
			}
			var id, prefix, name, owner, scopes, meta, hash string
			var enabled bool
			var created int64
			var expires sql.NullInt64
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i = (i + 7919) % 10000
				if err := st.QueryRow(fmt.Sprintf("id%014d", i)).Scan(&id, &prefix, &name, &owner, &scopes, &meta, &enabled, &created, &expires, &hash); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkInsert(b *testing.B) {
	for _, d := range drivers {
		b.Run(label(d.name), func(b *testing.B) {
			db := open(b, d, 0)
			st, err := db.Prepare(`INSERT INTO keys VALUES (?, 'kw', 'name', 'team', '["read"]', '{}', 1, 1700000000000, NULL, '$hmac-sha256$p=x$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG')`)
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				if _, err := st.Exec(fmt.Sprintf("new%013d", i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
