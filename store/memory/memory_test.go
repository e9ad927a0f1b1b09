package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/memory"
	"github.com/keyward/keyward/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store {
		s := memory.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestSpendsChangeNoSharedRecord: a spend allocates nothing once a key and
// its owner have spent before, and never changes a record a reader holds;
// Get and GetOwner show the credits left.
func TestSpendsChangeNoSharedRecord(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	t.Cleanup(func() { s.Close() })
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.PutOwner(ctx, &keyward.Owner{Name: "acme", Remaining: keyward.Ptr[int64](1000),
		Refill: &keyward.Refill{Interval: keyward.RefillDaily, Amount: 1000}}, nil); err != nil {
		t.Fatal(err)
	}
	k := &keyward.Key{ID: "k1", Name: "k", Owner: "acme", Remaining: keyward.Ptr[int64](500), CreatedAt: now}
	if err := s.Create(ctx, k, nil); err != nil {
		t.Fatal(err)
	}
	held, _ := s.Get(ctx, "k1")
	sp := keyward.CreditSpend{KeyID: "k1", Owner: "acme", Cost: 1, Now: now}
	spend := func() {
		if bal, err := s.SpendCredits(ctx, sp); err != nil || !bal.Spent {
			t.Fatalf("spend: %+v, %v", bal, err)
		}
	}
	spend()
	if n := testing.AllocsPerRun(100, spend); n != 0 {
		t.Errorf("a spend allocates %v times", n)
	}
	if *held.Remaining != 500 {
		t.Errorf("a record held before the spends shows %d credits, want the 500 it had", *held.Remaining)
	}
	got, _ := s.Get(ctx, "k1")
	o, _ := s.GetOwner(ctx, "acme")
	if *got.Remaining != 500-102 || *o.Remaining != 1000-102 || o.RefilledAt == nil || !o.RefilledAt.Equal(now.Truncate(24*time.Hour)) {
		t.Errorf("after 102 spends: key %d, owner %d refilled at %v; want 398, 898, %v", *got.Remaining, *o.Remaining, o.RefilledAt, now.Truncate(24*time.Hour))
	}
	// A write folds the credits into the record it stores.
	upd, err := s.Update(ctx, "k1", func(k *keyward.Key) (*keyward.AuditEntry, error) { k.Name = "renamed"; return nil, nil })
	if err != nil || *upd.Remaining != 398 {
		t.Fatalf("update after spends: %v, %v; want 398 credits", upd.Remaining, err)
	}
}
