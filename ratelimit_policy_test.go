package keyward_test

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

// TestRateLimitPolicyBuiltOncePerCachedKey: the RateLimit-Policy value
// names every limit checked in the contract's form, and verifications of a
// cached key share one built value.
func TestRateLimitPolicyBuiltOncePerCachedKey(t *testing.T) {
	c, err := cache.New(memory.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	svc := testkit.NewService(t, c, nil, &keyward.Options{Limiter: ratelimit.NewLocal()})
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
