package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testRecentKeys: the keys with usage counts in the minute of since or
// later, each once whatever its rows, as Get returns them; not a key used
// before, never used, or deleted; the ones used last under a limit; fn's
// error ends the pass.
func testRecentKeys(t *testing.T, s keyward.Store) {
	rk, ok := s.(keyward.RecentKeys)
	if !ok {
		t.Skipf("%T does not implement keyward.RecentKeys (optional; every store of this module does)", s)
	}
	ctx := context.Background()
	now := base.Add(1000 * time.Hour) // clear of the other clauses' usage
	minute := now.Truncate(time.Minute)
	mk := func(name string) *keyward.Key {
		k := plain(t, name, now.Add(-48*time.Hour))
		mustCreate(t, s, k)
		return k
	}
	old, recent, last, unused, gone := mk("used before"), mk("used lately"), mk("used last"), mk("never used"), mk("deleted")
	counts := []keyward.UsageCount{
		{KeyID: old.ID, Start: minute.Add(-10 * time.Minute), Outcome: keyward.OutcomeValid, Count: 5},
		{KeyID: recent.ID, Start: minute.Add(-10 * time.Minute), Outcome: keyward.OutcomeValid, Count: 1},
		{KeyID: recent.ID, Start: minute.Add(-2 * time.Minute), Outcome: keyward.OutcomeValid, Count: 3},
		{KeyID: recent.ID, Start: minute.Add(-2 * time.Minute), Outcome: keyward.OutcomeNotFound, Count: 1},
		{KeyID: last.ID, Start: minute, Outcome: keyward.OutcomeRateLimited, Count: 2},
		{KeyID: gone.ID, Start: minute, Outcome: keyward.OutcomeValid, Count: 1},
	}
	if err := s.RecordUsage(ctx, keyward.UsageBatch{Counts: counts}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, gone.ID, nil); err != nil {
		t.Fatal(err)
	}
	read := func(since time.Time, limit int) []string {
		t.Helper()
		var ids []string
		err := rk.RecentKeys(ctx, since, limit, func(k *keyward.Key) error {
			if want := mustGet(t, s, k.ID); k.Name != want.Name || k.Hash != want.Hash || !k.CreatedAt.Equal(want.CreatedAt) {
				t.Errorf("RecentKeys gave %+v; Get gives %+v", k, want)
			}
			ids = append(ids, k.ID)
			return nil
		})
		if err != nil {
			t.Fatalf("RecentKeys(%v, %d): %v", since, limit, err)
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	for _, c := range []struct {
		name  string
		since time.Time
		limit int
		want  []string
	}{
		{"five minutes", now.Add(-5 * time.Minute), 0, sorted(recent.ID, last.ID)},
		{"since late in a minute with counts", minute.Add(-2*time.Minute + 50*time.Second), 0, sorted(recent.ID, last.ID)},
		{"since the minute after", minute.Add(-time.Minute), 0, sorted(last.ID)},
		{"an hour", now.Add(-time.Hour), 0, sorted(old.ID, recent.ID, last.ID)},
		{"the one used last", now.Add(-time.Hour), 1, sorted(last.ID)},
		{"the two used last", now.Add(-time.Hour), 2, sorted(recent.ID, last.ID)},
		{"nothing since", now.Add(time.Minute), 0, nil},
	} {
		if got := read(c.since, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("%s: RecentKeys gave %v; want %v (old %s, recent %s, last %s, unused %s)", c.name, got, c.want, old.ID, recent.ID, last.ID, unused.ID)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := rk.RecentKeys(ctx, now.Add(-time.Hour), 0, func(*keyward.Key) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("RecentKeys with fn failing: %v after %d calls; want fn's error after 1", err, calls)
	}
}
