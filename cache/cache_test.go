package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/store/memory"
	"github.com/keyward/keyward/store/storetest"
)

var t0 = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

// clock is a time source the test moves by hand.
type clock = testkit.Clock

// backend is a memory store that counts lookups, can be taken down, and can
// hold lookups until released.
type backend struct {
	*memory.Store
	gets    atomic.Int64
	down    atomic.Bool
	mu      sync.Mutex
	gate    chan struct{} // when not nil, Get waits for it to close
	entered chan struct{}
}

func newBackend() *backend { return &backend{Store: memory.New()} }

// Get reads the record, then (when gated) waits before returning it: a
// slow read that returns the state as it was when it started.
func (b *backend) Get(ctx context.Context, id string) (*keyward.Key, error) {
	b.gets.Add(1)
	if b.down.Load() {
		return nil, fmt.Errorf("backend: connection refused: %w", keyward.ErrUnavailable)
	}
	k, err := b.Store.Get(ctx, id)
	b.mu.Lock()
	gate, entered := b.gate, b.entered
	b.mu.Unlock()
	if gate != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
	}
	return k, err
}

func (b *backend) Update(ctx context.Context, id string, fn func(*keyward.Key) (*keyward.AuditEntry, error)) (*keyward.Key, error) {
	if b.down.Load() {
		return nil, keyward.ErrUnavailable
	}
	return b.Store.Update(ctx, id, fn)
}

type env struct {
	back  *backend
	cache *cache.Store
	svc   *keyward.Service
	clock *clock
}

func hasher(tb testing.TB) keyward.Hasher { return testkit.HMAC(tb, "cache tests") }

func newEnv(tb testing.TB, back *backend, clk *clock, opts cache.Options) *env {
	tb.Helper()
	opts.Now = clk.Now
	c, err := cache.New(back, &opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() }) // runs after the Service's close below
	svc := testkit.NewService(tb, c, hasher(tb), &keyward.Options{Now: clk.Now})
	return &env{back: back, cache: c, svc: svc, clock: clk}
}

func (e *env) create(tb testing.TB) keyward.Issued {
	tb.Helper()
	iss, err := e.svc.Create(context.Background(), keyward.CreateParams{Name: "cached"})
	if err != nil {
		tb.Fatal(err)
	}
	return iss
}

func (e *env) verify(tb testing.TB, secret string) keyward.Outcome {
	tb.Helper()
	r, err := e.svc.Verify(context.Background(), keyward.VerifyRequest{Key: secret})
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	return r.Outcome
}

func TestConformance(t *testing.T) {
	storetest.RunDecorator(t, func(*testing.T) keyward.Store { return memory.New() },
		func(t *testing.T, next keyward.Store) keyward.Store {
			c, err := cache.New(next, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		})
}

func TestHitsWithinTTLThenReloads(t *testing.T) {
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{TTL: 30 * time.Second})
	iss := e.create(t)
	for range 100 {
		if o := e.verify(t, iss.Secret); o != keyward.OutcomeValid {
			t.Fatal(o)
		}
	}
	if n := e.back.gets.Load(); n != 1 {
		t.Fatalf("100 verifications made %d store lookups, want 1", n)
	}
	e.clock.Add(31 * time.Second)
	e.verify(t, iss.Secret)
	if n := e.back.gets.Load(); n != 2 {
		t.Errorf("after the TTL: %d lookups, want 2", n)
	}
	st := e.cache.Stats()
	if st.Hits != 99 || st.Misses != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestFreshContextBypassesCache(t *testing.T) {
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{})
	iss := e.create(t)
	e.verify(t, iss.Secret)
	before := e.back.gets.Load()
	if _, err := e.svc.Get(context.Background(), iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	if e.back.gets.Load() != before+1 {
		t.Error("an admin read was served from the cache")
	}
}

// TestWriteInvalidatesEveryInstance runs two caches (two instances) on one
// store and one bus: a revoke through A is rejected by B at once.
func TestWriteInvalidatesEveryInstance(t *testing.T) {
	back, clk, bus := newBackend(), testkit.NewClock(t0), cache.NewLocalBus()
	a := newEnv(t, back, clk, cache.Options{Bus: bus, TTL: time.Hour})
	b := newEnv(t, back, clk, cache.Options{Bus: bus, TTL: time.Hour})
	iss := a.create(t)
	if o := b.verify(t, iss.Secret); o != keyward.OutcomeValid {
		t.Fatal(o)
	}
	if _, err := a.svc.Revoke(context.Background(), iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	if o := b.verify(t, iss.Secret); o != keyward.OutcomeRevoked {
		t.Errorf("B after a revoke through A: %v, want REVOKED", o)
	}
	if _, err := a.svc.Update(context.Background(), iss.Key.ID, keyward.UpdateParams{Name: keyward.Ptr("x")}); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("update of revoked key through A: %v", err)
	}
}

func TestStaleDuringOutage(t *testing.T) {
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{TTL: 30 * time.Second, StaleTTL: 5 * time.Minute})
	cached := e.create(t)
	uncached := e.create(t)
	e.verify(t, cached.Secret)
	e.back.down.Store(true)
	e.clock.Add(4 * time.Minute)
	if o := e.verify(t, cached.Secret); o != keyward.OutcomeValid {
		t.Errorf("cached key during an outage, within the stale limit: %v", o)
	}
	if _, err := e.svc.Verify(context.Background(), keyward.VerifyRequest{Key: uncached.Secret}); !errors.Is(err, keyward.ErrUnavailable) {
		t.Errorf("uncached key during an outage: err = %v, want ErrUnavailable (503), never a success", err)
	}
	e.clock.Add(2 * time.Minute) // past the stale limit
	if _, err := e.svc.Verify(context.Background(), keyward.VerifyRequest{Key: cached.Secret}); err == nil {
		t.Error("cached key past the stale limit still verified during the outage")
	}
	e.back.down.Store(false)
	if o := e.verify(t, uncached.Secret); o != keyward.OutcomeValid {
		t.Errorf("after recovery: %v", o)
	}
	if st := e.cache.Stats(); st.StaleServed != 1 {
		t.Errorf("stale served %d times, want 1", st.StaleServed)
	}
}

