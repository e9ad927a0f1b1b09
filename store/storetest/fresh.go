package storetest

import (
	"context"
	"errors"
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

// testReloadKey: a store that reloads keys more cheaply than Get
// (keyward.KeyReloader) answers as Get does except for LastUsedAt, which is
// never later than Get's, never earlier than the key's first use of the day
// (what the key's own record holds), and exactly Get's while the key's
// latest use is of about the current minute.
func testReloadKey(t *testing.T, s keyward.Store) {
	r, ok := s.(keyward.KeyReloader)
	if !ok {
		t.Skipf("%T does not implement keyward.KeyReloader (optional)", s)
	}
	ctx := context.Background()
	full := sample(t, "reloaded", base.Add(-48*time.Hour))
	mustCreate(t, s, full)
	other := plain(t, "other", base.Add(-48*time.Hour))
	mustCreate(t, s, other)
	get := func() *keyward.Key { t.Helper(); return mustGet(t, s, full.ID) }
	reload := func() *keyward.Key {
		t.Helper()
		k, err := r.ReloadKey(ctx, full.ID)
		if err != nil {
			t.Fatalf("ReloadKey: %v", err)
		}
		return k
	}
	equalKeys(t, reload(), get())
	if _, err := r.ReloadKey(ctx, newID(t)); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("ReloadKey of an unknown id: %v, want ErrNotFound", err)
	}
	minute := base.Truncate(time.Minute)
	flush := func(id string, start time.Time, used *time.Time) {
		t.Helper()
		b := keyward.UsageBatch{Counts: []keyward.UsageCount{{KeyID: id, Start: start, Outcome: keyward.OutcomeValid, Count: 1}}}
		if used != nil {
			b.LastUsed = map[string]time.Time{id: *used}
		}
		if err := s.RecordUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	first, later := minute.Add(10*time.Second), minute.Add(time.Minute+20*time.Second)
	flush(full.ID, minute, &first)
	flush(full.ID, minute.Add(time.Minute), &later)
	if got := reload(); got.LastUsedAt == nil || !got.LastUsedAt.Equal(later) {
		t.Errorf("a use of the current minute: ReloadKey's last use %v, want %v", got.LastUsedAt, later)
	}
	// Later minutes of another key: a store may move the key's counts, and
	// its last use with them, into its history now.
	for i := range 3 {
		m := minute.Add(time.Duration(10+i) * time.Minute)
		flush(other.ID, m, keyward.Ptr(m))
	}
	g, rl := get(), reload()
	if g.LastUsedAt == nil || !g.LastUsedAt.Equal(later) {
		t.Fatalf("Get's last use %v, want %v", g.LastUsedAt, later)
	}
	if rl.LastUsedAt == nil || rl.LastUsedAt.Before(first) || rl.LastUsedAt.After(later) {
		t.Errorf("ReloadKey's last use %v, want between the day's first use %v and Get's %v", rl.LastUsedAt, first, later)
	}
	rl.LastUsedAt = g.LastUsedAt
	equalKeys(t, rl, g)
}
