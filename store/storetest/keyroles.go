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

// testRoleInUseAfterEveryWrite: whether a role is in use (DeleteRole is
// ErrConflict) follows every kind of key write: create, create batch,
// update, rotate, delete, and writes that leave roles alone.
func testRoleInUseAfterEveryWrite(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	putRole := func() {
		t.Helper()
		if _, err := s.PutRole(ctx, &keyward.Role{Name: "r", Scopes: []string{"x"}, CreatedAt: base, UpdatedAt: base}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// inUse reports whether DeleteRole refuses; when it does not, the role
	// is deleted, so it is put back.
	inUse := func(step string) bool {
		t.Helper()
		err := s.DeleteRole(ctx, "r", nil)
		switch {
		case errors.Is(err, keyward.ErrConflict):
			return true
		case err != nil:
			t.Fatalf("%s: DeleteRole: %v", step, err)
		}
		putRole()
		return false
	}
	withRoles := func(name string, roles ...string) *keyward.Key {
		k := plain(t, name, base)
		k.Roles = roles
		return k
	}
	putRole()

	batch := []*keyward.Key{withRoles("batch", "r", "other"), withRoles("batch, no role")}
	if n, err := s.CreateBatch(ctx, batch, []*keyward.AuditEntry{nil, nil}); err != nil || n != 2 {
		t.Fatalf("CreateBatch = %d, %v", n, err)
	}
	if !inUse("after CreateBatch") {
		t.Error("a key created by CreateBatch has the role, yet DeleteRole let it go")
	}
	next := withRoles("successor", "r")
	if _, _, err := s.Rotate(ctx, batch[0].ID, func(old *keyward.Key) (*keyward.Key, *keyward.AuditEntry, error) {
		old.Roles = []string{"other"}
		return next, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if !inUse("after Rotate") {
		t.Error("the successor made by Rotate has the role, yet DeleteRole let it go")
	}
	// Writes that leave roles alone keep the role in use.
	if _, err := s.Update(ctx, next.ID, func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.Name, k.Remaining = "renamed", keyward.Ptr[int64](5)
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: next.ID, Cost: 1, Now: base}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordUsage(ctx, keyward.UsageBatch{LastUsed: map[string]time.Time{next.ID: base.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if !inUse("after a rename, a spend and a use") {
		t.Error("writes that leave roles alone released the role")
	}
	if err := s.Delete(ctx, next.ID, nil); err != nil {
		t.Fatal(err)
	}
	if inUse("after Delete") {
		t.Error("no key has the role since Rotate took it from the old key and Delete removed the successor, yet DeleteRole refused")
	}
	k := withRoles("created", "other", "r")
	mustCreate(t, s, k)
	if !inUse("after Create") {
		t.Error("a created key has the role, yet DeleteRole let it go")
	}
	if _, err := s.Update(ctx, k.ID, func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.Roles = []string{"other"}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if inUse("after Update took the role away") {
		t.Error("Update took the role from the only key that had it, yet DeleteRole refused")
	}
}

// testSpendKeyAndOwnerConcurrent: 150 concurrent spends over 3 keys with 20
// credits each, sharing an owner with 50, take exactly 50 from the owner and
// 50 from the keys, never going below zero and never failing (no deadlock
// between spends that hold a key and want the owner).
func testSpendKeyAndOwnerConcurrent(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	o := owner("pool", base)
	o.Remaining, o.Refill, o.RefilledAt = keyward.Ptr[int64](50), nil, nil
	mustPutOwner(t, s, o)
	var ids []string
	for range 3 {
		k := plain(t, "k", base)
		k.Owner, k.Remaining = "pool", keyward.Ptr[int64](20)
		mustCreate(t, s, k)
		ids = append(ids, k.ID)
	}
	var spent atomic.Int64
	var wg sync.WaitGroup
	for i := range 150 {
		wg.Go(func() {
			b, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: ids[i%3], Owner: "pool", Cost: 1, Now: base})
			switch {
			case err != nil:
				t.Error(err)
			case b.Key < 0 || b.Owner < 0:
				t.Errorf("balance %+v: below zero, or a counted balance reported as none", b)
			case b.Spent:
				spent.Add(1)
			}
		})
	}
	wg.Wait()
	if spent.Load() != 50 {
		t.Errorf("%d spends succeeded, want 50 (the owner's credits)", spent.Load())
	}
	left := int64(0)
	for _, id := range ids {
		left += *mustGet(t, s, id).Remaining
	}
	if left != 10 {
		t.Errorf("the keys have %d credits left together, want 60-50 = 10", left)
	}
	if got, err := s.GetOwner(ctx, "pool"); err != nil || *got.Remaining != 0 {
		t.Errorf("owner after the run = %+v, %v; want 0 left", got, err)
	}
}
