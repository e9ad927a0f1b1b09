package keyward_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/store/memory"
)

// spendCounter is a memory store that counts the credit spends and refunds
// that reach it.
type spendCounter struct {
	*memory.Store
	spends, refunds atomic.Int64
}

func (s *spendCounter) SpendCredits(ctx context.Context, sp keyward.CreditSpend) (keyward.CreditBalance, error) {
	s.spends.Add(1)
	return s.Store.SpendCredits(ctx, sp)
}

func (s *spendCounter) RefundCredits(ctx context.Context, r keyward.CreditRefund) (keyward.CreditRefunded, error) {
	if r.Amount > 0 {
		s.refunds.Add(1)
	}
	return s.Store.RefundCredits(ctx, r)
}

// leaseSetup is a Service on a counting memory store, on a clock the test
// moves, with a key of owner "acme" that has key credits and owner
// credits.
type leaseSetup struct {
	st     *spendCounter
	clock  *testkit.Clock
	svc    *keyward.Service
	secret string
	id     string
}

func newLeaseSetup(t *testing.T, st *spendCounter, clock *testkit.Clock, keyCredits, ownerCredits int64) *leaseSetup {
	t.Helper()
	ls := &leaseSetup{st: st, clock: clock, svc: testkit.NewService(t, st, nil, &keyward.Options{Now: clock.Now})}
	ctx := context.Background()
	if _, _, err := ls.svc.PutOwner(ctx, "acme", keyward.OwnerParams{Remaining: keyward.Ptr(ownerCredits)}); err != nil {
		t.Fatal(err)
	}
	iss, err := ls.svc.Create(ctx, keyward.CreateParams{Name: "k", Owner: "acme", Remaining: keyward.Ptr(keyCredits)})
	if err != nil {
		t.Fatal(err)
	}
	ls.secret, ls.id = iss.Secret, iss.Key.ID
	return ls
}

