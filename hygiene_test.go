package keyward_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// listIDs returns the ids List returns for p, newest first.
func (e *env) listIDs(tb testing.TB, p keyward.ListParams) []string {
	tb.Helper()
	page, err := e.svc.List(context.Background(), p)
	if err != nil {
		tb.Fatalf("List(%+v): %v", p, err)
	}
	ids := []string{}
	for _, k := range page.Items {
		ids = append(ids, k.ID)
	}
	return ids
}

// use verifies the key now and flushes its usage, so last_used_at is now.
func (e *env) use(tb testing.TB, iss keyward.Issued) {
	tb.Helper()
	if r := e.verify(tb, keyward.VerifyRequest{Key: iss.Secret}); !r.Valid() {
		tb.Fatalf("verify: %v", r.Outcome)
	}
	if err := e.svc.FlushUsage(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

func TestListUnusedForAroundTheBoundary(t *testing.T) {
	e := newEnv(t)
	const unused = 90 * day
	created := e.create(t, keyward.CreateParams{Name: "never used"})
	e.clock.Add(time.Hour)
	used := e.create(t, keyward.CreateParams{Name: "used"})
	e.use(t, used) // last used an hour after the first key was created
	p := keyward.ListParams{UnusedFor: unused}
	cases := []struct {
		at   time.Duration // after the first key's creation
		want []string
	}{
		{unused - time.Millisecond, []string{}},
		{unused, []string{}}, // created exactly 90 days ago: not older than that
		{unused + time.Millisecond, []string{created.Key.ID}},
		{unused + time.Hour, []string{created.Key.ID}}, // last used exactly 90 days ago
		{unused + time.Hour + time.Millisecond, []string{used.Key.ID, created.Key.ID}},
	}
	for _, tc := range cases {
		e.clock.Set(created.Key.CreatedAt.Add(tc.at))
		if got := e.listIDs(t, p); !slices.Equal(got, tc.want) {
			t.Errorf("at creation + %v: unused_for 90 days = %v, want %v", tc.at, got, tc.want)
		}
	}
	e.use(t, created)
	if got := e.listIDs(t, p); !slices.Equal(got, []string{used.Key.ID}) {
		t.Errorf("after using the first key: %v, want only the second", got)
	}
	if got := e.listIDs(t, keyward.ListParams{NeverUsed: true}); len(got) != 0 {
		t.Errorf("never used after both were used: %v", got)
	}
}

func TestListExpiresWithinAroundTheBoundary(t *testing.T) {
	e := newEnv(t)
	const within = 7 * day
	k := e.create(t, keyward.CreateParams{ExpiresIn: in(30 * day)})
	e.create(t, keyward.CreateParams{Name: "no expiry"})
	p := keyward.ListParams{ExpiresWithin: within}
	for _, tc := range []struct {
		before time.Duration // before the key's expiry
		want   bool
	}{
		{within + time.Millisecond, false},
		{within, true},
		{time.Millisecond, true},
		{0, false}, // expired
		{-time.Millisecond, false},
	} {
		e.clock.Set(k.Key.ExpiresAt.Add(-tc.before))
		got := e.listIDs(t, p)
		if want := tc.want; len(got) == 1 != want || want && got[0] != k.Key.ID {
			t.Errorf("%v before the expiry: expires_within 7 days = %v, want the key: %v", tc.before, got, want)
		}
	}
	for _, bad := range []keyward.ListParams{{UnusedFor: -time.Hour}, {ExpiresWithin: -time.Second}} {
		if _, err := e.svc.List(context.Background(), bad); !errors.Is(err, keyward.ErrInvalid) {
			t.Errorf("List(%+v): err = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestKeysBeyondTheMaximumAreListedNotChanged: a maximum set after keys were
// created leaves them as they are; the filters show them.
func TestKeysBeyondTheMaximumAreListedNotChanged(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	forever := e.create(t, keyward.CreateParams{Name: "forever"})
	e.clock.Add(time.Millisecond)
	long := e.create(t, keyward.CreateParams{Name: "a year", ExpiresIn: in(365 * day)})
	e.setPolicy(t, keyward.Policy{MaxKeyLifetime: lifetime(30 * day)})
	e.clock.Add(358 * day)
	for _, iss := range []keyward.Issued{forever, long} {
		k, err := e.svc.Get(ctx, iss.Key.ID)
		if err != nil || !equalTimes(k.ExpiresAt, iss.Key.ExpiresAt) {
			t.Errorf("%s: expiry changed by the policy to %v (%v)", iss.Key.Name, k.ExpiresAt, err)
		}
	}
	if got := e.listIDs(t, keyward.ListParams{NoExpiry: true}); !slices.Equal(got, []string{forever.Key.ID}) {
		t.Errorf("no expiry: %v, want the key created before the maximum", got)
	}
	if got := e.listIDs(t, keyward.ListParams{ExpiresWithin: 7 * day}); !slices.Equal(got, []string{long.Key.ID}) {
		t.Errorf("expiring within 7 days: %v, want the key of a year", got)
	}
	if got := e.listIDs(t, keyward.ListParams{UnusedFor: 90 * day, Status: keyward.StatusActive}); !slices.Equal(got, []string{long.Key.ID, forever.Key.ID}) {
		t.Errorf("active, unused for 90 days: %v, want both", got)
	}
	h, err := e.svc.Hygiene(ctx)
	want := keyward.Hygiene{NeverUsed: 2, Unused: 2, UnusedFor: keyward.Duration(90 * day), Expiring: 1, ExpiresWithin: keyward.Duration(7 * day), NoExpiry: 1}
	if err != nil || h != want {
		t.Errorf("Hygiene = %+v, %v; want %+v", h, err, want)
	}
	if r := e.verify(t, keyward.VerifyRequest{Key: forever.Secret}); !r.Valid() {
		t.Errorf("a key beyond the maximum stopped verifying: %v", r.Outcome)
	}
}

func TestHygieneCountsActiveKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create(t, keyward.CreateParams{Name: "never used, no expiry"})
	used := e.create(t, keyward.CreateParams{Name: "used", ExpiresIn: in(100 * day)})
	e.use(t, used)
	revoked := e.create(t, keyward.CreateParams{Name: "revoked"})
	if _, err := e.svc.Revoke(ctx, revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	e.create(t, keyward.CreateParams{Name: "disabled", Enabled: keyward.Ptr(false)})
	e.create(t, keyward.CreateParams{Name: "expires soon", ExpiresIn: in(day)})
	h, err := e.svc.Hygiene(ctx)
	want := keyward.Hygiene{NeverUsed: 2, UnusedFor: keyward.Duration(90 * day), ExpiresWithin: keyward.Duration(7 * day), Expiring: 1, NoExpiry: 1}
	if err != nil || h != want {
		t.Errorf("Hygiene = %+v, %v; want %+v", h, err, want)
	}
	e.clock.Add(93 * day)
	h, _ = e.svc.Hygiene(ctx)
	want = keyward.Hygiene{NeverUsed: 1, Unused: 2, UnusedFor: keyward.Duration(90 * day), ExpiresWithin: keyward.Duration(7 * day), Expiring: 1, NoExpiry: 1}
	if h != want {
		t.Errorf("93 days later: Hygiene = %+v; want %+v", h, want)
	}
}

func equalTimes(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}
