package cache_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/internal/testkit"
)

// TestBusyKeyNeverMisses verifies a key every 5 seconds for 100 seconds
// with a TTL of 30s: after the first load, every verification is a hit,
// because each hit in the last quarter of the TTL reloads the key in the
// background.
func TestBusyKeyNeverMisses(t *testing.T) {
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{TTL: 30 * time.Second})
	iss := e.create(t)
	for i := range 21 {
		if o := e.verify(t, iss.Secret); o != keyward.OutcomeValid {
			t.Fatalf("verification %d: %v", i, o)
		}
		e.cache.WaitRefreshes()
		e.clock.Add(5 * time.Second)
	}
	st := e.cache.Stats()
	if st.Misses != 1 || st.Hits != 20 {
		t.Errorf("a key verified every 5s: %d misses and %d hits, want 1 and 20 (stats %+v)", st.Misses, st.Hits, st)
	}
	// Loaded at 0s, refreshed at 25s, 50s, 75s and 100s (each at an age of
	// 25s, in the last 7.5s of the TTL).
	if st.Refreshes != 4 || e.back.gets.Load() != 5 {
		t.Errorf("%d refreshes and %d store lookups, want 4 and 5", st.Refreshes, e.back.gets.Load())
	}
}

// TestRefreshOff: with a negative RefreshAhead a key is reloaded only when
// its TTL has passed.
func TestRefreshOff(t *testing.T) {
	e := newEnv(t, newBackend(), testkit.NewClock(t0), cache.Options{TTL: 30 * time.Second, RefreshAhead: -1})
	iss := e.create(t)
	e.verify(t, iss.Secret)
	e.clock.Add(29 * time.Second)
	e.verify(t, iss.Secret)
	e.cache.WaitRefreshes()
	if st := e.cache.Stats(); st.Refreshes != 0 || e.back.gets.Load() != 1 {
		t.Errorf("refreshing off: %d refreshes, %d lookups, want 0 and 1", st.Refreshes, e.back.gets.Load())
	}
}

// TestRevocationWithoutBusWithinTTL runs two instances on one store with no
// shared bus: a key revoked through B at 26s (just after A refreshed it at
// 25s) is still VALID on A for at most the TTL after the revocation, never
// longer, however busy the key is.
func TestRevocationWithoutBusWithinTTL(t *testing.T) {
	back, clk := newBackend(), testkit.NewClock(t0)
	const ttl = 30 * time.Second
	a := newEnv(t, back, clk, cache.Options{TTL: ttl})
	b := newEnv(t, back, clk, cache.Options{TTL: ttl})
	iss := a.create(t)
	var revokedAt, lastValid, firstRevoked time.Time
	for sec := range 90 {
		if sec == 26 {
			if _, err := b.svc.Revoke(context.Background(), iss.Key.ID); err != nil {
				t.Fatal(err)
			}
			revokedAt = clk.Now()
		}
		switch o := a.verify(t, iss.Secret); o {
		case keyward.OutcomeValid:
			lastValid = clk.Now()
		case keyward.OutcomeRevoked:
			if firstRevoked.IsZero() {
				firstRevoked = clk.Now()
			}
		default:
			t.Fatalf("at %ds: %v", sec, o)
		}
		a.cache.WaitRefreshes()
		clk.Add(time.Second)
	}
	if firstRevoked.IsZero() {
		t.Fatal("the revocation was never seen")
	}
	if !lastValid.Before(revokedAt.Add(ttl)) || firstRevoked.After(revokedAt.Add(ttl)) {
		t.Errorf("revoked at %v: last VALID at %v, first REVOKED at %v; want both within the TTL of %v",
			revokedAt.Sub(t0), lastValid.Sub(t0), firstRevoked.Sub(t0), ttl)
	}
	if lastValid.After(firstRevoked) {
		t.Errorf("VALID at %v after REVOKED at %v", lastValid.Sub(t0), firstRevoked.Sub(t0))
	}
}