func TestSingleFlight(t *testing.T) {
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{})
	iss := e.create(t)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	e.back.mu.Lock()
	e.back.gate, e.back.entered = gate, entered
	e.back.mu.Unlock()
	var wg sync.WaitGroup
	var valid atomic.Int64
	for range 1000 {
		wg.Go(func() {
			if e.verify(t, iss.Secret) == keyward.OutcomeValid {
				valid.Add(1)
			}
		})
	}
	<-entered // one load is in the store; the rest either wait for it or find it cached
	close(gate)
	wg.Wait()
	if n := e.back.gets.Load(); n != 1 {
		t.Errorf("1000 concurrent first requests made %d store lookups, want 1", n)
	}
	if valid.Load() != 1000 {
		t.Errorf("%d of 1000 valid", valid.Load())
	}
}

func TestFloodOfRandomKeysIsBounded(t *testing.T) {
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{UnknownLookups: 50})
	var real []keyward.Issued
	for range 10 {
		real = append(real, e.create(t))
	}
	if err := e.cache.RebuildFilter(); err != nil || !e.cache.FilterReady() {
		t.Fatalf("filter not built: %v", err)
	}
	before := e.back.gets.Load()
	for range 100_000 {
		tok, _ := keyward.NewToken("kw")
		if o := e.verify(t, tok.String()); o != keyward.OutcomeNotFound {
			t.Fatalf("random key: %v", o)
		}
	}
	calls := e.back.gets.Load() - before
	// The budget's burst (50) plus the filter's false positives (0.1% of 100,000).
	if calls > 400 {
		t.Errorf("100,000 random keys made %d store lookups, want a bounded number (< 400)", calls)
	}
	t.Logf("100,000 random well-formed keys -> %d store lookups", calls)
	for _, iss := range real {
		if o := e.verify(t, iss.Secret); o != keyward.OutcomeValid {
			t.Errorf("real key during the flood: %v", o)
		}
	}
}

