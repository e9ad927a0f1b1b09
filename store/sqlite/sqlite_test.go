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

// TestReaderPool checks the size of the read-only pool: DefaultReaders by
// default, so that cache misses waiting on the disk are read many at a
// time, and Options.Readers when set.
func TestReaderPool(t *testing.T) {
	if n := sqlite.DefaultReaders(); n < 16 || n > 64 {
		t.Errorf("DefaultReaders() = %d, want 16 to 64", n)
	}
	if got, want := open(t, filepath.Join(t.TempDir(), "default.db")).ReaderPool(), sqlite.DefaultReaders(); got != want {
		t.Errorf("default reader pool = %d, want %d", got, want)
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "three.db"), &sqlite.Options{Migrate: true, Readers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.ReaderPool(); got != 3 {
		t.Errorf("reader pool with Options.Readers 3 = %d, want 3", got)
	}
}

// TestWriterPragmas checks that the writer connection, and it alone, has
// the larger page cache and the longer checkpoint interval that the usage
// flushes were measured with, and that the file is in WAL mode.
func TestWriterPragmas(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "pragmas.db"))
	for _, c := range []struct{ name, writer, reader string }{
		{"cache_size", "-65536", "-2000"}, // KiB when negative; -2000 is SQLite's default
		{"wal_autocheckpoint", "8000", "1000"},
		{"journal_mode", "wal", "wal"},
	} {
		if got, err := s.WriterPragma(ctx, c.name); err != nil || got != c.writer {
			t.Errorf("writer: PRAGMA %s = %q, %v; want %q", c.name, got, err, c.writer)
		}
		if got, err := s.ReaderPragma(ctx, c.name); err != nil || got != c.reader {
			t.Errorf("reader: PRAGMA %s = %q, %v; want %q", c.name, got, err, c.reader)
		}
	}
}