// TestRefreshRacingARevocationIsNotCached holds A's background reload in
// the store while the key is revoked through B on a shared bus: the record
// the reload read before the revocation must not be cached, and A sees the
// revocation at once, as without refreshing.
func TestRefreshRacingARevocationIsNotCached(t *testing.T) {
	back, clk, bus := newBackend(), testkit.NewClock(t0), cache.NewLocalBus()
	a := newEnv(t, back, clk, cache.Options{Bus: bus, TTL: 30 * time.Second})
	b := newEnv(t, back, clk, cache.Options{Bus: bus, TTL: 30 * time.Second})
	iss := a.create(t)
	a.verify(t, iss.Secret)
	clk.Add(25 * time.Second)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	back.mu.Lock()
	back.gate, back.entered = gate, entered
	back.mu.Unlock()
	if o := a.verify(t, iss.Secret); o != keyward.OutcomeValid { // a hit that starts the reload
		t.Fatal(o)
	}
	select {
	case <-entered: // the reload holds the record from before the revocation
	case <-time.After(10 * time.Second):
		t.Fatal("the hit in the last quarter of the TTL started no reload")
	}
	back.mu.Lock()
	back.gate = nil
	back.mu.Unlock()
	if _, err := b.svc.Revoke(context.Background(), iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	close(gate)
	a.cache.WaitRefreshes()
	if o := a.verify(t, iss.Secret); o != keyward.OutcomeRevoked {
		t.Errorf("A after a revocation through B during its reload: %v, want REVOKED", o)
	}
}

// TestBusyOwnerRecordIsRefreshed: the owner record a busy key's
// verifications read is reloaded in the background too, so it is never
// read from the store on a verification's path once cached.
func TestBusyOwnerRecordIsRefreshed(t *testing.T) {
	back, clk := &recordBackend{backend: newBackend()}, testkit.NewClock(t0)
	c, err := cache.New(back, &cache.Options{Now: clk.Now, TTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &env{cache: c, svc: testkit.NewService(t, c, hasher(t), &keyward.Options{Now: clk.Now}), clock: clk}
	ctx := context.Background()
	if _, _, err := e.svc.PutOwner(ctx, "acme", keyward.OwnerParams{Remaining: keyward.Ptr[int64](1000)}); err != nil {
		t.Fatal(err)
	}
	iss, err := e.svc.Create(ctx, keyward.CreateParams{Name: "k", Owner: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	e.verify(t, iss.Secret)
	before := back.ownerGets.Load()
	clk.Add(25 * time.Second)
	e.verify(t, iss.Secret) // a hit in the last quarter of the TTL
	c.WaitRefreshes()
	if n := back.ownerGets.Load() - before; n != 1 {
		t.Errorf("the owner record was read %d times in the background at 25s, want 1", n)
	}
	clk.Add(6 * time.Second) // past the first load's TTL
	e.verify(t, iss.Secret)
	c.WaitRefreshes()
	if n := back.ownerGets.Load() - before; n != 1 {
		t.Errorf("at 31s the owner record was read again (%d reads since the first): the refreshed copy was not used", n)
	}
	if st := c.Stats(); st.Misses != 1 {
		t.Errorf("%d key misses, want 1", st.Misses)
	}
}

// reloadingBackend reloads keys (keyward.KeyReloader) with a last use that
// lags Get's, as a store that leaves out uses moved to its history does:
// the key row's own, kept in rowUse.
type reloadingBackend struct {
	*backend
	reloads atomic.Int64
	rowUse  atomic.Pointer[time.Time]
}

func (b *reloadingBackend) ReloadKey(ctx context.Context, id string) (*keyward.Key, error) {
	b.reloads.Add(1)
	k, err := b.backend.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	k = k.Clone()
	k.LastUsedAt = b.rowUse.Load()
	return k, nil
}

// TestRefreshReloadsAndKeepsTheLaterUse: a miss reads the key with Get; a
// background refresh reads it with the store's ReloadKey and keeps the
// later of the reloaded last use and the one it had, so the key's
// LastUsedAt never goes back; and the refreshed key still verifies.
func TestRefreshReloadsAndKeepsTheLaterUse(t *testing.T) {
	back := &reloadingBackend{backend: newBackend()}
	e := newEnv(t, back.backend, testkit.NewClock(t0), cache.Options{TTL: 30 * time.Second})
	c, err := cache.New(back, &cache.Options{TTL: 30 * time.Second, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	iss := e.create(t)
	ctx := context.Background()
	dayStart, used := t0.Add(-time.Hour), t0.Add(-time.Minute)
	back.rowUse.Store(&dayStart)
	if err := back.Store.RecordUsage(ctx, keyward.UsageBatch{LastUsed: map[string]time.Time{iss.Key.ID: used}}); err != nil {
		t.Fatal(err)
	}
	lastUse := func(step string, want time.Time) {
		t.Helper()
		k, err := c.Get(ctx, iss.Key.ID)
		if err != nil || k.LastUsedAt == nil || !k.LastUsedAt.Equal(want) {
			t.Fatalf("%s: %v, %v; want last use %v", step, k, err, want)
		}
	}
	lastUse("the miss, by Get", used)
	if n := back.reloads.Load(); n != 0 {
		t.Fatalf("a miss called ReloadKey %d times, want Get", n)
	}
	e.clock.Add(25 * time.Second) // in the last quarter of the TTL
	lastUse("the hit that starts the refresh", used)
	c.WaitRefreshes()
	if n := back.reloads.Load(); n != 1 {
		t.Fatalf("the refresh called ReloadKey %d times, want 1", n)
	}
	lastUse("after a refresh whose last use is older", used)
	later := t0.Add(20 * time.Second)
	back.rowUse.Store(&later)
	e.clock.Add(25 * time.Second)
	c.Get(ctx, iss.Key.ID)
	c.WaitRefreshes()
	lastUse("after a refresh whose last use is newer", later)
	svc := testkit.NewService(t, c, hasher(t), &keyward.Options{Now: e.clock.Now})
	if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret}); err != nil || !r.Valid() {
		t.Fatalf("the refreshed key: %v, %v", r.Outcome, err)
	}
}
