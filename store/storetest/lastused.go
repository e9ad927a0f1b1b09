package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testLastUsedWithCounts: a key's last use recorded beside its counts, as the
// Service's flushes send it, flush after flush in one minute, then behind a
// later minute whose counts moved no last use (a wrong secret), an older use
// arriving late, and a use on the next day: Get, List and the unused-since
// filter see the newest use each time. (A store may keep the uses of one day
// beside the counts instead of in the key; this is what it must read back.)
func testLastUsedWithCounts(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	k := plain(t, "used with counts", base.Add(-48*time.Hour))
	k.Owner = "last-used-with-counts"
	mustCreate(t, s, k)
	minute := base.Truncate(time.Minute)
	flush := func(o keyward.Outcome, start time.Time, used *time.Time) {
		t.Helper()
		b := keyward.UsageBatch{Counts: []keyward.UsageCount{{KeyID: k.ID, Start: start, Outcome: o, Count: 1}}}
		if used != nil {
			b.LastUsed = map[string]time.Time{k.ID: *used}
		}
		if err := s.RecordUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	want := func(step string, at time.Time) {
		t.Helper()
		got, err := s.Get(keyward.NewFreshContext(ctx), k.ID) // a decorator may keep a copy
		if err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
			t.Errorf("%s: fresh Get: %v, %v; want last_used_at %v", step, got, err, at)
		}
		list, err := s.List(ctx, keyward.ListFilter{Owner: k.Owner, Now: at})
		if err != nil || len(list) != 1 || list[0].LastUsedAt == nil || !list[0].LastUsedAt.Equal(at) {
			t.Errorf("%s: List: %v, %v; want the key last used at %v", step, list, err, at)
		}
		for _, c := range []struct {
			cut    time.Time
			unused bool
		}{{at, false}, {at.Add(time.Millisecond), true}} {
			got, err := s.List(ctx, keyward.ListFilter{Owner: k.Owner, UnusedSince: c.cut, Now: at})
			if err != nil || (len(got) == 1) != c.unused {
				t.Errorf("%s: unused since %v: %d keys, %v; want unused %v", step, c.cut, len(got), err, c.unused)
			}
		}
	}
	first, second := minute.Add(10*time.Second), minute.Add(20*time.Second)
	flush(keyward.OutcomeValid, minute, &first)
	want("first use", first)
	flush(keyward.OutcomeValid, minute, &second)
	want("a later use in the same minute", second)
	flush(keyward.OutcomeNotFound, minute.Add(time.Minute), nil)
	want("a later minute without a use", second)
	older := minute.Add(5 * time.Second)
	flush(keyward.OutcomeRateLimited, minute, &older)
	want("an older use arriving late", second)
	next := minute.Add(24*time.Hour + 3*time.Second)
	flush(keyward.OutcomeValid, next.Truncate(time.Minute), &next)
	want("the next day", next)
}

// testUsageLargeBatch: one flush of 450 keys' counts (more than a store may
// write in one statement), two rows of one key, minute and outcome that
// differ by owner (its owner changed within the minute), and owners shared
// by many keys: every key's and every owner's counts add up.
func testUsageLargeBatch(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	minute := base.Truncate(time.Minute)
	owners := []string{"large-batch-a", "large-batch-b", ""}
	var b keyward.UsageBatch
	wantOwner := map[string]int64{}
	ids := make([]string, 450)
	for i := range ids {
		ids[i] = fmt.Sprintf("kwlargebatch%04d", i)
		o := owners[i%len(owners)]
		b.Counts = append(b.Counts, keyward.UsageCount{KeyID: ids[i], Owner: o, Start: minute, Outcome: keyward.OutcomeValid, Count: int64(i + 1)})
		wantOwner[o] += int64(i + 1)
	}
	// The first key's owner changed within the minute: a second row.
	b.Counts = append(b.Counts, keyward.UsageCount{KeyID: ids[0], Owner: "large-batch-b", Start: minute, Outcome: keyward.OutcomeValid, Count: 1000})
	wantOwner["large-batch-b"] += 1000
	if err := s.RecordUsage(ctx, b); err != nil {
		t.Fatal(err)
	}
	q := keyward.UsageQuery{From: minute, To: minute.Add(time.Minute), Bucket: time.Minute}
	for i, id := range ids {
		q.KeyID = id
		got, err := s.Usage(ctx, q)
		want := int64(i + 1)
		if i == 0 {
			want += 1000
		}
		if err != nil || len(got) != 1 || got[0].Count != want {
			t.Fatalf("key %d: usage %+v, %v; want one count of %d", i, got, err, want)
		}
	}
	q.KeyID = ""
	for _, o := range owners[:2] {
		q.Owner = o
		got, err := s.Usage(ctx, q)
		if err != nil || len(got) != 1 || got[0].Count != wantOwner[o] {
			t.Errorf("owner %s: usage %+v, %v; want one count of %d", o, got, err, wantOwner[o])
		}
	}
}