func TestKeysCreatedElsewhereAreFound(t *testing.T) {
	back, clk, bus := newBackend(), testkit.NewClock(t0), cache.NewLocalBus()
	a := newEnv(t, back, clk, cache.Options{Bus: bus, UnknownLookups: 1})
	if err := a.cache.RebuildFilter(); err != nil {
		t.Fatal(err)
	}
	// A key written straight to the store (as the CLI does, with no bus):
	// not in A's filter, found within the lookup budget.
	other, err := keyward.New(back.Store, hasher(t), &keyward.Options{Now: clk.Now, UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	iss, _ := other.Create(context.Background(), keyward.CreateParams{Name: "direct"})
	if o := a.verify(t, iss.Secret); o != keyward.OutcomeValid {
		t.Errorf("key created behind the cache's back: %v", o)
	}
	// A key created through another cache on the same bus: in the filter at once.
	b := newEnv(t, back, clk, cache.Options{Bus: bus})
	iss2 := b.create(t)
	for range 5 { // the budget (1/s, frozen clock) is spent; the bus event made the id known
		if o := a.verify(t, iss2.Secret); o != keyward.OutcomeValid {
			t.Fatalf("key created through another instance: %v", o)
		}
	}
}

func TestNegativeCache(t *testing.T) {
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{})
	tok, _ := keyward.NewToken("kw")
	for range 100 {
		e.verify(t, tok.String())
	}
	if n := e.back.gets.Load(); n != 1 {
		t.Errorf("one unknown id asked 100 times: %d lookups, want 1", n)
	}
}

func TestUnhealthyBusShortensTTL(t *testing.T) {
	bus := &flakyBus{LocalBus: cache.NewLocalBus()}
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{Bus: bus, TTL: time.Minute, FallbackTTL: time.Second})
	iss := e.create(t)
	e.verify(t, iss.Secret)
	e.clock.Add(2 * time.Second)
	e.verify(t, iss.Secret)
	if n := e.back.gets.Load(); n != 1 {
		t.Fatalf("healthy bus: %d lookups within the TTL, want 1", n)
	}
	bus.down.Store(true)
	e.verify(t, iss.Secret)
	if n := e.back.gets.Load(); n != 2 {
		t.Errorf("unhealthy bus: %d lookups, want 2 (fallback TTL of 1s passed)", n)
	}
}

type flakyBus struct {
	*cache.LocalBus
	down atomic.Bool
}

func (b *flakyBus) Healthy() bool { return !b.down.Load() }

// TestSlowLoadDoesNotUndoAWrite holds a load in the store while the key is
// revoked: the stale record it read must not be cached.
func TestSlowLoadDoesNotUndoAWrite(t *testing.T) {
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{TTL: time.Hour})
	iss := e.create(t)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	e.back.mu.Lock()
	e.back.gate, e.back.entered = gate, entered
	e.back.mu.Unlock()
	done := make(chan keyward.Outcome)
	go func() { done <- e.verify(t, iss.Secret) }()
	<-entered // the load holds the pre-revoke record
	e.back.mu.Lock()
	e.back.gate = nil
	e.back.mu.Unlock()
	if _, err := e.svc.Revoke(context.Background(), iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	close(gate)
	if o := <-done; o != keyward.OutcomeValid {
		t.Errorf("the verification that started before the revoke: %v", o)
	}
	if o := e.verify(t, iss.Secret); o != keyward.OutcomeRevoked {
		t.Errorf("after the revoke, the slow load's stale record was cached: %v, want REVOKED", o)
	}
}

// TestCachedKeyRemembersItsSecret: a cached key runs the Service's hasher
// once per load; wrong secrets run it every time; a write reloads the key and
// the next verification runs it again.
func TestCachedKeyRemembersItsSecret(t *testing.T) {
	back, clk := newBackend(), testkit.NewClock(t0)
	c, err := cache.New(back, &cache.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingHasher{Hasher: hasher(t)}
	svc, err := keyward.New(c, counted, &keyward.Options{Now: clk.Now, UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()); c.Close() })
	e := &env{back: back, cache: c, svc: svc, clock: clk}
	iss := e.create(t)
	base := counted.verifies.Load()
	for range 10 {
		if o := e.verify(t, iss.Secret); o != keyward.OutcomeValid {
			t.Fatal(o)
		}
	}
	if n := counted.verifies.Load() - base; n != 1 {
		t.Errorf("10 verifications of a cached key ran the hasher %d times, want 1", n)
	}
	tok, _ := keyward.Parse(iss.Secret)
	tok.Secret = strings.Repeat("b", keyward.SecretLength)
	for range 3 {
		if o := e.verify(t, tok.String()); o != keyward.OutcomeNotFound {
			t.Fatalf("wrong secret: %s", o)
		}
	}
	if n := counted.verifies.Load() - base; n != 4 {
		t.Errorf("wrong secrets must run the hasher every time: %d runs, want 4", n)
	}
	if _, err := svc.Update(context.Background(), iss.Key.ID, keyward.UpdateParams{Name: ptr("renamed")}); err != nil {
		t.Fatal(err)
	}
	if o := e.verify(t, iss.Secret); o != keyward.OutcomeValid {
		t.Fatal(o)
	}
	if n := counted.verifies.Load() - base; n != 5 {
		t.Errorf("after a write the reloaded key must run the hasher again: %d runs, want 5", n)
	}
}

