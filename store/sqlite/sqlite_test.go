package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

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
