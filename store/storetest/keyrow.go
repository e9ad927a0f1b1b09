package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// KeyRowWrittenOncePerDay checks the write scheme of the SQL stores' usage
// flushes: a flush writes a key's row at the key's first use of a day and
// keeps the day's later uses beside their counts; a use without a count, a
// new day and a new Store write the row again, unless that Store read the
// key first (by Get or keyward.RecentKeys) and so knows its row holds the
// day. open returns a new Store on one database, the same each call; row
// reads the key row's own last_used_at, nil for none. (The LastUsedWithCounts
// clause of Run checks that reads see every use either way.)
func KeyRowWrittenOncePerDay(t *testing.T, open func(t *testing.T) keyward.Store, row func(t *testing.T, id string) *time.Time) {
	ctx := context.Background()
	s := open(t)
	k := plain(t, "written once a day", base.Add(-48*time.Hour))
	mustCreate(t, s, k)
	minute := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	use := func(s keyward.Store, at time.Time, withCount bool) {
		t.Helper()
		b := keyward.UsageBatch{LastUsed: map[string]time.Time{k.ID: at}}
		if withCount {
			b.Counts = []keyward.UsageCount{{KeyID: k.ID, Start: at.Truncate(time.Minute), Outcome: keyward.OutcomeValid, Count: 1}}
		}
		if err := s.RecordUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	holds := func(step string, want time.Time) {
		t.Helper()
		if got := row(t, k.ID); got == nil || !got.Equal(want) {
			t.Errorf("%s: the key row holds %v, want %v", step, got, want)
		}
	}
	reads := func(s keyward.Store, want time.Time) {
		t.Helper()
		got, err := s.Get(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(want) {
			t.Errorf("Get: last_used_at %v, want %v", got.LastUsedAt, want)
		}
	}
	first := minute.Add(time.Second)
	use(s, first, true)
	holds("first use", first)
	use(s, minute.Add(2*time.Second), true)
	use(s, minute.Add(3*time.Minute), true)
	holds("later uses of the day", first)
	reads(s, minute.Add(3*time.Minute))
	noCount := minute.Add(4 * time.Minute)
	use(s, noCount, false)
	holds("a use without a count", noCount)
	use(s, minute.Add(5*time.Minute), true)
	holds("a use with a count again", noCount)
	s2 := open(t)
	again := minute.Add(6 * time.Minute)
	use(s2, again, true)
	holds("the first use through a new Store", again)
	nextDay := minute.Add(24 * time.Hour)
	use(s2, nextDay, true)
	holds("the next day", nextDay)
	reads(s2, nextDay)
	use(s2, nextDay.Add(time.Minute), true)
	reads(s2, nextDay.Add(time.Minute))
	// A new Store that read the key first (a cache's miss, or its warm at
	// start) knows the row holds a use of the day: no write for another.
	s3 := open(t)
	reads(s3, nextDay.Add(time.Minute))
	use(s3, nextDay.Add(2*time.Minute), true)
	holds("a use of the day through a new Store that read the key first", nextDay)
	s4 := open(t)
	if rk, ok := s4.(keyward.RecentKeys); ok {
		if err := rk.RecentKeys(ctx, nextDay, 0, func(*keyward.Key) error { return nil }); err != nil {
			t.Fatal(err)
		}
		use(s4, nextDay.Add(3*time.Minute), true)
		holds("a use of the day through a new Store that read the keys in use", nextDay)
		reads(s4, nextDay.Add(3*time.Minute))
	}
}
