package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testFreshKeys: a store that says its key reads return new instances
// (keyward.FreshKeyReader) hands out, from Get and RecentKeys, keys that
// share nothing changeable with each other or with the store: a caller
// that writes into every slice and pointer of one changes no other read.
func testFreshKeys(t *testing.T, s keyward.Store) {
	if f, ok := s.(keyward.FreshKeyReader); !ok || !f.ReturnsFreshKeys() {
		t.Skipf("%T does not say its key reads return new instances (keyward.FreshKeyReader, optional)", s)
	}
	ctx := context.Background()
	full := sample(t, "full", base)
	full.LastUsedAt = keyward.Ptr(base.Add(time.Minute))
	full.ReplacedBy, full.Replaces = keyward.Ptr(newID(t)), keyward.Ptr(newID(t))
	mustCreate(t, s, full)
	want := mustGet(t, s, full.ID)
	got := mustGet(t, s, full.ID)
	if got == want {
		t.Fatal("two Gets returned the same instance")
	}
	scribble(got)
	equalKeys(t, mustGet(t, s, full.ID), want)

	rk, ok := s.(keyward.RecentKeys)
	if !ok {
		return
	}
	minute := base.Add(1000 * time.Hour).Truncate(time.Minute)
	if err := s.RecordUsage(ctx, keyward.UsageBatch{Counts: []keyward.UsageCount{
		{KeyID: full.ID, Start: minute, Outcome: keyward.OutcomeValid, Count: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	recent := func() *keyward.Key {
		t.Helper()
		var found *keyward.Key
		if err := rk.RecentKeys(ctx, minute, 0, func(k *keyward.Key) error {
			if k.ID == full.ID {
				found = k
			}
			return nil
		}); err != nil || found == nil {
			t.Fatalf("RecentKeys: key found %v, err %v", found != nil, err)
		}
		return found
	}
	first := recent()
	want = recent()
	if first == want {
		t.Fatal("two passes of RecentKeys returned the same instance")
	}
	scribble(first)
	equalKeys(t, recent(), want)
	if g := mustGet(t, s, full.ID); g.Name != want.Name || g.Scopes[0] != want.Scopes[0] || *g.Remaining != *want.Remaining {
		t.Errorf("a key from RecentKeys shares memory with Get's: %+v", g)
	}
}

// scribble writes into every slice element and pointer target of k that is
// set.
func scribble(k *keyward.Key) {
	for i := range k.Scopes {
		k.Scopes[i] = "scribbled"
	}
	for i := range k.Metadata {
		k.Metadata[i] = ' '
	}
	for i := range k.AllowedCIDRs {
		k.AllowedCIDRs[i] = "0.0.0.0/0"
	}
	for i := range k.RateLimits {
		k.RateLimits[i].Limit = -1
	}
	for i := range k.Roles {
		k.Roles[i] = "scribbled"
	}
	for _, p := range []*time.Time{k.ExpiresAt, k.LastUsedAt, k.RevokedAt, k.RefilledAt} {
		if p != nil {
			*p = time.Time{}
		}
	}
	for _, p := range []*string{k.ReplacedBy, k.Replaces} {
		if p != nil {
			*p = "scribbled"
		}
	}
	if k.RateLimit != nil {
		k.RateLimit.Limit = -1
	}
	if k.Remaining != nil {
		*k.Remaining = -1
	}
	if k.Refill != nil {
		k.Refill.Amount = -1
	}
}
