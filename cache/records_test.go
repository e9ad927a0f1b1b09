package cache_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/ratelimit"
)

// recordBackend counts the owner and role reads that reach the store.
type recordBackend struct {
	*backend
	ownerGets, roleGets atomic.Int64
}

func (b *recordBackend) GetOwner(ctx context.Context, name string) (*keyward.Owner, error) {
	b.ownerGets.Add(1)
	return b.backend.GetOwner(ctx, name)
}

func (b *recordBackend) GetRole(ctx context.Context, name string) (*keyward.Role, error) {
	b.roleGets.Add(1)
	return b.backend.GetRole(ctx, name)
}

func newRecordEnv(tb testing.TB, back *recordBackend, clk *testkit.Clock, bus cache.Bus) *env {
	tb.Helper()
	c, err := cache.New(back, &cache.Options{Now: clk.Now, Bus: bus, TTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	svc := testkit.NewService(tb, c, hasher(tb), &keyward.Options{Now: clk.Now})
	return &env{cache: c, svc: svc, clock: clk}
}

func TestOwnerWithoutRecordIsRememberedNotAskedEveryTime(t *testing.T) {
	back := &recordBackend{backend: newBackend()}
	e := newRecordEnv(t, back, testkit.NewClock(t0), cache.NewLocalBus())
	iss, err := e.svc.Create(context.Background(), keyward.CreateParams{Name: "k", Owner: "no record"})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if o := e.verify(t, iss.Secret); o != keyward.OutcomeValid {
			t.Fatal(o)
		}
	}
	if n := back.ownerGets.Load(); n != 1 {
		t.Errorf("100 verifications of a key whose owner has no record read the owner %d times, want 1", n)
	}
}

// TestOwnerAndRoleChangesReachEveryInstance: two instances on one store and
// bus; an owner's top-up and a role's new scopes, written through A, decide
// B's next verification at once.
func TestOwnerAndRoleChangesReachEveryInstance(t *testing.T) {
	back, clk, bus := &recordBackend{backend: newBackend()}, testkit.NewClock(t0), cache.NewLocalBus()
	a := newRecordEnv(t, back, clk, bus)
	b := newRecordEnv(t, back, clk, bus)
	ctx := context.Background()
	if _, _, err := a.svc.PutOwner(ctx, "acme", keyward.OwnerParams{Remaining: keyward.Ptr[int64](1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"invoices:read"}}); err != nil {
		t.Fatal(err)
	}
	iss, err := a.svc.Create(ctx, keyward.CreateParams{Name: "k", Owner: "acme", Roles: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	need := keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{"invoices:read"}}
	verify := func(e *env, req keyward.VerifyRequest) keyward.Outcome {
		t.Helper()
		r, err := e.svc.Verify(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return r.Outcome
	}
	if o := verify(b, need); o != keyward.OutcomeValid {
		t.Fatalf("B, first use: %v", o)
	}
	if o := verify(b, need); o != keyward.OutcomeUsageExceeded {
		t.Fatalf("B, the owner's only credit spent: %v, want USAGE_EXCEEDED", o)
	}
	if _, err := a.svc.UpdateOwner(ctx, "acme", keyward.OwnerUpdate{Remaining: keyward.SetTo[int64](5)}); err != nil {
		t.Fatal(err)
	}
	if o := verify(b, need); o != keyward.OutcomeValid {
		t.Errorf("B after a top-up through A: %v, want VALID", o)
	}
	if _, _, err := a.svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"invoices:list"}}); err != nil {
		t.Fatal(err)
	}
	if o := verify(b, need); o != keyward.OutcomeInsufficientScope {
		t.Errorf("B after the role lost the scope through A: %v, want INSUFFICIENT_SCOPE", o)
	}
	before := back.roleGets.Load()
	for range 10 {
		verify(b, keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{"invoices:list"}, Cost: keyward.Ptr[int64](0)})
	}
	if n := back.roleGets.Load() - before; n > 1 {
		t.Errorf("10 verifications read the role %d times from the store, want at most 1 (cached)", n)
	}
}

// benchOwnerEnv is a key with a role and two limits of its own, whose owner
// has two shared limits (and credits when credits is true), behind the cache.
func benchOwnerEnv(b *testing.B, credits bool) (*keyward.Service, keyward.VerifyRequest) {
	svc, req, _ := benchOwnerEnvClock(b, credits)
	return svc, req
}

// benchOwnerEnvClock is benchOwnerEnv with the clock of the cache and the
// Service.
func benchOwnerEnvClock(b *testing.B, credits bool) (*keyward.Service, keyward.VerifyRequest, *testkit.Clock) {
	back := &recordBackend{backend: newBackend()}
	clk := testkit.NewClock(t0)
	c, err := cache.New(back, &cache.Options{Now: clk.Now, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	svc := testkit.NewService(b, c, hasher(b), &keyward.Options{Now: clk.Now, Limiter: ratelimit.NewLocal()})
	ctx := context.Background()
	big := func(name string, d time.Duration) keyward.NamedRateLimit {
		return keyward.NamedRateLimit{Name: name, Limit: 1 << 40, Period: keyward.Duration(d)}
	}
	op := keyward.OwnerParams{RateLimits: []keyward.NamedRateLimit{big("minute", time.Minute), big("daily", 24*time.Hour)}}
	if credits {
		op.Remaining = keyward.Ptr[int64](1 << 40)
	}
	if _, _, err := svc.PutOwner(ctx, "acme", op); err != nil {
		b.Fatal(err)
	}
	if _, _, err := svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"invoices:read"}}); err != nil {
		b.Fatal(err)
	}
	iss, err := svc.Create(ctx, keyward.CreateParams{
		Name: "bench", Owner: "acme", Roles: []string{"reader"},
		RateLimits: []keyward.NamedRateLimit{big("burst", time.Second), big("hourly", time.Hour)},
	})
	if err != nil {
		b.Fatal(err)
	}
	req := keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{"invoices:read"}}
	if r, err := svc.Verify(ctx, req); err != nil || !r.Valid() {
		b.Fatal(r.Outcome, err)
	}
	return svc, req, clk
}

