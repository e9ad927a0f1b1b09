package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/postgres"
)

// TestSpendsCommitInGroups holds key a's row locked from another
// connection while 64 credit spends arrive, so that they queue behind the
// first (which waits for the lock); once it is released they commit in
// exactly two transactions, and every balance is as exact as with a
// transaction per spend: key a (40 credits, owner rich with 1,000) pays for
// its 31 spends; key b (100 credits, owner poor with 5) for 5 of its 32,
// each refused spend leaving the key's credits alone; a spend whose caller
// gave up before its group ran spends nothing.
func TestSpendsCommitInGroups(t *testing.T) {
	u, s, svc := spendsEnv(t)
	a, b := richAndPoorKeys(t, svc)
	lock := lockKeyRow(t, u, a)
	groups := s.SpendGroups()
	spent, goneErr := spendBehindLock(t, s, lock, a, b)

	if n := s.SpendGroups() - groups; n != 2 {
		t.Errorf("64 spends ran in %d groups, want 2 (the first, then all that queued)", n)
	}
	if !errors.Is(goneErr, context.Canceled) {
		t.Errorf("the spend whose caller gave up returned %v, want context.Canceled", goneErr)
	}
	checkSpendsPaid(t, spent)
	checkCreditsLeft(t, svc, a, b)
}

// richAndPoorKeys creates the owners rich (1,000 credits) and poor (5), and
// returns the ids of key a (40 credits, owner rich) and key b (100 credits,
// owner poor).
func richAndPoorKeys(t *testing.T, svc *keyward.Service) (a, b string) {
	t.Helper()
	ctx := context.Background()
	for name, credits := range map[string]int64{"rich": 1000, "poor": 5} {
		if _, _, err := svc.PutOwner(ctx, name, keyward.OwnerParams{Remaining: keyward.Ptr(credits)}); err != nil {
			t.Fatal(err)
		}
	}
	ka, err := svc.Create(ctx, keyward.CreateParams{Name: "a", Owner: "rich", Remaining: keyward.Ptr[int64](40)})
	if err != nil {
		t.Fatal(err)
	}
	kb, err := svc.Create(ctx, keyward.CreateParams{Name: "b", Owner: "poor", Remaining: keyward.Ptr[int64](100)})
	if err != nil {
		t.Fatal(err)
	}
	return ka.Key.ID, kb.Key.ID
}

// spendBehindLock, while lock holds key a's row, starts a first spend and
// waits until it leads a group, queues 62 more behind it (the even ones
// for key a, the odd ones and the last for key b) and a 64th whose caller
// gives up before its group runs, then commits lock and waits for all. It
// returns whether each of the 63 spends was paid, and the 64th's error.
func spendBehindLock(t *testing.T, s *postgres.Store, lock *pgx.Conn, a, b string) (spent []bool, goneErr error) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	var wg sync.WaitGroup
	spent = make([]bool, 63)
	spend := func(i int) {
		sp := keyward.CreditSpend{KeyID: a, Owner: "rich", Cost: 1, Now: now}
		if i%2 == 1 || i == 62 {
			sp.KeyID, sp.Owner = b, "poor"
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
	wg.Go(func() {
		_, goneErr = s.SpendCredits(gone, keyward.CreditSpend{KeyID: a, Owner: "rich", Cost: 1, Now: now})
	})
	waitFor(t, "the 64th spend queued", func() bool { return s.SpendsWaiting() == 63 })
	cancel()
	if _, err := lock.Exec(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return spent, goneErr
}

// checkSpendsPaid checks that every spend of key a (the even ones but the
// last) was paid, and exactly 5 of key b's.
func checkSpendsPaid(t *testing.T, spent []bool) {
	t.Helper()
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
}

// checkCreditsLeft checks the balances after the spends: key a and owner
// rich paid for 31, key b and owner poor for 5 (all the owner had).
func checkCreditsLeft(t *testing.T, svc *keyward.Service, a, b string) {
	t.Helper()
	ctx := context.Background()
	left := func(id, owner string) int64 {
		var r *int64
		if id != "" {
			k, err := svc.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			r = k.Remaining
		} else {
			o, err := svc.GetOwner(ctx, owner)
			if err != nil {
				t.Fatal(err)
			}
			r = o.Remaining
		}
		return *r
	}
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"key a", left(a, ""), 40 - 31},
		{"owner rich", left("", "rich"), 1000 - 31},
		{"key b", left(b, ""), 100 - 5},
		{"owner poor", left("", "poor"), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s has %d credits left, want %d", c.what, c.got, c.want)
		}
	}
}

// spendsEnv returns a store on a fresh schema, its URL and a Service on it.
func spendsEnv(t *testing.T) (string, *postgres.Store, *keyward.Service) {
	u, _ := freshSchema(t)
	s := open(t, u, &postgres.Options{Migrate: true})
	p, _ := keyhash.NewPepper([]byte("postgres spends test pepper, 32 bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(s, h, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	return u, s, svc
}

// lockKeyRow locks key id's row from a connection of its own, in a
// transaction that the returned connection's COMMIT ends.
func lockKeyRow(t *testing.T, u, id string) *pgx.Conn {
	lock := connect(t, u)
	if _, err := lock.Exec(context.Background(), `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(context.Background(), `SELECT 1 FROM keys WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	return lock
}

// TestSpendGroupAcrossMidnight: a group whose spends straddle the start of
// a UTC day locks all its rows first and decides the later spends after the
// day's refill. Key d holds 3 credits refilled daily to 3: one spend at
// noon (alone, the first group), then two at 23:59 and three at 00:01 the
// next day in one group: all six are paid.
func TestSpendGroupAcrossMidnight(t *testing.T) {
	u, s, svc := spendsEnv(t)
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
	lock := lockKeyRow(t, u, d.Key.ID)
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
	if _, err := lock.Exec(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	want := []int64{2, 1, 0, 2, 1, 0}
	for i, bal := range bals {
		if !bal.Spent || bal.Key != want[i] {
			t.Errorf("spend %d at %s: %+v, want spent with %d left", i, times[i].Format(time.Kitchen), bal, want[i])
		}
	}
}

// waitFor waits until cond holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
