package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/storetest"
)

// BenchmarkUsageWrites writes flushes of KEYWARD_BENCH_FLUSH distinct keys
// ("1000,10000,100000" by default; a count, an owner count and a last use
// each), drawn at random from KEYWARD_BENCH_KEYS keys seeded by
// storetest.SeedHygiene, with each way of writing in postgres.UsageVariants
// (KEYWARD_BENCH_USAGE picks one; "store" is RecordUsage). The clock moves
// one second per flush, so a minute's count rows are inserted once and
// updated 59 times, as in keyward serve.
// With KEYWARD_BENCH_KEEP=1 the seeded schema (bench_usage_<keys>_v<schema
// version>) stays on the server for later runs; the writes accumulate in it.
func BenchmarkUsageWrites(b *testing.B) {
	variants := slices.Sorted(func(yield func(string) bool) {
		for name := range postgres.UsageVariants {
			if !yield(name) {
				return
			}
		}
	})
	if v := os.Getenv("KEYWARD_BENCH_USAGE"); v != "" {
		variants = []string{v}
	}
	for _, n := range benchSizes(b) {
		s := seedSchema(b, "bench_usage", n)
		ids := keyIDs(b, s)
		for _, variant := range variants {
			write := postgres.UsageVariants[variant]
			if write == nil {
				b.Fatalf("KEYWARD_BENCH_USAGE: no variant %q", variant)
			}
			for _, per := range flushSizes(b) {
				if per > len(ids) {
					continue
				}
				b.Run(fmt.Sprintf("keys=%d/%s/flush=%d", n, variant, per), func(b *testing.B) {
					ctx := context.Background()
					r := rand.New(rand.NewPCG(5, 6))
					at := time.Now().UTC().Truncate(time.Minute)
					for b.Loop() {
						b.StopTimer()
						batch := usageBatch(r, ids, per, at)
						at = at.Add(time.Second)
						b.StartTimer()
						if err := write(s, ctx, batch); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(per), "ns/key")
				})
			}
		}
	}
}

// usageBatch is one flush of per distinct keys of ids, at at.
func usageBatch(r *rand.Rand, ids []string, per int, at time.Time) keyward.UsageBatch {
	batch := keyward.UsageBatch{LastUsed: make(map[string]time.Time, per)}
	minute := at.Truncate(time.Minute)
	for len(batch.LastUsed) < per {
		i := r.IntN(len(ids))
		if _, dup := batch.LastUsed[ids[i]]; dup {
			continue
		}
		batch.LastUsed[ids[i]] = at
		batch.Counts = append(batch.Counts, keyward.UsageCount{KeyID: ids[i], Owner: fmt.Sprintf("team-%d", i%50), Start: minute, Outcome: keyward.OutcomeValid, Count: 1 + int64(r.IntN(3))})
	}
	return batch
}

func keyIDs(b *testing.B, s keyward.Store) []string {
	var ids []string
	if err := s.KeyIDs(context.Background(), func(id string) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return ids
}

// seedSchema is seedHygiene in a schema named after prefix.
func seedSchema(b *testing.B, prefix string, n int) *postgres.Store {
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
	schema := fmt.Sprintf("%s_%d_v%d", prefix, n, probe.LatestVersion())
	c := connect(b, raw)
	trgmInPublic(b, c)
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

// flushSizes returns the numbers of distinct keys per flush of
// KEYWARD_BENCH_FLUSH ("1000,10000,100000" by default).
func flushSizes(b *testing.B) []int {
	spec := os.Getenv("KEYWARD_BENCH_FLUSH")
	if spec == "" {
		spec = "1000,10000,100000"
	}
	var out []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("KEYWARD_BENCH_FLUSH: %q is not a positive number of keys", f)
		}
		out = append(out, n)
	}
	return out
}