// BenchmarkVerifyCacheHitOwnerRolesLimits: the reference key (a
// role, two key limits, an owner with two shared limits) without credits;
// compare with BenchmarkVerifyCacheHit.
func BenchmarkVerifyCacheHitOwnerRolesLimits(b *testing.B) {
	svc, req := benchOwnerEnv(b, false)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := svc.Verify(ctx, req); !r.Valid() {
			b.Fatal(r.Outcome)
		}
	}
}

// BenchmarkVerifyCacheHitOwnerCredits adds the owner's credits, for a busy
// key: before the timing the clock moves 10 µs a verification (100,000 a
// second) for 200 ms, so that the credits come from a lease
// (credit_leases.go), as they do for a busy key in production; then it
// stands still, as in the other benchmarks (a lease holds half a second of
// that demand, and the next is sized from it too).
func BenchmarkVerifyCacheHitOwnerCredits(b *testing.B) {
	svc, req, clk := benchOwnerEnvClock(b, true)
	ctx := context.Background()
	for range 20_000 {
		clk.Add(10 * time.Microsecond)
		svc.Verify(ctx, req)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := svc.Verify(ctx, req); !r.Valid() {
			b.Fatal(r.Outcome)
		}
	}
}

// BenchmarkVerifyCacheHitOwnerCreditsQuiet is the same key on a clock that
// stands still: a quiet key, whose every spend is one atomic write in the
// store (here the memory store).
func BenchmarkVerifyCacheHitOwnerCreditsQuiet(b *testing.B) {
	svc, req := benchOwnerEnv(b, true)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := svc.Verify(ctx, req); !r.Valid() {
			b.Fatal(r.Outcome)
		}
	}
}

// TestCostZeroReportsCreditsFromTheStore: credits are never cached, so a
// check that spends nothing reports the balance after earlier spends.
func TestCostZeroReportsCreditsFromTheStore(t *testing.T) {
	back := &recordBackend{backend: newBackend()}
	e := newRecordEnv(t, back, testkit.NewClock(t0), cache.NewLocalBus())
	ctx := context.Background()
	if _, _, err := e.svc.PutOwner(ctx, "acme", keyward.OwnerParams{Remaining: keyward.Ptr[int64](5)}); err != nil {
		t.Fatal(err)
	}
	iss, err := e.svc.Create(ctx, keyward.CreateParams{Name: "k", Owner: "acme", Remaining: keyward.Ptr[int64](10)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if o := e.verify(t, iss.Secret); o != keyward.OutcomeValid {
			t.Fatal(o)
		}
	}
	r, err := e.svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret, Cost: keyward.Ptr[int64](0)})
	if err != nil || r.Remaining != 8 || r.OwnerRemaining != 3 {
		t.Errorf("cost 0 after two spends: key %d, owner %d, %v; want 8 and 3", r.Remaining, r.OwnerRemaining, err)
	}
}

// TestRecordsEpochMovesOnDropsAndPeriods: the epoch that lets a key's
// verifications reuse its owner record and roles moves when a record is
// dropped (a write through this cache) and when the clock enters the next
// period (half of RefreshAhead), and stays put otherwise.
func TestRecordsEpochMovesOnDropsAndPeriods(t *testing.T) {
	back, clk := &recordBackend{backend: newBackend()}, testkit.NewClock(t0)
	c, err := cache.New(back, &cache.Options{Now: clk.Now, TTL: 40 * time.Second}) // RefreshAhead 10s: periods of 5s
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	svc := testkit.NewService(t, c, hasher(t), &keyward.Options{Now: clk.Now})
	e0 := c.RecordsEpoch(time.Time{})
	if e := c.RecordsEpoch(time.Time{}); e != e0 {
		t.Fatalf("the epoch moved with nothing happening: %+v, then %+v", e0, e)
	}
	if _, _, err := svc.PutRole(context.Background(), "reader", keyward.RoleParams{Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	e1 := c.RecordsEpoch(time.Time{})
	if e1 == e0 || e1.Period != e0.Period {
		t.Fatalf("a role written: epoch %+v, then %+v; want more changes in the same period", e0, e1)
	}
	clk.Add(5 * time.Second)
	if e2 := c.RecordsEpoch(time.Time{}); e2.Period != e1.Period+1 || e2.Changes != e1.Changes {
		t.Fatalf("5s later: epoch %+v, then %+v; want the next period and no change", e1, e2)
	}
}