// TestCacheDoesNotMemoizeTheStoresInstance: the memory store hands out its
// own key instances; the cache must memoize a copy, or a Service reading the
// same store directly would skip its hasher.
func TestCacheDoesNotMemoizeTheStoresInstance(t *testing.T) {
	back, clk := newBackend(), testkit.NewClock(t0)
	e := newEnv(t, back, clk, cache.Options{})
	iss := e.create(t)
	for range 3 {
		if o := e.verify(t, iss.Secret); o != keyward.OutcomeValid {
			t.Fatal(o)
		}
	}
	counted := &countingHasher{Hasher: hasher(t)}
	direct, err := keyward.New(back.Store, counted, &keyward.Options{Now: clk.Now, UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	if n := hasherRuns(t, direct, counted, iss.Secret, 3); n != 3 {
		t.Errorf("3 verifications straight on the store ran the hasher %d times, want 3", n)
	}
}

// hasherRuns verifies secret n times through svc, each VALID, and returns
// how many times counted ran meanwhile.
func hasherRuns(t *testing.T, svc *keyward.Service, counted *countingHasher, secret string, n int) int64 {
	t.Helper()
	base := counted.verifies.Load()
	for range n {
		if r, err := svc.Verify(context.Background(), keyward.VerifyRequest{Key: secret}); err != nil || !r.Valid() {
			t.Fatalf("verify: %v %v", r.Outcome, err)
		}
	}
	return counted.verifies.Load() - base
}

func ptr[T any](v T) *T { return &v }

type countingHasher struct {
	keyward.Hasher
	verifies atomic.Int64
}

func (c *countingHasher) Verify(secret, encoded string) (bool, bool) {
	c.verifies.Add(1)
	return c.Hasher.Verify(secret, encoded)
}

// BenchmarkVerifyCacheHit is Service.Verify with the key in the cache.
func BenchmarkVerifyCacheHit(b *testing.B) {
	e := newEnv(b, newBackend(), testkit.NewClock(t0), cache.Options{TTL: time.Hour})
	iss := e.create(b)
	req := keyward.VerifyRequest{Key: iss.Secret}
	ctx := context.Background()
	e.verify(b, iss.Secret)
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := e.svc.Verify(ctx, req); !r.Valid() {
			b.Fatal(r.Outcome)
		}
	}
}

func BenchmarkVerifyCacheHitParallel(b *testing.B) {
	e := newEnv(b, newBackend(), testkit.NewClock(t0), cache.Options{TTL: time.Hour})
	iss := e.create(b)
	req := keyward.VerifyRequest{Key: iss.Secret}
	ctx := context.Background()
	e.verify(b, iss.Secret)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.svc.Verify(ctx, req)
		}
	})
}

// TestGetAtTakesTheCallersReadingOnTheWallClock: a cache on the wall clock
// judges an entry's age by the reading GetAt is given (a verification's
// own), so a reading past the TTL reloads the key; a cache on its own clock
// ignores the reading.
func TestGetAtTakesTheCallersReadingOnTheWallClock(t *testing.T) {
	for _, tc := range []struct {
		name       string
		now        func() time.Time
		wantMisses uint64
	}{
		{"wall clock", nil, 2},
		{"own clock", testkit.NewClock(t0).Now, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := getAtEach(t, &cache.Options{TTL: time.Minute, Now: tc.now}, time.Time{}, time.Now(), time.Now().Add(2*time.Minute))
			if st.Misses != tc.wantMisses {
				t.Errorf("%d misses after a load, a hit and a reading 2 minutes on (TTL 1m), want %d", st.Misses, tc.wantMisses)
			}
		})
	}
}

// getAtEach makes a cache with opts over a new backend, creates a key
// through it, reads the key with GetAt at each reading in turn and returns
// the cache's stats.
func getAtEach(t *testing.T, opts *cache.Options, ats ...time.Time) cache.Stats {
	t.Helper()
	ctx := context.Background()
	c, err := cache.New(newBackend(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	svc := testkit.NewService(t, c, hasher(t), nil)
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range ats {
		if _, err := c.GetAt(ctx, iss.Key.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	return c.Stats()
}
