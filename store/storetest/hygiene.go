package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// checkFilter states that f selects exactly want (newest first), that
// pages of two by cursor give the same keys, and that CountKeys agrees.
func checkFilter(t *testing.T, s keyward.Store, f keyward.ListFilter, want ...*keyward.Key) {
	t.Helper()
	ctx := context.Background()
	names := func(ks []*keyward.Key) []string {
		out := []string{}
		for _, k := range ks {
			out = append(out, k.Name)
		}
		return out
	}
	got, err := s.List(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := names(got), names(want); !slices.Equal(g, w) {
		t.Errorf("List = %q, want %q", g, w)
	}
	var paged []*keyward.Key
	pf := f
	pf.Limit = 2
	for range len(want) + 1 {
		page, err := s.List(ctx, pf)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if len(page) < pf.Limit {
			break
		}
		last := page[len(page)-1]
		pf.After = &keyward.ListCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if g, w := names(paged), names(want); !slices.Equal(g, w) {
		t.Errorf("List by pages of 2 = %q, want %q", g, w)
	}
	cf := f
	cf.After, cf.Limit = &keyward.ListCursor{CreatedAt: base, ID: newID(t)}, 1 // ignored by CountKeys
	if n, err := s.CountKeys(ctx, cf); err != nil || n != int64(len(want)) {
		t.Errorf("CountKeys = %d, %v; want %d", n, err, len(want))
	}
}

// testListUnusedSince: the keys created before the cut and not used since,
// around both boundaries, whether last_used_at was stored with the key or
// moved by RecordUsage or Update; with the cut in the middle of a day and at
// midnight (UTC), where just before is the day before.
func testListUnusedSince(t *testing.T, s keyward.Store) {
	for _, cut := range []time.Time{base.Add(90 * 24 * time.Hour), base.Add(90 * 24 * time.Hour).Truncate(24 * time.Hour)} {
		t.Run(cut.Format("15:04:05.000"), func(t *testing.T) { unusedSince(t, s, cut) })
	}
}

func unusedSince(t *testing.T, s keyward.Store, cut time.Time) {
	ctx := context.Background()
	now := cut.Add(90 * 24 * time.Hour)
	ms := time.Millisecond
	owner := cut.String() // each cut's keys apart
	key := func(name string, created time.Time, used *time.Time) *keyward.Key {
		k := plain(t, name, created)
		k.Owner, k.LastUsedAt = owner, used
		mustCreate(t, s, k)
		return k
	}
	// Keys are listed newest first: create them oldest first.
	usedBefore := key("created long before, used just before the cut", cut.Add(-48*time.Hour), keyward.Ptr(cut.Add(-ms)))
	usedAt := key("created long before, used at the cut", cut.Add(-47*time.Hour), keyward.Ptr(cut))
	key("created long before, used after the cut", cut.Add(-46*time.Hour), keyward.Ptr(cut.Add(ms)))
	recorded := key("created long before, use recorded after the cut", cut.Add(-45*time.Hour), nil)
	updated := key("created long before, last use updated to the cut", cut.Add(-44*time.Hour), keyward.Ptr(cut.Add(-30*time.Hour)))
	neverBefore := key("never used, created just before the cut", cut.Add(-ms), nil)
	atCut := key("never used, created at the cut", cut, nil)
	afterCut := key("never used, created just after the cut", cut.Add(ms), nil)
	if err := s.RecordUsage(ctx, keyward.UsageBatch{LastUsed: map[string]time.Time{recorded.ID: cut.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, updated.ID, func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.LastUsedAt = keyward.Ptr(cut)
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Run("unused since", func(t *testing.T) {
		checkFilter(t, s, keyward.ListFilter{UnusedSince: cut, Owner: owner, Now: now}, neverBefore, usedBefore)
	})
	t.Run("never used", func(t *testing.T) {
		checkFilter(t, s, keyward.ListFilter{NeverUsed: true, Owner: owner, Now: now}, afterCut, atCut, neverBefore)
	})
	t.Run("unused since a millisecond later", func(t *testing.T) {
		checkFilter(t, s, keyward.ListFilter{UnusedSince: cut.Add(ms), Owner: owner, Now: now}, atCut, neverBefore, updated, usedAt, usedBefore)
	})
	t.Run("with status", func(t *testing.T) {
		checkFilter(t, s, keyward.ListFilter{UnusedSince: cut, Owner: owner, Status: keyward.StatusActive, Now: now}, neverBefore, usedBefore)
		checkFilter(t, s, keyward.ListFilter{UnusedSince: cut, Owner: owner, Status: keyward.StatusRevoked, Now: now})
	})
}

// testListExpiresBy: the keys that expire after now and at or before the
// end of the window, around both boundaries.
func testListExpiresBy(t *testing.T, s keyward.Store) {
	now := base.Add(time.Hour)
	by := now.Add(7 * 24 * time.Hour)
	ms := time.Millisecond
	i := 0
	key := func(name string, exp *time.Time) *keyward.Key {
		k := plain(t, name, base.Add(time.Duration(i)*time.Second))
		i++
		k.ExpiresAt = exp
		mustCreate(t, s, k)
		return k
	}
	key("expired just before now", keyward.Ptr(now.Add(-ms)))
	key("expires at now (expired)", keyward.Ptr(now))
	justAfterNow := key("expires just after now", keyward.Ptr(now.Add(ms)))
	beforeEnd := key("expires just before the end", keyward.Ptr(by.Add(-ms)))
	atEnd := key("expires at the end", keyward.Ptr(by))
	key("expires just after the end", keyward.Ptr(by.Add(ms)))
	none := key("never expires", nil)
	revoked := key("revoked, expires within", keyward.Ptr(now.Add(time.Hour)))
	if _, err := s.Update(context.Background(), revoked.ID, func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.RevokedAt = keyward.Ptr(base)
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Run("expires by", func(t *testing.T) {
		checkFilter(t, s, keyward.ListFilter{ExpiresBy: by, Now: now}, revoked, atEnd, beforeEnd, justAfterNow)
	})
	t.Run("active, expires by", func(t *testing.T) {
		checkFilter(t, s, keyward.ListFilter{ExpiresBy: by, Status: keyward.StatusActive, Now: now}, atEnd, beforeEnd, justAfterNow)
	})
	t.Run("no expiry", func(t *testing.T) {
		checkFilter(t, s, keyward.ListFilter{NoExpiry: true, Now: now}, none)
	})
	t.Run("expires by and unused since", func(t *testing.T) {
		checkFilter(t, s, keyward.ListFilter{ExpiresBy: by, UnusedSince: base.Add(5 * time.Second), Now: now}, atEnd, beforeEnd, justAfterNow)
	})
}
