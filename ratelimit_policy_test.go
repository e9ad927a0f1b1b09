package keyward_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

// cachedService is a Service on cache.Store over the memory store, as
// keyward serve has it: the records it verifies are cached instances.
func cachedService(t *testing.T) (*keyward.Service, *cache.Store) {
	t.Helper()
	c, err := cache.New(memory.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return testkit.NewService(t, c, nil, &keyward.Options{Limiter: ratelimit.NewLocal()}), c
}

// TestRateLimitPolicyBuiltOncePerCachedKey: the RateLimit-Policy value
// names every limit checked in the contract's form, and verifications of a
// cached key share one built value.
func TestRateLimitPolicyBuiltOncePerCachedKey(t *testing.T) {
	svc, _ := cachedService(t)
	ctx := context.Background()
	if _, _, err := svc.PutOwner(ctx, "acme", keyward.OwnerParams{
		RateLimits: []keyward.NamedRateLimit{{Name: "daily", Limit: 10000, Period: keyward.Duration(24 * time.Hour)}},
	}); err != nil {
		t.Fatal(err)
	}
	iss, err := svc.Create(ctx, keyward.CreateParams{
		Name: "k", Owner: "acme",
		RateLimit:  &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)},
		RateLimits: []keyward.NamedRateLimit{{Name: "burst", Limit: 10, Period: keyward.Duration(1500 * time.Millisecond)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for i := range 2 {
		r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
		if err != nil || !r.Valid() {
			t.Fatalf("verification %d: %v, %v", i, r.Outcome, err)
		}
		got := r.RateLimitPolicy()
		if want := `"key";q=100;w=60, "burst";q=10;w=2, "owner.daily";q=10000;w=86400`; got != want {
			t.Fatalf("RateLimitPolicy() = %s, want %s", got, want)
		}
		if i == 0 {
			first = got
		} else if unsafe.StringData(got) != unsafe.StringData(first) {
			t.Error("the second verification of a cached key built the policy again")
		}
	}
	var none keyward.Result
	if p := none.RateLimitPolicy(); p != "" {
		t.Errorf("a result without limits: RateLimitPolicy() = %q, want \"\"", p)
	}
}

// TestRefreshCreditsOfARefusedCheck: a check that fails before the credits
// reports the balances of the cached records, which the spends since have
// left behind; RefreshCredits reads them as they are, without spending.
// The credits_exhausted events show the balance the refusal saw.
func TestRefreshCreditsOfARefusedCheck(t *testing.T) {
	svc, c := cachedService(t)
	ctx := context.Background()
	if _, _, err := svc.PutOwner(ctx, "acme", keyward.OwnerParams{Remaining: keyward.Ptr[int64](10)}); err != nil {
		t.Fatal(err)
	}
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "k", Owner: "acme", Scopes: []string{"a"}, Remaining: keyward.Ptr[int64](5)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret}); err != nil || !r.Valid() {
			t.Fatalf("verify: %v %v", r.Outcome, err)
		}
	}
	r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{"z"}})
	if err != nil || r.Outcome != keyward.OutcomeInsufficientScope {
		t.Fatalf("verify with another scope: %v %v", r.Outcome, err)
	}
	if err := svc.RefreshCredits(ctx, &r); err != nil || r.Remaining != 3 || r.OwnerRemaining != 8 {
		t.Errorf("refreshed: key %d, owner %d, %v; want 3 and 8", r.Remaining, r.OwnerRemaining, err)
	}
	if k, _ := svc.Get(ctx, iss.Key.ID); *k.Remaining != 3 {
		t.Errorf("the refresh spent credits: %d left, want 3", *k.Remaining)
	}
	// The key's last three credits, then a refusal: its event shows 0 left,
	// not the 5 of the cached record.
	catchAll(t, svc)
	for range 4 {
		svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
	}
	if err := svc.Close(ctx); err != nil { // writes the queued alerts
		t.Fatal(err)
	}
	var exhausted []string
	for _, ev := range outboxOf(t, c, time.Now()) {
		if ev.Type == keyward.EventKeyCreditsExhausted {
			exhausted = append(exhausted, string(ev.Data))
		}
	}
	if len(exhausted) != 1 || !strings.Contains(exhausted[0], `"remaining":0`) {
		t.Errorf("key.credits_exhausted events: %q, want one with remaining 0", exhausted)
	}
}
