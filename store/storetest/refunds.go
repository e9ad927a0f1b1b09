package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// testRefundCredits: credits taken ahead of spends come back to each row
// on its own, unless the row's record was written or a later refill applied
// since they were taken (keyward.CreditRefunder).
func testRefundCredits(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	if _, err := keyward.RefundCredits(ctx, s, keyward.CreditRefund{}); errors.Is(err, keyward.ErrUnsupported) {
		t.Skip("this store does not give credits back (keyward.CreditRefunder)")
	} else if err != nil {
		t.Fatalf("a refund of nothing: %v", err)
	}
	o := owner("refunded", base)
	o.Remaining, o.Refill, o.RefilledAt = keyward.Ptr[int64](1000), nil, nil
	mustPutOwner(t, s, o)
	k := plain(t, "daily credits", base)
	k.Owner, k.Remaining = "refunded", keyward.Ptr[int64](1000)
	k.Refill = &keyward.Refill{Interval: keyward.RefillDaily, Amount: 1000}
	mustCreate(t, s, k)
	credits := func() (key, owner int64) {
		t.Helper()
		fresh := keyward.NewFreshContext(ctx)
		kk, err := s.Get(fresh, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		oo, err := s.GetOwner(fresh, o.Name)
		if err != nil {
			t.Fatal(err)
		}
		return *kk.Remaining, *oo.Remaining
	}
	spend := func(cost int64, now time.Time) {
		t.Helper()
		b, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: k.ID, Owner: o.Name, Cost: cost, Now: now})
		if err != nil || !b.Spent {
			t.Fatalf("spending %d: %+v, %v", cost, b, err)
		}
	}
	refund := func(r keyward.CreditRefund) keyward.CreditRefunded {
		t.Helper()
		back, err := keyward.RefundCredits(ctx, s, r)
		if err != nil {
			t.Fatal(err)
		}
		return back
	}
	lease := keyward.CreditRefund{KeyID: k.ID, Owner: o.Name, Amount: 100, Taken: base,
		KeyUpdatedAt: k.UpdatedAt, OwnerUpdatedAt: o.UpdatedAt}

	spend(300, base) // a lease of 300, of which 200 were spent
	if back := refund(lease); !back.Key || !back.Owner {
		t.Errorf("refund of an untouched lease = %+v; want both rows", back)
	}
	if key, owner := credits(); key != 800 || owner != 800 {
		t.Errorf("after a spend of 300 and a refund of 100: key %d, owner %d; want 800, 800", key, owner)
	}

	// The owner's record is written: its row gets nothing back, the key's
	// does.
	written := *o
	written.Remaining, written.UpdatedAt = keyward.Ptr[int64](50), base.Add(time.Second)
	if _, err := s.PutOwner(ctx, &written, nil); err != nil {
		t.Fatal(err)
	}
	if back := refund(lease); !back.Key || back.Owner {
		t.Errorf("refund after a write of the owner = %+v; want the key's row only", back)
	}
	if key, owner := credits(); key != 900 || owner != 50 {
		t.Errorf("after a refund over a write of the owner: key %d, owner %d; want 900, 50 (the write's)", key, owner)
	}

	// A spend the next day applies the key's refill: yesterday's lease no
	// longer comes back to it.
	spend(1, base.Add(24*time.Hour))
	lease.OwnerUpdatedAt = written.UpdatedAt
	if back := refund(lease); back.Key || !back.Owner {
		t.Errorf("refund of yesterday's lease after today's refill = %+v; want the owner's row only (it has no refill)", back)
	}
	if key, owner := credits(); key != 999 || owner != 149 {
		t.Errorf("after a refund over a refill: key %d, owner %d; want 999 (the refill less one), 149", key, owner)
	}

	// A key without credits, an unknown key and owner: nothing, no error.
	free := plain(t, "no credits", base)
	mustCreate(t, s, free)
	if back := refund(keyward.CreditRefund{KeyID: free.ID, Owner: "no such owner", Amount: 5, Taken: base,
		KeyUpdatedAt: free.UpdatedAt}); back.Key || back.Owner {
		t.Errorf("refund to a key without credits and an unknown owner = %+v; want neither", back)
	}
	if got := mustGet(t, s, free.ID); got.Remaining != nil {
		t.Errorf("a refund gave credits to a key without a credit limit: %d", *got.Remaining)
	}
}

// testServiceCreditLeases: two Services on the store spend one owner's
// credits, 1,000 a request, through two keys from eight goroutines until
// refused, on a clock that moves 100 µs a verification (10,000 a second),
// so that they spend from leases: most spends never reach the store. No
// more requests are admitted than the credits pay for, and once both are
// closed the store holds exactly the credits not spent.
func testServiceCreditLeases(t *testing.T, s keyward.Store) {
	if _, err := keyward.RefundCredits(context.Background(), s, keyward.CreditRefund{}); err != nil {
		t.Skip("this store does not give credits back (keyward.CreditRefunder): no leases")
	}
	var nanos atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(nanos.Load())) }
	counted := &spendCounting{Store: s}
	svcs := [2]*keyward.Service{serviceClock(t, counted, now), serviceClock(t, counted, now)}
	ctx := context.Background()
	const credits, cost = 20_000_000, 1000
	if _, _, err := svcs[0].PutOwner(ctx, "leased", keyward.OwnerParams{Remaining: keyward.Ptr[int64](credits)}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for range 2 {
		iss, err := svcs[0].Create(ctx, keyward.CreateParams{Name: "k", Owner: "leased"})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, iss.Secret)
	}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				nanos.Add(int64(100 * time.Microsecond))
				r, err := svcs[g%2].Verify(ctx, keyward.VerifyRequest{Key: keys[(g+i)%2], Cost: keyward.Ptr[int64](cost)})
				if err != nil {
					t.Error(err)
					return
				}
				if r.Outcome != keyward.OutcomeValid {
					return
				}
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	for _, svc := range svcs {
		if err := svc.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	o, err := s.GetOwner(keyward.NewFreshContext(ctx), "leased")
	if err != nil {
		t.Fatal(err)
	}
	if got := admitted.Load(); got > credits/cost || *o.Remaining != credits-got*cost {
		t.Errorf("%d requests of cost %d admitted on %d credits, %d credits stored after Close; want at most %d admitted and the rest stored",
			got, cost, credits, *o.Remaining, credits/cost)
	}
	if n := counted.spends.Load(); n > admitted.Load()/2 {
		t.Errorf("%d spends reached the store for %d requests admitted: the leases did not serve most of them", n, admitted.Load())
	}
}

// spendCounting counts the credit spends that reach the store it wraps,
// and passes refunds on.
type spendCounting struct {
	keyward.Store
	spends atomic.Int64
}

func (s *spendCounting) SpendCredits(ctx context.Context, sp keyward.CreditSpend) (keyward.CreditBalance, error) {
	s.spends.Add(1)
	return s.Store.SpendCredits(ctx, sp)
}

func (s *spendCounting) RefundCredits(ctx context.Context, r keyward.CreditRefund) (keyward.CreditRefunded, error) {
	return keyward.RefundCredits(ctx, s.Store, r)
}
