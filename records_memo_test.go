package keyward_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/store/memory"
)

// epochStore is a memory store that behaves, for Verify, like a caching
// Store: Get hands out one key instance per id with its verify memo on, and
// RecordsEpoch reports the epoch the test sets. It counts the owner and role
// reads that reach it.
type epochStore struct {
	*memory.Store
	epoch      atomic.Uint64
	ownerReads atomic.Int64
	roleReads  atomic.Int64
	mu         sync.Mutex
	keys       map[string]*keyward.Key
}

func (s *epochStore) RecordsEpoch(time.Time) keyward.RecordEpoch {
	return keyward.RecordEpoch{Changes: s.epoch.Load()}
}

func (s *epochStore) Get(ctx context.Context, id string) (*keyward.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[id]; ok {
		return k, nil
	}
	k, err := s.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	k.EnableVerifyMemo()
	s.keys[id] = k
	return k, nil
}

func (s *epochStore) GetOwner(ctx context.Context, name string) (*keyward.Owner, error) {
	s.ownerReads.Add(1)
	return s.Store.GetOwner(ctx, name)
}

func (s *epochStore) GetRole(ctx context.Context, name string) (*keyward.Role, error) {
	s.roleReads.Add(1)
	return s.Store.GetRole(ctx, name)
}

// TestRecordsReadOncePerEpoch: with a Store that caches records, a key
// instance's verifications read its owner record and roles once per epoch
// of that cache; a new epoch, or a context that asks for fresh reads, reads
// them again, and the decision follows what was read.
func TestRecordsReadOncePerEpoch(t *testing.T) {
	st := &epochStore{Store: memory.New(), keys: map[string]*keyward.Key{}}
	svc := testkit.NewService(t, st, nil, nil)
	ctx := context.Background()
	if _, _, err := svc.PutOwner(ctx, "acme", keyward.OwnerParams{Remaining: keyward.Ptr[int64](100)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"invoices:read"}}); err != nil {
		t.Fatal(err)
	}
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "k", Owner: "acme", Roles: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	req := keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{"invoices:read"}}
	verify := func(ctx context.Context) keyward.Result {
		t.Helper()
		r, err := svc.Verify(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	reads := func() (int64, int64) { return st.ownerReads.Load(), st.roleReads.Load() }
	st.ownerReads.Store(0) // the admin writes above read them too
	st.roleReads.Store(0)

	for i := range 3 {
		r := verify(ctx)
		if !r.Valid() || r.Owner == nil || r.Owner.Name != "acme" || r.OwnerRemaining != int64(99-i) {
			t.Fatalf("verification %d: %v, owner %+v, owner credits %d", i, r.Outcome, r.Owner, r.OwnerRemaining)
		}
	}
	if o, ro := reads(); o != 1 || ro != 1 {
		t.Fatalf("three verifications in one epoch read the owner %d and the role %d times, want 1 and 1", o, ro)
	}

	// The role loses the scope; the cache would drop it and move its epoch.
	if _, _, err := svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"invoices:list"}}); err != nil {
		t.Fatal(err)
	}
	st.ownerReads.Store(1)
	st.roleReads.Store(1)
	if r := verify(ctx); !r.Valid() {
		t.Fatalf("in the same epoch the memo answers, with the scopes it read: %v", r.Outcome)
	}
	st.epoch.Add(1)
	if r := verify(ctx); r.Outcome != keyward.OutcomeInsufficientScope || r.MissingScope != "invoices:read" {
		t.Fatalf("after the role lost the scope in a new epoch: %v (missing %q), want INSUFFICIENT_SCOPE", r.Outcome, r.MissingScope)
	}
	if o, ro := reads(); o != 2 || ro != 2 {
		t.Fatalf("a new epoch read the owner %d and the role %d times in all, want 2 and 2", o, ro)
	}

	// Fresh reads bypass the memo, every time.
	fresh := keyward.NewFreshContext(ctx)
	verify(fresh)
	verify(fresh)
	if o, ro := reads(); o != 4 || ro != 4 {
		t.Fatalf("two fresh verifications: owner %d and role %d reads in all, want 4 and 4", o, ro)
	}
}

// TestRecordsMemoOfAMissingOwnerRecord: a key whose owner has no record
// remembers that too, and sees the record in the next epoch once it exists.
func TestRecordsMemoOfAMissingOwnerRecord(t *testing.T) {
	st := &epochStore{Store: memory.New(), keys: map[string]*keyward.Key{}}
	svc := testkit.NewService(t, st, nil, nil)
	ctx := context.Background()
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "k", Owner: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	req := keyward.VerifyRequest{Key: iss.Secret}
	for range 2 {
		r, err := svc.Verify(ctx, req)
		if err != nil || !r.Valid() || r.Owner != nil {
			t.Fatalf("owner without a record: %v, owner %+v, %v", r.Outcome, r.Owner, err)
		}
	}
	if o := st.ownerReads.Load(); o != 1 {
		t.Fatalf("two verifications read the owner %d times, want 1", o)
	}
	if _, _, err := svc.PutOwner(ctx, "nobody", keyward.OwnerParams{Remaining: keyward.Ptr[int64](0)}); err != nil {
		t.Fatal(err)
	}
	st.epoch.Add(1)
	r, err := svc.Verify(ctx, req)
	if err != nil || r.Outcome != keyward.OutcomeUsageExceeded || r.Owner == nil || r.Owner.Name != "nobody" {
		t.Fatalf("once the record exists (no credits), in a new epoch: %v, owner %+v, %v", r.Outcome, r.Owner, err)
	}
}
