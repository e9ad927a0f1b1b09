package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/store/sqlite"
	"github.com/keyward/keyward/store/storetest"
)

// BenchmarkListFilters lists pages of keys with and without the filters on
// use and expiry (see storetest.BenchListFilters), on a database seeded by
// storetest.SeedHygiene, built once per size and schema version and kept in
// the temp directory. KEYWARD_BENCH_KEYS=1000000 for a million keys.
func BenchmarkListFilters(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			storetest.BenchListFilters(b, open(b, seedHygiene(b, n)))
		})
	}
}

// seedHygiene returns the path of a database of n keys seeded by
// storetest.SeedHygiene, building it if missing.
func seedHygiene(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "keyward-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("sqlite-hygiene-%d-v%d.db", n, sqlite.LatestVersion()))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".building"
	for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(f)
	}
	s, err := sqlite.Open(context.Background(), tmp, &sqlite.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	storetest.SeedHygiene(b, s, n)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}
