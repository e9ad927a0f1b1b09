// Command cachemem measures the memory of keyward's verified-key cache: it
// verifies N distinct keys through a Service on cache.Store, as keyward
// serve does (each key loaded once, its verified-secret memo filled), and
// reports the Go heap and the process's resident memory (RSS) before and
// after, and per cached key, and the peak RSS while filling the cache (the
// garbage of the loads included, as a running server has it). From the
// repository's root:
//
//	go -C bench run ./cachemem -keys 1000000
//
// The keys have the shape bench/load gives them (an owner, one scope, empty
// metadata, an HMAC-SHA256 hash). They come from a store that holds one key
// at a time (package memory for everything else), so that what grows is
// the cache alone. Like packages sqlite and postgres, that store returns a
// new instance from each read, which the cache keeps without a copy.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/memory"
)

// oneKey is a store that returns the key being verified and nothing else:
// the memory store's map would otherwise hold a second copy of every key.
// Usage is discarded, and it does not list its ids.
type oneKey struct {
	*memory.Store
	next *keyward.Key
}

func (s *oneKey) Get(ctx context.Context, id string) (*keyward.Key, error) {
	if k := s.next; k != nil && k.ID == id {
		s.next = nil // handed out once: each instance is new to its caller
		return k, nil
	}
	return s.Store.Get(ctx, id)
}

// ReturnsFreshKeys says, as packages sqlite and postgres do, that each key
// Get returns is a new instance (keyward.FreshKeyReader), so that the cache
// keeps it as a server's cache keeps a database's.
func (s *oneKey) ReturnsFreshKeys() bool { return true }

func (s *oneKey) RecordUsage(context.Context, keyward.UsageBatch) error { return nil }

// KeyIDs is unsupported: the cache's filter of existing ids would otherwise
// be built from an empty store and turn the keys away.
func (s *oneKey) KeyIDs(context.Context, func(string) error) error { return keyward.ErrUnsupported }

func main() {
	n := flag.Int("keys", 1_000_000, "distinct keys to cache")
	profile := flag.String("memprofile", "", "write a heap profile of the cached keys to this file")
	flag.Parse()
	if err := run(*n, *profile); err != nil {
		log.Fatal(err)
	}
}

// measure returns the heap in use and the RSS after a full collection
// returned what it could to the system.
func measure() (heap, rss uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, vmRSS()
}

// vmRSS reads the resident set size from /proc/self/status (Linux).
func vmRSS() uint64 { return procStatus("VmRSS:") }

// procStatus reads a size in kB from /proc/self/status (Linux), in bytes.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func run(n int, profile string) error {
	ctx := context.Background()
	pepper, err := keyhash.NewPepper([]byte("cachemem pepper of at least 32 bytes!"))
	if err != nil {
		return err
	}
	hasher, err := keyhash.NewHMAC(pepper)
	if err != nil {
		return err
	}
	store := &oneKey{Store: memory.New()}
	cached, err := cache.New(store, &cache.Options{MaxKeys: n, TTL: time.Hour, StaleTTL: time.Hour})
	if err != nil {
		return err
	}
	defer cached.Close()
	svc, err := keyward.New(cached, hasher, &keyward.Options{UsageFlushInterval: time.Second})
	if err != nil {
		return err
	}
	defer svc.Close(ctx)
	heap0, rss0 := measure()
	start := time.Now()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		tok, err := keyward.NewToken("kw")
		if err != nil {
			return err
		}
		hash, err := hasher.Hash(tok.Secret)
		if err != nil {
			return err
		}
		// Strings of their own, as a database driver returns them.
		store.next = &keyward.Key{ID: strings.Clone(tok.ID), Prefix: "kw", Name: fmt.Sprintf("load key %d", i), Owner: fmt.Sprintf("tenant-%d", i%100),
			Scopes: []string{"read"}, Metadata: []byte("{}"), AllowedCIDRs: []string{}, RateLimits: []keyward.NamedRateLimit{}, Roles: []string{},
			Enabled: true, CreatedAt: now, UpdatedAt: now, Hash: hash}
		r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: tok.String(), Scopes: []string{"read"}})
		if err != nil || !r.Valid() {
			return fmt.Errorf("verifying key %d: %v %v", i, r.Outcome, err)
		}
		if (i+1)%(n/10) == 0 {
			log.Printf("%d keys verified", i+1)
		}
	}
	store.next = nil
	if err := svc.FlushUsage(ctx); err != nil {
		return err
	}
	elapsed := time.Since(start)
	heap1, rss1 := measure()
	st := cached.Stats()
	fmt.Printf("cached keys: %d (of %d verified in %v; loads %d)\n", st.Size, n, elapsed.Round(time.Millisecond), st.Loads)
	fmt.Printf("heap in use: %.1f MiB before, %.1f MiB after: %.0f bytes per cached key\n", mib(heap0), mib(heap1), float64(heap1-heap0)/float64(st.Size))
	fmt.Printf("RSS:         %.1f MiB before, %.1f MiB after: %.0f bytes per cached key\n", mib(rss0), mib(rss1), float64(rss1-rss0)/float64(st.Size))
	fmt.Printf("peak RSS while filling (GOGC=%s, no forced collection): %.1f MiB\n", cmp.Or(os.Getenv("GOGC"), "100"), mib(procStatus("VmHWM:")))
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return err
		}
	}
	runtime.KeepAlive(svc)
	return nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
