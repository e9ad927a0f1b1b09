package cache_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/internal/testkit"
)

// recentFunc is a keyward.RecentKeys made of a function.
type recentFunc func(ctx context.Context, since time.Time, limit int, fn func(*keyward.Key) error) error

func (f recentFunc) RecentKeys(ctx context.Context, since time.Time, limit int, fn func(*keyward.Key) error) error {
	return f(ctx, since, limit, fn)
}

// used records a count for each key in the minute of at, in the store of
// record.
func used(t *testing.T, back *backend, at time.Time, ids ...string) {
	t.Helper()
	var b keyward.UsageBatch
	for _, id := range ids {
		b.Counts = append(b.Counts, keyward.UsageCount{KeyID: id, Start: at.Truncate(time.Minute), Outcome: keyward.OutcomeValid, Count: 1})
	}
	if err := back.RecordUsage(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// TestWarmLoadsTheKeysInUse: a new cache warmed with the keys used within
// five minutes verifies them without a store lookup, reads a key used
// before (not warmed) on its first request, and reloads a warmed key once
// its TTL, counted from the warm, has passed.
func TestWarmLoadsTheKeysInUse(t *testing.T) {
	back, clk := newBackend(), testkit.NewClock(t0)
	first := newEnv(t, back, clk, cache.Options{TTL: 5 * time.Minute})
	a, b, old := first.create(t), first.create(t), first.create(t)
	used(t, back, t0.Add(-10*time.Minute), old.Key.ID)
	used(t, back, t0.Add(-time.Minute), a.Key.ID)
	used(t, back, t0, a.Key.ID, b.Key.ID)

	e := newEnv(t, back, clk, cache.Options{TTL: 5 * time.Minute}) // a restarted server
	n, err := e.cache.Warm(context.Background(), back.Store, t0.Add(-5*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("Warm: %d keys, %v; want the 2 used within five minutes", n, err)
	}
	if e.cache.Stats().Size != 2 {
		t.Errorf("after Warm the cache holds %d keys, want 2", e.cache.Stats().Size)
	}
	back.gets.Store(0)
	for _, iss := range []keyward.Issued{a, b, a} {
		if o := e.verify(t, iss.Secret); o != keyward.OutcomeValid {
			t.Fatalf("warmed key: %v", o)
		}
	}
	if got := back.gets.Load(); got != 0 {
		t.Errorf("verifying the warmed keys read the store %d times, want 0", got)
	}
	if o := e.verify(t, old.Secret); o != keyward.OutcomeValid || back.gets.Load() != 1 {
		t.Errorf("the key used ten minutes ago: %v after %d store reads, want VALID after 1", o, back.gets.Load())
	}
	clk.Add(5*time.Minute + time.Second)
	if o := e.verify(t, a.Secret); o != keyward.OutcomeValid || back.gets.Load() != 2 {
		t.Errorf("a warmed key past its TTL: %v after %d store reads, want VALID after 2 (reloaded)", o, back.gets.Load())
	}
}

// TestWarmDoesNotUndoAWrite: a key revoked while Warm reads the keys in use
// is not cached from the read that began before the revocation.
func TestWarmDoesNotUndoAWrite(t *testing.T) {
	back, clk := newBackend(), testkit.NewClock(t0)
	e := newEnv(t, back, clk, cache.Options{TTL: time.Hour})
	iss := e.create(t)
	slow := recentFunc(func(ctx context.Context, _ time.Time, _ int, fn func(*keyward.Key) error) error {
		before, err := back.Store.Get(ctx, iss.Key.ID) // the pass reads the key ...
		if err != nil {
			return err
		}
		if _, err := e.svc.Revoke(ctx, iss.Key.ID); err != nil { // ... it is revoked ...
			return err
		}
		return fn(before) // ... and the pass hands out what it read
	})
	if n, err := e.cache.Warm(context.Background(), slow, t0.Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("Warm: %d keys cached, %v; want none", n, err)
	}
	if o := e.verify(t, iss.Secret); o != keyward.OutcomeRevoked {
		t.Errorf("after the revocation during Warm: %v, want REVOKED", o)
	}
}

// TestWarmStopsAtClose: Close ends a Warm in progress (and waits for it);
// Warm after Close does nothing.
func TestWarmStopsAtClose(t *testing.T) {
	back := newBackend()
	c, err := cache.New(back, &cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := &keyward.Key{ID: "warmclose000001", Prefix: "kw", Name: "k", Enabled: true, CreatedAt: t0, UpdatedAt: t0, Hash: "h"}
	started := make(chan struct{})
	var calls atomic.Int64 // keys handed to the warm
	endless := recentFunc(func(_ context.Context, _ time.Time, _ int, fn func(*keyward.Key) error) error {
		close(started)
		for {
			calls.Add(1)
			if err := fn(k); err != nil {
				return err
			}
		}
	})
	done := make(chan error, 1)
	go func() {
		_, err := c.Warm(context.Background(), endless, t0)
		done <- err
	}()
	<-started
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waits for the warm in progress: once it returns, the warm
	// takes no more keys (its own return follows; a hang fails the test).
	after := calls.Load()
	if err := <-done; !errors.Is(err, keyward.ErrClosed) {
		t.Errorf("Warm ended by Close: %v, want ErrClosed", err)
	}
	if n := calls.Load(); n != after {
		t.Errorf("the warm took %d more keys after Close returned", n-after)
	}
	if n, err := c.Warm(context.Background(), endless, t0); n != 0 || !errors.Is(err, keyward.ErrClosed) {
		t.Errorf("Warm after Close: %d, %v; want 0, ErrClosed", n, err)
	}
}
