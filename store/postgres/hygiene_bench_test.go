package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/storetest"
)

// BenchmarkListFilters lists pages of keys with and without the filters on
// use and expiry (see storetest.BenchListFilters) on keys seeded by
// storetest.SeedHygiene, then vacuumed and analyzed. KEYWARD_BENCH_KEYS
// sets the numbers of keys (1000 by default; "1000000" for a million).
// Seeding a million keys takes minutes: with KEYWARD_BENCH_KEEP=1 the seeded schema
// (bench_hygiene_<keys>_v<schema version>) stays on the server and later
// runs use it; drop it by hand when done.
func BenchmarkListFilters(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			storetest.BenchListFilters(b, seedHygiene(b, n))
		})
	}
}

// benchSizes returns the numbers of keys of KEYWARD_BENCH_KEYS.
func benchSizes(b *testing.B) []int {
	spec := os.Getenv("KEYWARD_BENCH_KEYS")
	if spec == "" {
		spec = "1000"
	}
	var out []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 200 {
			b.Fatalf("KEYWARD_BENCH_KEYS: %q is not a number of keys >= 200", f)
		}
		out = append(out, n)
	}
	return out
}

// seedHygiene returns a store of n keys seeded by storetest.SeedHygiene, on
// a fresh schema or, with KEYWARD_BENCH_KEEP=1, on the kept one.
func seedHygiene(b *testing.B, n int) *postgres.Store {
	b.Helper()
	ctx := context.Background()
	if os.Getenv("KEYWARD_BENCH_KEEP") != "1" {
		u, _ := freshSchema(b)
		s := open(b, u, &postgres.Options{Migrate: true})
		storetest.SeedHygiene(b, s, n)
		analyze(b, u)
		return s
	}
	raw := serverURL(b)
	probe := open(b, raw, nil)
	schema := fmt.Sprintf("bench_hygiene_%d_v%d", n, probe.LatestVersion())
	c := connect(b, raw)
	var exists bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		b.Fatal(err)
	}
	u := withParam(b, raw, "search_path", schema+",public")
	if exists {
		return open(b, u, &postgres.Options{Migrate: true})
	}
	if _, err := c.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		b.Fatal(err)
	}
	s := open(b, u, &postgres.Options{Migrate: true})
	storetest.SeedHygiene(b, s, n)
	analyze(b, u)
	return s
}

// analyze updates the planner's statistics and the visibility map, as
// autovacuum does after a bulk load.
func analyze(b *testing.B, u string) {
	b.Helper()
	if _, err := connect(b, u).Exec(context.Background(), `VACUUM ANALYZE keys`); err != nil {
		b.Fatal(err)
	}
}
