package sqlite_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/sqlite"
)

// BenchmarkUsageFlushReplay times keyward serve's usage flushes on a copy
// of a database with a history of use, such as bench/load's
// (KEYWARD_BENCH_REPLAY_DB=/tmp/keyward-load/keys-1000000.db after a run;
// the file is copied, not changed). Each op is the flush of one second of
// KEYWARD_BENCH_REPLAY_USES uses (20,000 by default), drawn as bench/load
// draws its valid keys: Zipf(1.1) over 100,000 of the keys, here in a seeded
// random order. A key is read before its first flush, as a cache miss reads
// it, so the store knows which key rows already hold the day's use. The
// clock moves one second a flush from the next minute on, so every 60th
// flush opens a minute and the ones after it move the minute before into
// the history (rollUpUsage). The first KEYWARD_BENCH_REPLAY_WARM flushes
// (100 by default) warm the store and are not timed.
//
//	KEYWARD_BENCH_REPLAY_DB=/tmp/keyward-load/keys-1000000.db \
//	  go test ./store/sqlite/ -run '^$' -bench UsageFlushReplay -benchtime 150x -count 2
func BenchmarkUsageFlushReplay(b *testing.B) {
	src := os.Getenv("KEYWARD_BENCH_REPLAY_DB")
	if src == "" {
		b.Skip("KEYWARD_BENCH_REPLAY_DB (a keyward SQLite database with a history of use, such as bench/load's) is unset")
	}
	uses, warm := envCount(b, "KEYWARD_BENCH_REPLAY_USES", 20_000), envCount(b, "KEYWARD_BENCH_REPLAY_WARM", 100)
	ctx := context.Background()
	s := open(b, copyDB(b, src))
	ids := keyIDs(b, s)
	r := rand.New(rand.NewPCG(7, 8))
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ids = ids[:min(len(ids), 100_000)]
	replay := &usageReplay{s: s, ids: ids, uses: uses, read: make(map[string]bool),
		zipf: rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, uint64(len(ids)-1)),
		at:   time.Now().UTC().Truncate(time.Minute).Add(time.Minute)}
	for range warm {
		replay.flush(ctx, b)
	}
	keys := 0
	for b.Loop() {
		keys += replay.flush(ctx, b)
	}
	b.ReportMetric(float64(keys)/float64(b.N), "keys/flush")
}

// envCount returns the positive number in the environment variable name, or
// def when it is unset.
func envCount(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s: %q is not a positive number", name, v)
	}
	return n
}

// usageReplay makes the flushes of BenchmarkUsageFlushReplay.
type usageReplay struct {
	s    *sqlite.Store
	ids  []string
	uses int
	zipf *rand.Zipf
	read map[string]bool // the keys read so far
	at   time.Time       // the second of the next flush
}

// flush draws one second of uses, reads the keys not met before with the
// timer stopped, and times their flush. It returns the distinct keys.
func (u *usageReplay) flush(ctx context.Context, b *testing.B) int {
	b.StopTimer()
	n := make(map[string]int64)
	batch := keyward.UsageBatch{LastUsed: make(map[string]time.Time)}
	for range u.uses {
		id := u.ids[u.zipf.Uint64()]
		n[id]++
		batch.LastUsed[id] = u.at
	}
	for id, c := range n {
		batch.Counts = append(batch.Counts, keyward.UsageCount{KeyID: id, Start: u.at.Truncate(time.Minute), Outcome: keyward.OutcomeValid, Count: c})
		if !u.read[id] {
			u.read[id] = true
			if _, err := u.s.Get(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	}
	u.at = u.at.Add(time.Second)
	b.StartTimer()
	if err := u.s.RecordUsage(ctx, batch); err != nil {
		b.Fatal(err)
	}
	return len(n)
}

// BenchmarkGetInUse reads keys by id, as a cache miss does, on a database
// with a history of use (KEYWARD_BENCH_REPLAY_DB, opened in place, not
// copied, and so migrated in place when its schema is older): the 1,000
// keys used last, whose last use is read back from their count rows in
// usage_recent and usage; and by ReloadKey, as a cache's reload of a key in
// use does, which reads the last use from the key row and usage_recent.
//
//	KEYWARD_BENCH_REPLAY_DB=/tmp/keyward-load/keys-1000000.db \
//	  go test ./store/sqlite/ -run '^$' -bench GetInUse -count 3
func BenchmarkGetInUse(b *testing.B) {
	path := os.Getenv("KEYWARD_BENCH_REPLAY_DB")
	if path == "" {
		b.Skip("KEYWARD_BENCH_REPLAY_DB (a keyward SQLite database with a history of use, such as bench/load's) is unset")
	}
	ctx := context.Background()
	s := open(b, path)
	var ids []string
	if err := s.RecentKeys(ctx, time.Now().Add(-24*time.Hour), 1000, func(k *keyward.Key) error {
		ids = append(ids, k.ID)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if len(ids) == 0 {
		b.Fatal("no key was used in the last day")
	}
	for _, read := range []struct {
		name string
		fn   func(context.Context, string) (*keyward.Key, error)
	}{{"Get", s.Get}, {"ReloadKey", s.ReloadKey}} {
		b.Run(read.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := read.fn(ctx, ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
