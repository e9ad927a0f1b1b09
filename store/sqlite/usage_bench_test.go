package sqlite_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/sqlite"
)

// BenchmarkUsageWrites writes flushes of KEYWARD_BENCH_FLUSH distinct keys
// ("1000,10000,100000" by default; a count, an owner count and a last use
// each), drawn at random from a database of KEYWARD_BENCH_KEYS keys seeded
// by storetest.SeedHygiene (a copy of it: the seeded file is left alone),
// with each way of writing in sqlite.UsageVariants (KEYWARD_BENCH_USAGE
// picks one; "store" is RecordUsage). The clock moves one second per flush,
// so a minute's count rows are inserted once and updated 59 times, as in
// keyward serve.
func BenchmarkUsageWrites(b *testing.B) {
	variants := slices.Sorted(func(yield func(string) bool) {
		for name := range sqlite.UsageVariants {
			if !yield(name) {
				return
			}
		}
	})
	if v := os.Getenv("KEYWARD_BENCH_USAGE"); v != "" {
		variants = []string{v}
	}
	for _, n := range benchSizes(b) {
		for _, variant := range variants {
			write := sqlite.UsageVariants[variant]
			if write == nil {
				b.Fatalf("KEYWARD_BENCH_USAGE: no variant %q", variant)
			}
			b.Run(fmt.Sprintf("keys=%d/%s", n, variant), func(b *testing.B) {
				s := open(b, copyDB(b, seedHygiene(b, n)))
				ids := keyIDs(b, s)
				for _, per := range flushSizes(b) {
					if per > len(ids) {
						continue
					}
					b.Run(fmt.Sprintf("flush=%d", per), func(b *testing.B) {
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
			})
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

// copyDB copies the database at path into a temporary directory.
func copyDB(b *testing.B, path string) string {
	b.Helper()
	dst := filepath.Join(b.TempDir(), filepath.Base(path))
	in, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return dst
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
