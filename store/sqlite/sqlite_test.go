package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/sqlite"
	"github.com/keyward/keyward/store/storetest"
)

func open(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, &sqlite.Options{Migrate: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// openRaw opens a store in a new file, with a plain connection to the same
// file beside it for reading its tables directly.
func openRaw(t *testing.T) (path string, s *sqlite.Store, raw *sql.DB) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "keyward.db")
	return path, open(t, path), rawDB(t, path)
}

// rawDB is a plain connection to the database file at path, closed at the
// end of the test.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(60000)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// createPlain creates a key with that id in s, made at the Unix epoch.
func createPlain(tb testing.TB, s *sqlite.Store, id string) *keyward.Key {
	tb.Helper()
	k := &keyward.Key{ID: id, Prefix: "kw", Name: "k", Hash: "h", Enabled: true, CreatedAt: time.Unix(0, 0).UTC(), UpdatedAt: time.Unix(0, 0).UTC()}
	if err := s.Create(context.Background(), k, nil); err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store {
		return open(t, filepath.Join(t.TempDir(), "keyward.db"))
	})
}

func TestSharedConformance(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (keyward.Store, keyward.Store) {
		path := filepath.Join(t.TempDir(), "keyward.db")
		return open(t, path), open(t, path)
	})
}
