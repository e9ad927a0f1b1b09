package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testSpendCredits(t *testing.T, s keyward.Store) {
	k := plain(t, "credits", base)
	k.Remaining = keyward.Ptr[int64](5)
	mustCreate(t, s, k)
	steps := []struct {
		cost  int64
		left  int64
		spent bool
	}{{2, 3, true}, {3, 0, true}, {1, 0, false}, {0, 0, true}}
	for i, st := range steps {
		left, spent, err := spend(s, k.ID, st.cost, base)
		if err != nil || left != st.left || spent != st.spent {
			t.Fatalf("step %d: SpendCredits(cost %d) = %d, %v, %v; want %d, %v", i, st.cost, left, spent, err, st.left, st.spent)
		}
	}
	if got := mustGet(t, s, k.ID); got.Remaining == nil || *got.Remaining != 0 {
		t.Errorf("stored remaining = %v, want 0", got.Remaining)
	}
	unlimited := plain(t, "unlimited", base)
	mustCreate(t, s, unlimited)
	if left, spent, err := spend(s, unlimited.ID, 7, base); left != -1 || !spent || err != nil {
		t.Errorf("SpendCredits on an unlimited key = %d, %v, %v; want -1, true, nil", left, spent, err)
	}
	if _, _, err := spend(s, newID(t), 1, base); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("SpendCredits(unknown) err = %v, want ErrNotFound", err)
	}
}

func testSpendCreditsRefill(t *testing.T, s keyward.Store) {
	day, month := keyward.RefillBoundaries(base)
	daily := plain(t, "daily", base)
	daily.Remaining = keyward.Ptr[int64](0)
	daily.Refill = &keyward.Refill{Interval: keyward.RefillDaily, Amount: 10}
	daily.RefilledAt = keyward.Ptr(day)
	monthly := plain(t, "monthly", base)
	monthly.Remaining = keyward.Ptr[int64](1)
	monthly.Refill = &keyward.Refill{Interval: keyward.RefillMonthly, Amount: 3}
	monthly.RefilledAt = keyward.Ptr(month)
	mustCreate(t, s, daily)
	mustCreate(t, s, monthly)

	// Same day: no refill yet.
	if left, spent, _ := spend(s, daily.ID, 1, base.Add(time.Hour)); spent || left != 0 {
		t.Fatalf("same day: %d, %v; want 0, false", left, spent)
	}
	// Next day: refilled to 10, then 4 spent.
	nextDay := day.Add(24*time.Hour + time.Minute)
	if left, spent, _ := spend(s, daily.ID, 4, nextDay); !spent || left != 6 {
		t.Fatalf("next day: %d, %v; want 6, true", left, spent)
	}
	// Still that day: no second refill.
	if left, spent, _ := spend(s, daily.ID, 6, nextDay.Add(time.Hour)); !spent || left != 0 {
		t.Fatalf("later that day: %d, %v; want 0, true", left, spent)
	}
	got := mustGet(t, s, daily.ID)
	if got.RefilledAt == nil || !got.RefilledAt.Equal(day.Add(24*time.Hour)) {
		t.Errorf("refilled_at = %v, want %v", got.RefilledAt, day.Add(24*time.Hour))
	}
	// Monthly: a later day of the same month does not refill; the next month does.
	if left, spent, _ := spend(s, monthly.ID, 2, base.Add(48*time.Hour)); spent || left != 1 {
		t.Errorf("same month: %d, %v; want 1, false", left, spent)
	}
	if left, spent, _ := spend(s, monthly.ID, 2, month.AddDate(0, 1, 0)); !spent || left != 1 {
		t.Errorf("next month: %d, %v; want 1, true", left, spent)
	}
}

