package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/sqlite"
)

// spendStore opens a new database file whose writer waits a minute for a
// lock (the tests hold it with holdWriteLock to queue spends) and returns
// its path, the store and a Service on it.
func spendStore(t *testing.T) (string, *sqlite.Store, *keyward.Service) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k.db")
	s, err := sqlite.Open(context.Background(), path, &sqlite.Options{Migrate: true, BusyTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path, s, service(t, s)
}

// TestSpendsCommitInGroups holds SQLite's write lock from another
// connection while 64 credit spends arrive, so that they queue behind the
// first; once the lock is released they commit in exactly two transactions,
// and every balance is as exact as with a transaction per spend: key a
// (40 credits, owner rich with 1,000) pays for its 31 spends; key b (100
// credits, owner poor with 5) for 5 of its 32, each refused spend undoing
// the key's part alone; a spend whose caller gave up before its group ran
// spends nothing.
func TestSpendsCommitInGroups(t *testing.T) {
	path, s, svc := spendStore(t)
	ctx := context.Background()
	for name, credits := range map[string]int64{"rich": 1000, "poor": 5} {
		if _, _, err := svc.PutOwner(ctx, name, keyward.OwnerParams{Remaining: keyward.Ptr(credits)}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := svc.Create(ctx, keyward.CreateParams{Name: "a", Owner: "rich", Remaining: keyward.Ptr[int64](40)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Create(ctx, keyward.CreateParams{Name: "b", Owner: "poor", Remaining: keyward.Ptr[int64](100)})
	if err != nil {
		t.Fatal(err)
	}

	lock := holdWriteLock(t, path)
	groups := s.SpendGroups()
	now := time.Now()
	var wg sync.WaitGroup
	spent := make([]bool, 63)
	spend := func(i int) {
		sp := keyward.CreditSpend{KeyID: a.Key.ID, Owner: "rich", Cost: 1, Now: now}
		if i%2 == 1 || i == 62 {
			sp.KeyID, sp.Owner = b.Key.ID, "poor"
		}
		wg.Go(func() {
			bal, err := s.SpendCredits(ctx, sp)
			if err != nil {
				t.Error(err)
			}
			spent[i] = bal.Spent
		})
	}
	spend(0)
	waitFor(t, "the first spend to lead a group", func() bool { return s.SpendsRunning() && s.SpendsWaiting() == 0 })
	for i := 1; i < len(spent); i++ {
		spend(i)
	}
	waitFor(t, "62 spends queued behind the first", func() bool { return s.SpendsWaiting() == 62 })
	gone, cancel := context.WithCancel(ctx)
	var goneErr error
	wg.Go(func() {
		_, goneErr = s.SpendCredits(gone, keyward.CreditSpend{KeyID: a.Key.ID, Owner: "rich", Cost: 1, Now: now})
	})
	waitFor(t, "the 64th spend queued", func() bool { return s.SpendsWaiting() == 63 })
	cancel()
	lock.release()
	wg.Wait()

	if n := s.SpendGroups() - groups; n != 2 {
		t.Errorf("64 spends ran in %d groups, want 2 (the first, then all that queued)", n)
	}
	if !errors.Is(goneErr, context.Canceled) {
		t.Errorf("the spend whose caller gave up returned %v, want context.Canceled", goneErr)
	}
	paid := 0
	for i, ok := range spent {
		if i%2 == 0 && i != 62 && !ok {
			t.Errorf("spend %d of key a was refused", i)
		}
		if ok && (i%2 == 1 || i == 62) {
			paid++
		}
	}
	if paid != 5 {
		t.Errorf("key b's owner paid for %d spends, want 5", paid)
	}
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"key a", remaining(t, svc, a.Key.ID, ""), 40 - 31},
		{"owner rich", remaining(t, svc, "", "rich"), 1000 - 31},
		{"key b", remaining(t, svc, b.Key.ID, ""), 100 - 5},
		{"owner poor", remaining(t, svc, "", "poor"), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s has %d credits left, want %d", c.what, c.got, c.want)
		}
	}
}

// TestSpendGroupAcrossMidnight: a group whose spends straddle the start of
// a UTC day decides the later ones after the day's refill, as spends each in
// a transaction of their own would. Key d holds 3 credits refilled daily to
// 3: one spend at noon (alone, the first group), then two at 23:59 and three
// at 00:01 the next day in one group: all six are paid, and the key ends the
// second day with none left.
func TestSpendGroupAcrossMidnight(t *testing.T) {
	path, s, svc := spendStore(t)
	ctx := context.Background()
	d, err := svc.Create(ctx, keyward.CreateParams{Name: "d", Remaining: keyward.Ptr[int64](3),
		Refill: &keyward.Refill{Interval: "daily", Amount: 3}})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	times := []time.Time{day.Add(12 * time.Hour),
		day.Add(23*time.Hour + 59*time.Minute), day.Add(23*time.Hour + 59*time.Minute),
		day.Add(24*time.Hour + time.Minute), day.Add(24*time.Hour + time.Minute), day.Add(24*time.Hour + time.Minute)}
	bals := make([]keyward.CreditBalance, len(times))
	lock := holdWriteLock(t, path)
	var wg sync.WaitGroup
	for i, now := range times {
		wg.Go(func() {
			bal, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: d.Key.ID, Cost: 1, Now: now})
			if err != nil {
				t.Error(err)
			}
			bals[i] = bal
		})
		if i == 0 {
			waitFor(t, "the noon spend to lead", func() bool { return s.SpendsRunning() && s.SpendsWaiting() == 0 })
		} else {
			waitFor(t, "the spends queued in order", func() bool { return s.SpendsWaiting() == i })
		}
	}
	lock.release()
	wg.Wait()
	want := []int64{2, 1, 0, 2, 1, 0}
	for i, bal := range bals {
		if !bal.Spent || bal.Key != want[i] {
			t.Errorf("spend %d at %s: %+v, want spent with %d left", i, times[i].Format(time.Kitchen), bal, want[i])
		}
	}
}

// TestSpendGroupStoresARefillSpentAtCostZero: a group whose spends of 0
// find a refill due stores the refill, as a spend alone does. Key r holds
// 100 credits refilled daily to 100: a spend on day one leaves 99; on day
// two, two spends of 0 in one group see 100, and the key then holds 100,
// refilled on day two. (A spend of another key leads the first group
// alone, so that the spends of 0 run as a group.)
func TestSpendGroupStoresARefillSpentAtCostZero(t *testing.T) {
	path, s, svc := spendStore(t)
	ctx := context.Background()
	r, err := svc.Create(ctx, keyward.CreateParams{Name: "r", Remaining: keyward.Ptr[int64](100),
		Refill: &keyward.Refill{Interval: "daily", Amount: 100}})
	if err != nil {
		t.Fatal(err)
	}
	day1, day2 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)
	if bal, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: r.Key.ID, Cost: 1, Now: day1}); err != nil || bal.Key != 99 {
		t.Fatalf("day one: %+v, %v; want 99 left", bal, err)
	}
	o, err := svc.Create(ctx, keyward.CreateParams{Name: "o", Remaining: keyward.Ptr[int64](10)})
	if err != nil {
		t.Fatal(err)
	}
	lock := holdWriteLock(t, path)
	var wg sync.WaitGroup
	for i := range 3 { // a spend of key o leads alone; two of key r queue into one group
		wg.Go(func() {
			if i == 0 {
				if _, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: o.Key.ID, Cost: 1, Now: day2}); err != nil {
					t.Error(err)
				}
				return
			}
			bal, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: r.Key.ID, Cost: 0, Now: day2})
			if err != nil || !bal.Spent || bal.Key != 100 {
				t.Errorf("a spend of 0 on day two: %+v, %v; want spent with 100 left", bal, err)
			}
		})
		if i == 0 {
			waitFor(t, "the first spend to lead", func() bool { return s.SpendsRunning() && s.SpendsWaiting() == 0 })
		} else {
			waitFor(t, "the spends queued", func() bool { return s.SpendsWaiting() == i })
		}
	}
	lock.release()
	wg.Wait()
	k, err := svc.Get(ctx, r.Key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *k.Remaining != 100 || k.RefilledAt == nil || !k.RefilledAt.Equal(day2.Truncate(24*time.Hour)) {
		t.Errorf("after day two's spends of 0: %d credits, refilled at %v; want 100, %v", *k.Remaining, k.RefilledAt, day2.Truncate(24*time.Hour))
	}
}

// writeLock is a write transaction held on the database from a connection
// of its own, as another process would.
type writeLock struct {
	t    *testing.T
	conn *sql.Conn
}

func holdWriteLock(t *testing.T, path string) *writeLock {
	t.Helper()
	conn, err := rawDB(t, path).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return &writeLock{t: t, conn: conn}
}

func (l *writeLock) release() {
	if _, err := l.conn.ExecContext(context.Background(), "COMMIT"); err != nil {
		l.t.Fatal(err)
	}
	l.conn.Close()
}

// waitFor waits until cond holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// remaining is the credits left of a key (id) or an owner (name).
func remaining(t *testing.T, svc *keyward.Service, id, owner string) int64 {
	t.Helper()
	var left *int64
	if id != "" {
		k, err := svc.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		left = k.Remaining
	} else {
		o, err := svc.GetOwner(context.Background(), owner)
		if err != nil {
			t.Fatal(err)
		}
		left = o.Remaining
	}
	if left == nil {
		t.Fatal("no credits counted")
	}
	return *left
}
