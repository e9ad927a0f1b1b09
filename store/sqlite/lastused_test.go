package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/sqlite"
)

// A usage flush writes a key's row at the key's first use of a day and
// keeps the day's later uses beside their counts; a use without a count, a
// new day and a new Store write the row again, unless that Store read the
// key first and so knows its row holds the day. (storetest's
// LastUsedWithCounts checks that reads see every use either way.)
func TestKeyRowWrittenOncePerDay(t *testing.T) {
	ctx := context.Background()
	path, s, raw := openRaw(t)
	k := createPlain(t, s, "kwlastused0001")
	minute := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	use := func(s *sqlite.Store, at time.Time, withCount bool) {
		t.Helper()
		b := keyward.UsageBatch{LastUsed: map[string]time.Time{k.ID: at}}
		if withCount {
			b.Counts = []keyward.UsageCount{{KeyID: k.ID, Start: at.Truncate(time.Minute), Outcome: keyward.OutcomeValid, Count: 1}}
		}
		if err := s.RecordUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	row := func(step string, want time.Time) {
		t.Helper()
		var got int64
		if err := raw.QueryRow(`SELECT last_used_at FROM keys WHERE id = ?`, k.ID).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want.UnixMilli() {
			t.Errorf("%s: the key row holds %v, want %v", step, time.UnixMilli(got).UTC(), want)
		}
	}
	first := minute.Add(time.Second)
	use(s, first, true)
	row("first use", first)
	use(s, minute.Add(2*time.Second), true)
	use(s, minute.Add(3*time.Minute), true)
	row("later uses of the day", first)
	noCount := minute.Add(4 * time.Minute)
	use(s, noCount, false)
	row("a use without a count", noCount)
	use(s, minute.Add(5*time.Minute), true)
	row("a use with a count again", noCount)
	s2 := open(t, path)
	again := minute.Add(6 * time.Minute)
	use(s2, again, true)
	row("the first use through a new Store", again)
	nextDay := minute.Add(24 * time.Hour)
	use(s2, nextDay, true)
	row("the next day", nextDay)
	if got := mustGetKey(t, s2, k.ID).LastUsedAt; got == nil || !got.Equal(nextDay) {
		t.Errorf("Get: last_used_at %v, want %v", got, nextDay)
	}
	use(s2, nextDay.Add(time.Minute), true)
	if got := mustGetKey(t, s2, k.ID).LastUsedAt; got == nil || !got.Equal(nextDay.Add(time.Minute)) {
		t.Errorf("Get: last_used_at %v, want %v", got, nextDay.Add(time.Minute))
	}
	// A new Store that read the key first (a cache's miss, or its warm at
	// start) knows the row holds a use of the day: no write for another.
	s3 := open(t, path)
	mustGetKey(t, s3, k.ID)
	use(s3, nextDay.Add(2*time.Minute), true)
	row("a use of the day through a new Store that read the key first", nextDay)
	s4 := open(t, path)
	if err := s4.RecentKeys(ctx, nextDay, 0, func(*keyward.Key) error { return nil }); err != nil {
		t.Fatal(err)
	}
	use(s4, nextDay.Add(3*time.Minute), true)
	row("a use of the day through a new Store that read the keys in use", nextDay)
	if got := mustGetKey(t, s4, k.ID).LastUsedAt; got == nil || !got.Equal(nextDay.Add(3*time.Minute)) {
		t.Errorf("Get: last_used_at %v, want %v (from the count rows)", got, nextDay.Add(3*time.Minute))
	}
}

func mustGetKey(t *testing.T, s *sqlite.Store, id string) *keyward.Key {
	t.Helper()
	k, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