func testSpendConcurrent(t *testing.T, s keyward.Store) {
	k := plain(t, "contended", base)
	k.Remaining = keyward.Ptr[int64](50)
	mustCreate(t, s, k)
	var spent, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			left, ok, err := spend(s, k.ID, 1, base)
			switch {
			case err != nil:
				errs <- err
			case left < 0:
				errs <- fmt.Errorf("remaining went below zero: %d", left)
			case ok:
				spent.Add(1)
			default:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if spent.Load() != 50 || refused.Load() != 50 {
		t.Errorf("spent %d, refused %d; want 50 and 50", spent.Load(), refused.Load())
	}
	if got := mustGet(t, s, k.ID); *got.Remaining != 0 {
		t.Errorf("remaining = %d, want 0", *got.Remaining)
	}
}

func testUsage(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	k := plain(t, "used", base)
	other := plain(t, "other", base)
	mustCreate(t, s, k)
	mustCreate(t, s, other)
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	m := func(h, min int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(min)*time.Minute)
	}
	batch := keyward.UsageBatch{Counts: []keyward.UsageCount{
		{KeyID: k.ID, Start: m(10, 0), Outcome: keyward.OutcomeValid, Count: 5},
		{KeyID: k.ID, Start: m(10, 0), Outcome: keyward.OutcomeNotFound, Count: 1},
		{KeyID: k.ID, Start: m(10, 59), Outcome: keyward.OutcomeValid, Count: 2},
		{KeyID: k.ID, Start: m(11, 30), Outcome: keyward.OutcomeRateLimited, Count: 4},
		{KeyID: k.ID, Start: m(23, 59).Add(time.Minute), Outcome: keyward.OutcomeValid, Count: 9}, // next day
		{KeyID: other.ID, Start: m(10, 0), Outcome: keyward.OutcomeValid, Count: 100},
	}}
	if err := s.RecordUsage(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// A second flush of the same bucket adds to it.
	if err := s.RecordUsage(ctx, keyward.UsageBatch{Counts: []keyward.UsageCount{{KeyID: k.ID, Start: m(10, 0), Outcome: keyward.OutcomeValid, Count: 1}}}); err != nil {
		t.Fatal(err)
	}
	type row struct {
		start time.Time
		o     keyward.Outcome
		n     int64
	}
	read := func(from, to time.Time, bucket time.Duration) []row {
		t.Helper()
		got, err := s.Usage(ctx, keyward.UsageQuery{KeyID: k.ID, From: from, To: to, Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		var out []row
		for _, c := range got {
			if c.KeyID != k.ID {
				t.Errorf("usage of another key: %+v", c)
			}
			out = append(out, row{c.Start.UTC(), c.Outcome, c.Count})
		}
		slices.SortStableFunc(out, func(a, b row) int {
			if c := a.start.Compare(b.start); c != 0 {
				return c
			}
			return int(a.o) - int(b.o)
		})
		return out
	}
	cases := []struct {
		name     string
		from, to time.Time
		bucket   time.Duration
		want     []row
	}{
		{"minutes", day, day.Add(48 * time.Hour), time.Minute, []row{
			{m(10, 0), keyward.OutcomeNotFound, 1}, {m(10, 0), keyward.OutcomeValid, 6},
			{m(10, 59), keyward.OutcomeValid, 2}, {m(11, 30), keyward.OutcomeRateLimited, 4},
			{m(24, 0), keyward.OutcomeValid, 9},
		}},
		{"hours", day, day.Add(48 * time.Hour), time.Hour, []row{
			{m(10, 0), keyward.OutcomeNotFound, 1}, {m(10, 0), keyward.OutcomeValid, 8},
			{m(11, 0), keyward.OutcomeRateLimited, 4}, {m(24, 0), keyward.OutcomeValid, 9},
		}},
		{"days", day, day.Add(48 * time.Hour), 24 * time.Hour, []row{
			{day, keyward.OutcomeNotFound, 1}, {day, keyward.OutcomeRateLimited, 4},
			{day, keyward.OutcomeValid, 8}, {m(24, 0), keyward.OutcomeValid, 9},
		}},
		{"from inclusive, to exclusive", m(10, 59), m(11, 30), time.Minute, []row{
			{m(10, 59), keyward.OutcomeValid, 2},
		}},
		{"empty range", m(12, 0), m(13, 0), time.Hour, nil},
	}
	t.Run("all keys", func(t *testing.T) {
		got, err := s.Usage(ctx, keyward.UsageQuery{From: m(10, 0), To: m(10, 1), Bucket: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		sum := map[keyward.Outcome]int64{}
		for _, c := range got {
			sum[c.Outcome] += c.Count
		}
		if sum[keyward.OutcomeValid] != 106 || sum[keyward.OutcomeNotFound] != 1 {
			t.Errorf("usage of all keys in minute 10:00 = %v, want VALID 106 (6 + 100) and NOT_FOUND 1", sum)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := read(tc.from, tc.to, tc.bucket)
			if !slices.Equal(got, tc.want) {
				t.Errorf("usage = %v\nwant %v", got, tc.want)
			}
		})
	}
}

func testLastUsed(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	k := plain(t, "used", base)
	mustCreate(t, s, k)
	t1 := base.Add(time.Minute)
	if err := s.RecordUsage(ctx, keyward.UsageBatch{LastUsed: map[string]time.Time{k.ID: t1}}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, k.ID).LastUsedAt; got == nil || !got.Equal(t1) {
		t.Fatalf("last_used_at = %v, want %v", got, t1)
	}
	if err := s.RecordUsage(ctx, keyward.UsageBatch{LastUsed: map[string]time.Time{k.ID: base}}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, k.ID).LastUsedAt; got == nil || !got.Equal(t1) {
		t.Errorf("an older use moved last_used_at back to %v", got)
	}
}

// testUsageConcurrent has 4 instances flush usage of the same 40
// keys at once, 10 flushes each, every flush listing the keys in an order
// of its own, half of them with a use older than the one stored: no flush
// fails (no deadlock between flushes that lock the same rows), every count
// is added, and last_used_at ends at the newest use of each key.
func testUsageConcurrent(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	const instances, flushes, nkeys = 4, 10, 40
	ids := make([]string, nkeys)
	for i := range ids {
		k := plain(t, fmt.Sprintf("busy %d", i), base)
		k.Owner = fmt.Sprintf("team-%d", i%3)
		mustCreate(t, s, k)
		ids[i] = k.ID
	}
	minute := base.Truncate(time.Minute)
	var mu sync.Mutex
	newest := map[string]time.Time{} // the newest use given for each key
	var wg sync.WaitGroup
	errs := make(chan error, instances*flushes)
	for inst := range instances {
		wg.Go(func() {
			for f := range flushes {
				b := keyward.UsageBatch{LastUsed: map[string]time.Time{}}
				for j := range nkeys {
					id := ids[(j*(inst+1)*7+f)%nkeys] // a different order per instance and flush
					if _, dup := b.LastUsed[id]; dup {
						id = ids[j]
					}
					if _, dup := b.LastUsed[id]; dup {
						continue
					}
					at := base.Add(time.Duration(inst*flushes+f+1) * time.Second)
					if j%2 == 1 {
						at = base // older than what others stored
					}
					b.LastUsed[id] = at
				}
				for _, id := range ids {
					b.Counts = append(b.Counts, keyward.UsageCount{KeyID: id, Start: minute, Outcome: keyward.OutcomeValid, Count: 1})
				}
				mu.Lock()
				for id, at := range b.LastUsed {
					if at.After(newest[id]) {
						newest[id] = at
					}
				}
				mu.Unlock()
				if err := s.RecordUsage(ctx, b); err != nil {
					errs <- fmt.Errorf("instance %d, flush %d: %w", inst, f, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range ids {
		got, err := s.Usage(ctx, keyward.UsageQuery{KeyID: id, From: minute, To: minute.Add(time.Minute), Bucket: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Count != instances*flushes {
			t.Errorf("key %s: usage %+v, want one count of %d", id, got, instances*flushes)
		}
		if at := mustGet(t, s, id).LastUsedAt; at == nil || !at.Equal(newest[id]) {
			t.Errorf("key %s: last_used_at %v, want the newest use given, %v", id, at, newest[id])
		}
	}
}

func testAuditPagination(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	a, b := plain(t, "a", base), plain(t, "b", base)
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	for i := range 10 {
		id := a.ID
		if i%2 == 1 {
			id = b.ID
		}
		_, err := s.Update(ctx, id, func(k *keyward.Key) (*keyward.AuditEntry, error) {
			k.Description = fmt.Sprint(i)
			return audit(keyward.ActionUpdate, id, base.Add(time.Duration(i)*time.Second)), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListAudit(ctx, keyward.AuditFilter{})
	if err != nil || len(all) != 12 {
		t.Fatalf("ListAudit = %d entries, %v; want 12", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].ID <= all[i].ID {
			t.Fatalf("audit not newest first: ids %d then %d", all[i-1].ID, all[i].ID)
		}
	}
	var paged []int64
	before := int64(0)
	for {
		page, err := s.ListAudit(ctx, keyward.AuditFilter{KeyID: a.ID, Before: before, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.KeyID != a.ID {
				t.Errorf("filter by key_id returned an entry of %s", e.KeyID)
			}
			paged = append(paged, e.ID)
		}
		if len(page) < 2 {
			break
		}
		before = page[len(page)-1].ID
	}
	if len(paged) != 6 {
		t.Errorf("paging key a's audit gave %d entries, want 6 (create + 5 updates)", len(paged))
	}
}

// spend takes credits from a key alone, in the shape of the key-only tests.
func spend(s keyward.Store, id string, cost int64, now time.Time) (int64, bool, error) {
	b, err := s.SpendCredits(context.Background(), keyward.CreditSpend{KeyID: id, Cost: cost, Now: now})
	return b.Key, b.Spent, err
}
