package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/sqlite"
)

// benchSizes are the numbers of keys the benchmarks run with:
// KEYWARD_BENCH_KEYS="1000,1000000" for the scale comparison; 1000 by default.
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

// seeded is a database of n keys, built once and kept in the temp directory
// (building a million keys takes a while), with a sample to query.
type seeded struct {
	Path    string
	Secrets []string // full keys of a sample spread over the table
	IDs     []string
	Cursor  string // a list cursor at the middle of the table
}

func seed(b *testing.B, n int) seeded {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "keyward-bench")
	os.MkdirAll(dir, 0o755)
	base := filepath.Join(dir, fmt.Sprintf("sqlite-%d-v%d", n, sqlite.LatestVersion()))
	var sd seeded
	if raw, err := os.ReadFile(base + ".json"); err == nil && json.Unmarshal(raw, &sd) == nil {
		if _, err := os.Stat(sd.Path); err == nil {
			return sd
		}
	}
	os.Remove(base + ".db")
	sd.Path = base + ".db"
	s, err := sqlite.Open(context.Background(), sd.Path, &sqlite.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	svc := service(b, s)
	ctx := context.Background()
	start := time.Now()
	every := n / 100
	for i := range n {
		iss, err := svc.Create(ctx, keyward.CreateParams{Name: fmt.Sprintf("key %d of team %d", i, i%50), Owner: fmt.Sprintf("team-%d", i%50)})
		if err != nil {
			b.Fatal(err)
		}
		if i%every == 0 {
			sd.Secrets = append(sd.Secrets, iss.Secret)
			sd.IDs = append(sd.IDs, iss.Key.ID)
		}
	}
	// Walk to the middle of the table, a page at a time.
	for seen := 0; seen < n/2; {
		page, err := svc.List(ctx, keyward.ListParams{Limit: min(1000, n/2-seen), Cursor: sd.Cursor})
		if err != nil {
			b.Fatal(err)
		}
		seen += len(page.Items)
		sd.Cursor = page.NextCursor
	}
	svc.Close(ctx)
	s.Close()
	raw, _ := json.Marshal(sd)
	os.WriteFile(base+".json", raw, 0o644)
	b.Logf("seeded %d keys in %v", n, time.Since(start).Round(time.Second))
	return sd
}

// BenchmarkGet is a store lookup by id: the cache-miss path of Verify.
func BenchmarkGet(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			sd := seed(b, n)
			s := open(b, sd.Path)
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Get(ctx, sd.IDs[i%len(sd.IDs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkVerifyCacheMiss is Service.Verify straight on the store: lookup
// plus HMAC, no cache in front.
func BenchmarkVerifyCacheMiss(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			sd := seed(b, n)
			svc := service(b, open(b, sd.Path))
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: sd.Secrets[i%len(sd.Secrets)]}); err != nil || !r.Valid() {
					b.Fatal(r.Outcome, err)
				}
				i++
			}
		})
	}
}

// BenchmarkListPage lists 100 keys: the first page, and a page in the
// middle of the table by cursor.
func BenchmarkListPage(b *testing.B) {
	for _, n := range benchSizes(b) {
		sd := seed(b, n)
		for _, at := range []struct{ name, cursor string }{{"first", ""}, {"middle", sd.Cursor}} {
			b.Run(fmt.Sprintf("keys=%d/%s", n, at.name), func(b *testing.B) {
				svc := service(b, open(b, sd.Path))
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					page, err := svc.List(ctx, keyward.ListParams{Limit: 100, Cursor: at.cursor})
					if err != nil || len(page.Items) != 100 {
						b.Fatal(len(page.Items), err)
					}
				}
			})
		}
	}
}

// BenchmarkCreate issues keys one transaction each.
func BenchmarkCreate(b *testing.B) {
	svc := service(b, open(b, filepath.Join(b.TempDir(), "k.db")))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Create(ctx, keyward.CreateParams{Name: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpendCredits is the one conditional UPDATE of a credit spend.
func BenchmarkSpendCredits(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "k.db"))
	iss, err := service(b, s).Create(context.Background(), keyward.CreateParams{Name: "bench", Remaining: keyward.Ptr[int64](1 << 62)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if bal, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: iss.Key.ID, Cost: 1, Now: now}); err != nil || !bal.Spent {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordUsage writes one flush's worth of usage: a count and a
// last-used time for each of 2,000 keys (reported per key).
func BenchmarkRecordUsage(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "usage.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	svc := service(b, s)
	defer svc.Close(context.Background())
	ctx := context.Background()
	const keys = 2000
	batch := keyward.UsageBatch{LastUsed: map[string]time.Time{}}
	minute := time.Now().UTC().Truncate(time.Minute)
	for i := range keys {
		iss, err := svc.Create(ctx, keyward.CreateParams{Name: fmt.Sprintf("key %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		batch.Counts = append(batch.Counts, keyward.UsageCount{KeyID: iss.Key.ID, Start: minute, Outcome: keyward.OutcomeValid, Count: 3})
		batch.LastUsed[iss.Key.ID] = minute
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for id := range batch.LastUsed {
			batch.LastUsed[id] = minute.Add(time.Duration(i) * time.Millisecond)
		}
		if err := s.RecordUsage(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/keys, "ns/key")
}
