package redis_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	redisbus "github.com/keyward/keyward/cache/redis"
	"github.com/keyward/keyward/internal/testredis"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	redislimit "github.com/keyward/keyward/ratelimit/redis"
	"github.com/keyward/keyward/store/memory"
)

// countingStore counts lookups that reach the shared store.
type countingStore struct {
	keyward.Store
	gets atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, id string) (*keyward.Key, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, id)
}

// instance is one keyward "server": a Service with its own cache, Redis bus
// and Redis limiter, on the shared store.
type instance struct {
	svc     *keyward.Service
	cache   *cache.Store
	bus     *redisbus.Bus
	limiter *redislimit.Limiter
	events  chan cache.Event
}

func newInstance(t *testing.T, shared keyward.Store, client goredis.UniversalClient, channel string) *instance {
	t.Helper()
	bus := redisbus.New(client, &redisbus.Options{Channel: channel, PingInterval: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.WaitReady(ctx); err != nil {
		t.Fatalf("bus not ready: %v", err)
	}
	in := &instance{bus: bus, events: make(chan cache.Event, 100)}
	c, err := cache.New(nopClose{shared}, &cache.Options{Bus: bus, TTL: time.Hour, FallbackTTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	in.cache = c
	// Subscribed after the cache: the bus calls subscribers in order, so an
	// event reaches in.events only once this instance's cache has applied it.
	unsub := bus.Subscribe(func(e cache.Event) {
		select {
		case in.events <- e:
		default:
		}
	})
	in.limiter = redislimit.New(client, &redislimit.Options{Prefix: channel + ":rl:", Fallback: ratelimit.NewLocal(), RetryAfter: 50 * time.Millisecond})
	p, _ := keyhash.NewPepper([]byte("redis integration pepper, 32 bytes or more"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(c, h, &keyward.Options{Limiter: in.limiter, UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	in.svc = svc
	t.Cleanup(func() {
		svc.Close(context.Background())
		unsub()
		c.Close()
		bus.Close()
	})
	return in
}

// nopClose keeps one instance's Close from closing the shared store.
type nopClose struct{ keyward.Store }

func (nopClose) Close() error { return nil }

func (in *instance) verify(t *testing.T, secret string) keyward.Outcome {
	t.Helper()
	r, err := in.svc.Verify(context.Background(), keyward.VerifyRequest{Key: secret})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return r.Outcome
}

// waitFor waits for an event of that kind (and id) on the instance's bus.
func (in *instance) waitFor(t *testing.T, kind cache.EventKind, id string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(within)
	for {
		select {
		case e := <-in.events:
			if e.Kind == kind && e.ID == id {
				return time.Since(start)
			}
		case <-deadline:
			t.Fatalf("no %v event for %q within %v", kind, id, within)
		}
	}
}

func channel(t *testing.T) string {
	return "kwtest:" + t.Name() + ":" + time.Now().Format("150405.000000")
}

func TestRevokeThroughAIsSeenByB(t *testing.T) {
	client := testredis.Client(t)
	shared := &countingStore{Store: memory.New()}
	ch := channel(t)
	a, b := newInstance(t, shared, client, ch), newInstance(t, shared, client, ch)
	iss, err := a.svc.Create(context.Background(), keyward.CreateParams{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	if o := b.verify(t, iss.Secret); o != keyward.OutcomeValid {
		t.Fatalf("B verifies a key created through A: %v", o)
	}
	start := time.Now()
	if _, err := a.svc.Revoke(context.Background(), iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, cache.Invalidate, iss.Key.ID, time.Second)
	if o := b.verify(t, iss.Secret); o != keyward.OutcomeRevoked {
		t.Fatalf("B after the revoke through A: %v", o)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("B rejected the revoked key after %v, want within 1s", d)
	}
	t.Logf("revoke through A rejected by B after %v", time.Since(start))
}

func TestSharedLimitAcrossServices(t *testing.T) {
	client := testredis.Client(t)
	shared := memory.New()
	ch := channel(t)
	a, b := newInstance(t, shared, client, ch), newInstance(t, shared, client, ch)
	iss, err := a.svc.Create(context.Background(), keyward.CreateParams{Name: "limited", RateLimit: &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	var valid, limited atomic.Int64
	var wg sync.WaitGroup
	for i := range 300 {
		in := a
		if i%2 == 1 {
			in = b
		}
		wg.Go(func() {
			switch in.verify(t, iss.Secret) {
			case keyward.OutcomeValid:
				valid.Add(1)
			case keyward.OutcomeRateLimited:
				limited.Add(1)
			}
		})
	}
	wg.Wait()
	if valid.Load() > 100 || valid.Load()+limited.Load() != 300 {
		t.Errorf("300 requests over A and B: %d VALID, %d RATE_LIMITED; want at most 100 VALID", valid.Load(), limited.Load())
	}
	if valid.Load() != 100 {
		t.Logf("note: %d admitted (a window boundary passed during the burst)", valid.Load())
	}
}

// TestRedisOutage kills Redis under two instances: both keep verifying
// (local limiter, short TTL), and both recover when Redis returns.
func TestRedisOutage(t *testing.T) {
	srv := testredis.Start(t)
	opts, _ := goredis.ParseURL(srv.URL())
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.MaxRetries = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond, -1
	opts.Protocol = 2
	clientA, clientB := goredis.NewClient(opts), goredis.NewClient(opts)
	defer clientA.Close()
	defer clientB.Close()
	shared := &countingStore{Store: memory.New()}
	ch := channel(t)
	a, b := newInstance(t, shared, clientA, ch), newInstance(t, shared, clientB, ch)
	iss, err := a.svc.Create(context.Background(), keyward.CreateParams{Name: "survivor", RateLimit: &keyward.RateLimit{Limit: 5, Period: keyward.Duration(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if a.verify(t, iss.Secret) != keyward.OutcomeValid || b.verify(t, iss.Secret) != keyward.OutcomeValid {
		t.Fatal("not valid before the outage")
	}

	srv.Stop()
	waitUntil(t, "both buses report the outage", func() bool { return !a.bus.Healthy() && !b.bus.Healthy() })
	before := shared.gets.Load()
	// Both keep serving; the limit is enforced by each instance's local limiter.
	outcomes := map[keyward.Outcome]int{}
	for range 10 {
		outcomes[a.verify(t, iss.Secret)]++
	}
	if outcomes[keyward.OutcomeValid] != 5 || outcomes[keyward.OutcomeRateLimited] != 5 {
		t.Errorf("A during the outage: %v; want 5 VALID (local limiter) then RATE_LIMITED", outcomes)
	}
	if b.verify(t, iss.Secret) != keyward.OutcomeValid {
		t.Error("B stopped serving during the outage")
	}
	if !a.limiter.Degraded() {
		t.Error("A's limiter does not report deciding locally")
	}
	// The short fallback TTL: cached keys are re-read from the store.
	if shared.gets.Load() == before {
		t.Error("with the bus down the caches kept using their long TTL")
	}

	srv.Restart()
	waitUntil(t, "both buses recover", func() bool { return a.bus.Healthy() && b.bus.Healthy() })
	waitUntil(t, "A's limiter uses Redis again", func() bool {
		a.verify(t, iss.Secret)
		return !a.limiter.Degraded()
	})
	// Shared again: a revoke through A reaches B over the restored bus.
	if _, err := a.svc.Revoke(context.Background(), iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, cache.Invalidate, iss.Key.ID, time.Second)
	if o := b.verify(t, iss.Secret); o != keyward.OutcomeRevoked {
		t.Errorf("B after recovery and a revoke through A: %v", o)
	}
}

// waitUntil polls cond until it holds (for an external process to change
// state), failing after 15s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloseRightAfterNewReturns: a bus closed while its first subscription
// is still being set up (a CLI command that opens one, writes, and closes it
// at once) stops; it once went on pinging a subscription that Close had not
// seen yet, and Close waited for it forever.
func TestCloseRightAfterNewReturns(t *testing.T) {
	client := testredis.Client(t)
	for i := range 300 {
		bus := redisbus.New(client, &redisbus.Options{Channel: channel(t), PingInterval: 10 * time.Millisecond})
		for range i % 50 * 100 { // land in other steps of the setup
			runtime.Gosched()
		}
		closed := make(chan struct{})
		go func() { bus.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("Close %d did not return within 10s", i)
		}
	}
}