// verify verifies the key at cost on svc and returns the answer.
func (ls *leaseSetup) verify(t *testing.T, svc *keyward.Service, cost int64) keyward.Result {
	t.Helper()
	r, err := svc.Verify(context.Background(), keyward.VerifyRequest{Key: ls.secret, Cost: keyward.Ptr(cost)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// stored returns the key's and the owner's credits as the store holds them.
func (ls *leaseSetup) stored(t *testing.T) (key, owner int64) {
	t.Helper()
	ctx := keyward.NewFreshContext(context.Background())
	k, err := ls.st.Get(ctx, ls.id)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ls.st.GetOwner(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	return *k.Remaining, *o.Remaining
}

// TestCreditLeaseAnswersExactlyWithFewStoreSpends: a key verified ten
// thousand times a second takes its credits from the store in leases, so
// that few spends reach the store, while every answer, Get and GetOwner
// report the credits exactly as spend by spend; the store holds the rest
// in the lease, and has it back once the key is idle for the lease time.
func TestCreditLeaseAnswersExactlyWithFewStoreSpends(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ls := newLeaseSetup(t, &spendCounter{Store: memory.New()}, clock, 100_000_000, 1_000_000_000)
	const n = 20_000
	for i := 1; i <= n; i++ {
		clock.Add(100 * time.Microsecond)
		r := ls.verify(t, ls.svc, 1)
		if r.Outcome != keyward.OutcomeValid || r.Remaining != 100_000_000-int64(i) || r.OwnerRemaining != 1_000_000_000-int64(i) {
			t.Fatalf("verification %d: %s, remaining %d, owner %d; want VALID, %d, %d",
				i, r.Outcome, r.Remaining, r.OwnerRemaining, 100_000_000-i, 1_000_000_000-i)
		}
	}
	// The first 100 ms measure the demand (1,000 spends); then each lease
	// holds half a second of it, within a 64th of the key's credits.
	if got := ls.st.spends.Load(); got > 1050 {
		t.Errorf("%d spends reached the store for %d verifications; leases should keep them under 1050", got, n)
	}
	ctx := context.Background()
	k, err := ls.svc.Get(ctx, ls.id)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ls.svc.GetOwner(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if *k.Remaining != 100_000_000-n || *o.Remaining != 1_000_000_000-n {
		t.Errorf("Get and GetOwner report %d and %d credits; want %d and %d", *k.Remaining, *o.Remaining, 100_000_000-n, 1_000_000_000-n)
	}
	key, owner := ls.stored(t)
	if key >= 100_000_000-n || key != owner-900_000_000 {
		t.Errorf("the store holds %d and %d credits with a lease out; want fewer than %d, the same lease from both", key, owner, 100_000_000-n)
	}

	st := ls.svc.CreditLeaseStats()
	if held := int64(100_000_000-n) - key; st.Held != held || st.Taken == 0 || st.GivenBack != 0 {
		t.Errorf("CreditLeaseStats = %+v; want %d held, some taken, none given back", st, held)
	}

	// Idle for less than the lease time: the lease stays.
	clock.Add(keyward.DefaultCreditLease / 2)
	if err := ls.svc.SettleCredits(ctx); err != nil {
		t.Fatal(err)
	}
	if k2, _ := ls.stored(t); k2 != key {
		t.Errorf("a lease idle for half its time was given back: the store went from %d to %d", key, k2)
	}
	clock.Add(keyward.DefaultCreditLease)
	if err := ls.svc.SettleCredits(ctx); err != nil {
		t.Fatal(err)
	}
	if key, owner := ls.stored(t); key != 100_000_000-n || owner != 1_000_000_000-n {
		t.Errorf("after the lease time idle the store holds %d and %d credits; want %d and %d", key, owner, 100_000_000-n, 1_000_000_000-n)
	}
	if after := ls.svc.CreditLeaseStats(); after.Held != 0 || after.GivenBack != uint64(st.Held) {
		t.Errorf("CreditLeaseStats after the give-back = %+v; want none held, %d given back", after, st.Held)
	}
}

// TestCreditLeaseEndsWithAWriteToTheRecord: a write through the Service
// that holds a lease sees every credit (the lease is given back first); a
// write through another instance sets the balance, and the lease taken
// before it ends without giving anything back once the holder sees the
// new record.
func TestCreditLeaseEndsWithAWriteToTheRecord(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ls := newLeaseSetup(t, &spendCounter{Store: memory.New()}, clock, 100_000_000, 1_000_000_000)
	ctx := context.Background()
	lease := func() {
		t.Helper()
		var r keyward.Result
		for range 3000 {
			clock.Add(100 * time.Microsecond)
			r = ls.verify(t, ls.svc, 1)
		}
		if key, _ := ls.stored(t); key >= r.Remaining {
			t.Fatalf("no lease out: the store holds %d credits, the key has %d", key, r.Remaining)
		}
	}
	lease()
	// Through the holder: a change of name keeps every credit.
	k, err := ls.svc.Update(ctx, ls.id, keyward.UpdateParams{Name: keyward.Ptr("renamed")})
	if err != nil {
		t.Fatal(err)
	}
	if key, _ := ls.stored(t); key != 99_997_000 || *k.Remaining != 99_997_000 {
		t.Errorf("after a rename through the lease holder the store holds %d credits and Update reports %d; want 99997000", key, *k.Remaining)
	}

	lease()
	other := testkit.NewService(t, ls.st, nil, &keyward.Options{Now: clock.Now})
	clock.Add(100 * time.Microsecond)
	if _, err := other.UpdateOwner(ctx, "acme", keyward.OwnerUpdate{Remaining: keyward.Nullable[int64]{Set: true, Value: keyward.Ptr[int64](500)}}); err != nil {
		t.Fatal(err)
	}
	r := ls.verify(t, ls.svc, 1)
	if r.Outcome != keyward.OutcomeValid || r.OwnerRemaining != 499 {
		t.Errorf("after another instance set the owner's credits to 500: %s, owner remaining %d; want VALID, 499", r.Outcome, r.OwnerRemaining)
	}
	clock.Add(2 * keyward.DefaultCreditLease)
	if err := ls.svc.SettleCredits(ctx); err != nil {
		t.Fatal(err)
	}
	key, owner := ls.stored(t)
	if owner != 499 || key != 99_994_000-1 {
		t.Errorf("after the holder gave its leases back the store holds key %d, owner %d; want 99993999 (nothing lost) and 499 (the write's balance, less one spend)", key, owner)
	}
}

// TestCreditLeaseEndsWithTheDay: a lease taken before midnight UTC is not
// spent after it, and what it held is not given back over a refill that
// the new day applied.
func TestCreditLeaseEndsWithTheDay(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC))
	st := &spendCounter{Store: memory.New()}
	svc := testkit.NewService(t, st, nil, &keyward.Options{Now: clock.Now})
	ctx := context.Background()
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "daily", Remaining: keyward.Ptr[int64](10_000_000),
		Refill: &keyward.Refill{Interval: keyward.RefillDaily, Amount: 10_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3000 {
		clock.Add(100 * time.Microsecond)
		r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
		if err != nil || r.Outcome != keyward.OutcomeValid {
			t.Fatalf("before midnight: %v, %v", r.Outcome, err)
		}
	}
	if st.spends.Load() > 1050 {
		t.Fatalf("no lease taken: %d spends reached the store", st.spends.Load())
	}
	clock.Set(time.Date(2026, 3, 2, 0, 0, 0, 500_000_000, time.UTC))
	r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
	if err != nil || r.Outcome != keyward.OutcomeValid || r.Remaining != 9_999_999 {
		t.Fatalf("after midnight: %v, remaining %d, %v; want VALID, 9999999 (the day's refill less one)", r.Outcome, r.Remaining, err)
	}
	if err := svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	k, err := st.Get(keyward.NewFreshContext(ctx), iss.Key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *k.Remaining != 9_999_999 {
		t.Errorf("after Close the store holds %d credits; want 9999999: yesterday's lease is not given back over today's refill", *k.Remaining)
	}
}

// TestNoCreditLeaseForFewCredits: with fewer than 1,024,000 credits left in
// the key or its owner, every spend goes to the store, however busy the
// key.
func TestNoCreditLeaseForFewCredits(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ls := newLeaseSetup(t, &spendCounter{Store: memory.New()}, clock, 1_000_000_000, 1_023_999)
	for range 5000 {
		clock.Add(100 * time.Microsecond)
		ls.verify(t, ls.svc, 1)
	}
	if got := ls.st.spends.Load(); got != 5000 {
		t.Errorf("%d of 5000 spends reached the store; want every one", got)
	}
	if _, owner := ls.stored(t); owner != 1_023_999-5000 {
		t.Errorf("the store holds %d owner credits; want %d", owner, 1_023_999-5000)
	}
}

// TestCreditLeaseOffSpendsInTheStore: Options.CreditLease < 0 sends every
// spend to the store.
func TestCreditLeaseOffSpendsInTheStore(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	st := &spendCounter{Store: memory.New()}
	svc := testkit.NewService(t, st, nil, &keyward.Options{Now: clock.Now, CreditLease: -1})
	iss, err := svc.Create(context.Background(), keyward.CreateParams{Name: "k", Remaining: keyward.Ptr[int64](1_000_000)})
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		clock.Add(100 * time.Microsecond)
		if _, err := svc.Verify(context.Background(), keyward.VerifyRequest{Key: iss.Secret}); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.spends.Load(); got != 1000 {
		t.Errorf("%d spends reached the store; want 1000 with leases off", got)
	}
}

// TestNoCreditLeaseForAQuietKey: a key spending under 2,000 credits a
// second spends every credit in the store, however large its balance.
func TestNoCreditLeaseForAQuietKey(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ls := newLeaseSetup(t, &spendCounter{Store: memory.New()}, clock, 1_000_000_000, 1_000_000_000)
	for range 3000 {
		clock.Add(time.Millisecond) // 1,000 a second
		ls.verify(t, ls.svc, 1)
	}
	if got := ls.st.spends.Load(); got != 3000 {
		t.Errorf("%d of 3000 spends reached the store; want every one", got)
	}
}

// blockingLeaseStore is a spendCounter whose spends of more than one credit
// (the take of a lease) signal taking and wait for release.
type blockingLeaseStore struct {
	*spendCounter
	taking, release chan struct{}
}

func (s *blockingLeaseStore) SpendCredits(ctx context.Context, sp keyward.CreditSpend) (keyward.CreditBalance, error) {
	if sp.Cost > 1 {
		s.taking <- struct{}{}
		<-s.release
	}
	return s.spendCounter.SpendCredits(ctx, sp)
}

// TestCreditLeaseTakenDuringCloseIsGivenBack: a lease whose take is still
// in the store when Close gives every lease back is given back as soon as
// the take returns: no credit is lost to a shutdown under traffic.
func TestCreditLeaseTakenDuringCloseIsGivenBack(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	st := &blockingLeaseStore{spendCounter: &spendCounter{Store: memory.New()},
		taking: make(chan struct{}), release: make(chan struct{})}
	svc, err := keyward.New(st, testkit.HMAC(t), &keyward.Options{Now: clock.Now, UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "k", Remaining: keyward.Ptr[int64](100_000_000)})
	if err != nil {
		t.Fatal(err)
	}
	var valid atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			clock.Add(100 * time.Microsecond)
			r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
			if err != nil {
				t.Error(err)
				return
			}
			if r.Outcome == keyward.OutcomeValid {
				valid.Add(1)
			}
			if r.Remaining < 100_000_000-2000 {
				return // well past the lease taken during Close
			}
		}
	}()
	<-st.taking // the first lease's take is in the store
	if err := svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	close(st.release)
	<-done
	k, err := st.Get(keyward.NewFreshContext(ctx), iss.Key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := 100_000_000 - valid.Load(); *k.Remaining != want {
		t.Errorf("after Close the store holds %d credits; want %d, the lease taken during Close given back", *k.Remaining, want)
	}
}

// TestCreditLeaseAnswersExactlyUnderConcurrency: eight goroutines verify
// one busy key on one Service; the credits left that the answers report are
// exactly the balances after each spend, in some order: every value from
// the first balance less one down to the last, each once, as the store
// would answer spend by spend.
func TestCreditLeaseAnswersExactlyUnderConcurrency(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ls := newLeaseSetup(t, &spendCounter{Store: memory.New()}, clock, 100_000_000, 1_000_000_000)
	const workers, each = 8, 2500
	seen := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				clock.Add(12500 * time.Nanosecond) // 80,000 a second in all
				r, err := ls.svc.Verify(context.Background(), keyward.VerifyRequest{Key: ls.secret})
				if err != nil || r.Outcome != keyward.OutcomeValid || r.Remaining+900_000_000 != r.OwnerRemaining {
					t.Errorf("%v, %v: key %d, owner %d", r.Outcome, err, r.Remaining, r.OwnerRemaining)
					return
				}
				seen[w] = append(seen[w], r.Remaining)
			}
		})
	}
	wg.Wait()
	got := map[int64]int{}
	for _, s := range seen {
		for _, v := range s {
			got[v]++
		}
	}
	var wrong []string
	for v := int64(100_000_000 - workers*each); v < 100_000_000; v++ {
		if got[v] != 1 {
			wrong = append(wrong, fmt.Sprintf("%d (%d times)", v, got[v]))
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("%d balances were not reported exactly once, e.g. %v; want each once (each answer is the balance after its own spend)", len(wrong), wrong[:min(len(wrong), 10)])
	}
	// The first 100 ms (8,000 verifications) measure the demand.
	if ls.st.spends.Load() > 8_500 {
		t.Errorf("%d spends reached the store for %d verifications: the leases did not serve them", ls.st.spends.Load(), workers*each)
	}
}

// TestWritesDuringLoadLoseNoCredit: admin writes to a busy key and its
// owner (a new name, new metadata: nothing about credits) while eight
// goroutines spend from leases lose no credit: once the Service closes,
// the store holds exactly what was not spent. A verification that read
// the key before a write and takes its lease after it labels the lease
// with the store's version, and a write waits for the takes in flight.
func TestWritesDuringLoadLoseNoCredit(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	const keyCredits, ownerCredits = 100_000_000, 1_000_000_000
	ls := newLeaseSetup(t, &spendCounter{Store: memory.New()}, clock, keyCredits, ownerCredits)
	ctx := context.Background()
	const workers, each, writes = 8, 2500, 40
	var spent atomic.Int64
	progress := make(chan struct{}, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				clock.Add(12500 * time.Nanosecond) // 80,000 a second in all
				r, err := ls.svc.Verify(ctx, keyward.VerifyRequest{Key: ls.secret})
				if err != nil || !r.Valid() {
					t.Errorf("%v, %v", r.Outcome, err)
					return
				}
				spent.Add(1)
				progress <- struct{}{}
			}
		})
	}
	for i := range writes { // a write every 400 verifications, while they run
		for range workers * each / (writes + 1) {
			<-progress
		}
		var err error
		if i%2 == 0 {
			_, err = ls.svc.Update(ctx, ls.id, keyward.UpdateParams{Name: keyward.Ptr(fmt.Sprint("renamed ", i))})
		} else {
			_, err = ls.svc.UpdateOwner(ctx, "acme", keyward.OwnerUpdate{Metadata: []byte(fmt.Sprintf(`{"n":%d}`, i))})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if ls.svc.CreditLeaseStats().Taken == 0 {
		t.Fatal("no lease was taken: the test would not exercise them")
	}
	if err := ls.svc.Close(ctx); err != nil { // gives back every lease
		t.Fatal(err)
	}
	key, owner := ls.stored(t)
	if n := spent.Load(); key != keyCredits-n || owner != ownerCredits-n {
		t.Errorf("after %d spends and %d writes: key %d (%d lost), owner %d (%d lost); want none lost",
			n, writes, key, keyCredits-n-key, owner, ownerCredits-n-owner)
	}
}
