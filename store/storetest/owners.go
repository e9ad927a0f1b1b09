package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func owner(name string, at time.Time) *keyward.Owner {
	return &keyward.Owner{
		Name: name, Metadata: json.RawMessage(`{"plan":"pro"}`),
		RateLimits: []keyward.NamedRateLimit{
			{Name: "burst", Limit: 10, Period: keyward.Duration(time.Second)},
			{Name: "daily", Limit: 1000, Period: keyward.Duration(24 * time.Hour)},
		},
		Remaining: keyward.Ptr[int64](500), Refill: &keyward.Refill{Interval: keyward.RefillMonthly, Amount: 500},
		RefilledAt: keyward.Ptr(time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)),
		CreatedAt:  at, UpdatedAt: at,
	}
}

func mustPutOwner(tb testing.TB, s keyward.Store, o *keyward.Owner) {
	tb.Helper()
	if _, err := s.PutOwner(context.Background(), o, audit(keyward.ActionOwnerPut, "", o.CreatedAt)); err != nil {
		tb.Fatalf("PutOwner(%s): %v", o.Name, err)
	}
}

// equalOwners compares owner records field by field, metadata by value.
func equalOwners(tb testing.TB, got, want *keyward.Owner) {
	tb.Helper()
	g, w := got.Clone(), want.Clone()
	var gm, wm any
	_ = json.Unmarshal(g.Metadata, &gm)
	_ = json.Unmarshal(w.Metadata, &wm)
	if !reflect.DeepEqual(gm, wm) {
		tb.Errorf("owner metadata = %s, want %s", g.Metadata, w.Metadata)
	}
	g.Metadata, w.Metadata = nil, nil
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		tb.Errorf("owner differs\n got: %s refilled=%v\nwant: %s refilled=%v", gj, g.RefilledAt, wj, w.RefilledAt)
	}
}

func testOwnerPutGet(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	o := owner("acme corp", base)
	created, err := s.PutOwner(ctx, o, audit(keyward.ActionOwnerPut, "", base))
	if err != nil || !created {
		t.Fatalf("PutOwner (new) = %v, %v; want created", created, err)
	}
	for _, name := range []string{"k1", "k2"} {
		k := plain(t, name, base)
		k.Owner = "acme corp"
		mustCreate(t, s, k)
	}
	mustCreate(t, s, plain(t, "someone else's", base))
	got, err := s.GetOwner(ctx, "acme corp")
	if err != nil {
		t.Fatal(err)
	}
	want := o.Clone()
	want.KeyCount = 2
	equalOwners(t, got, want)

	// Replacing keeps created_at and takes every other field as given.
	later := base.Add(time.Hour)
	repl := &keyward.Owner{Name: "acme corp", Metadata: json.RawMessage(`{}`), RateLimits: []keyward.NamedRateLimit{}, CreatedAt: later, UpdatedAt: later}
	created, err = s.PutOwner(ctx, repl, nil)
	if err != nil || created {
		t.Fatalf("PutOwner (replace) = %v, %v; want replaced", created, err)
	}
	got, _ = s.GetOwner(ctx, "acme corp")
	want = repl.Clone()
	want.CreatedAt, want.KeyCount = base, 2
	equalOwners(t, got, want)
	if _, err := s.GetOwner(ctx, "nobody"); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("GetOwner(unknown) err = %v, want ErrNotFound", err)
	}
}

func testOwnerUpdate(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	mustPutOwner(t, s, owner("o", base))
	got, err := s.UpdateOwner(ctx, "o", func(o *keyward.Owner) (*keyward.AuditEntry, error) {
		o.Remaining = keyward.Ptr[int64](7)
		return audit(keyward.ActionOwnerUpdate, "", base), nil
	})
	if err != nil || *got.Remaining != 7 {
		t.Fatalf("UpdateOwner = %v, %v", got, err)
	}
	if got, _ := s.GetOwner(ctx, "o"); *got.Remaining != 7 {
		t.Errorf("stored remaining = %d, want 7", *got.Remaining)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateOwner(ctx, "o", func(o *keyward.Owner) (*keyward.AuditEntry, error) {
		o.Remaining = keyward.Ptr[int64](1)
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Errorf("UpdateOwner with a failing fn: err = %v, want fn's error", err)
	}
	if got, _ := s.GetOwner(ctx, "o"); *got.Remaining != 7 {
		t.Errorf("a failed update wrote: remaining %d", *got.Remaining)
	}
	if _, err := s.UpdateOwner(ctx, "none", func(*keyward.Owner) (*keyward.AuditEntry, error) { return nil, nil }); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("UpdateOwner(unknown) err = %v, want ErrNotFound", err)
	}
}

func testOwnerListDelete(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	for _, n := range []string{"beta", "Alpha Inc", "gamma", "alphabet", "Éclair"} {
		mustPutOwner(t, s, owner(n, base))
	}
	names := func(f keyward.NameFilter) []string {
		os, err := s.ListOwners(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range os {
			out = append(out, o.Name)
		}
		return out
	}
	if got := names(keyward.NameFilter{Contains: "é"}); !reflect.DeepEqual(got, []string{"Éclair"}) {
		t.Errorf("ListOwners(contains é) = %q, want the case of every script ignored", got)
	}
	if err := s.DeleteOwner(ctx, "Éclair", nil); err != nil {
		t.Fatal(err)
	}
	if got := names(keyward.NameFilter{}); !reflect.DeepEqual(got, []string{"Alpha Inc", "alphabet", "beta", "gamma"}) {
		t.Errorf("ListOwners = %q, want byte order", got)
	}
	if got := names(keyward.NameFilter{Contains: "ALPHA"}); !reflect.DeepEqual(got, []string{"Alpha Inc", "alphabet"}) {
		t.Errorf("ListOwners(contains ALPHA) = %q", got)
	}
	if got := names(keyward.NameFilter{After: "alphabet", Limit: 1}); !reflect.DeepEqual(got, []string{"beta"}) {
		t.Errorf("ListOwners(after alphabet, limit 1) = %q", got)
	}
	if err := s.DeleteOwner(ctx, "beta", audit(keyward.ActionOwnerDelete, "", base)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetOwner(ctx, "beta"); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("deleted owner still there: %v", err)
	}
	if err := s.DeleteOwner(ctx, "beta", nil); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("DeleteOwner twice: err = %v, want ErrNotFound", err)
	}
}

func testRoles(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	r := &keyward.Role{Name: "reader", Description: "reads", Scopes: []string{"invoices:read", "keyward:verify"}, CreatedAt: base, UpdatedAt: base}
	if created, err := s.PutRole(ctx, r, audit(keyward.ActionRolePut, "", base)); err != nil || !created {
		t.Fatalf("PutRole = %v, %v", created, err)
	}
	later := base.Add(time.Minute)
	r2 := &keyward.Role{Name: "reader", Scopes: []string{"invoices:*"}, CreatedAt: later, UpdatedAt: later}
	if created, err := s.PutRole(ctx, r2, nil); err != nil || created {
		t.Fatalf("PutRole (replace) = %v, %v", created, err)
	}
	got, err := s.GetRole(ctx, "reader")
	want := *r2
	want.CreatedAt = base
	if err != nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("GetRole = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.PutRole(ctx, &keyward.Role{Name: "admin", Scopes: []string{}, CreatedAt: base, UpdatedAt: base}, nil); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListRoles(ctx, keyward.NameFilter{})
	if err != nil || len(list) != 2 || list[0].Name != "admin" || list[1].Name != "reader" {
		t.Errorf("ListRoles = %v, %v; want admin, reader", list, err)
	}
	k := plain(t, "has a role", base)
	k.Roles = []string{"reader"}
	mustCreate(t, s, k)
	if err := s.DeleteRole(ctx, "reader", audit(keyward.ActionRoleDelete, "", base)); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("DeleteRole while a key has it: err = %v, want ErrConflict", err)
	}
	if _, err := s.GetRole(ctx, "reader"); err != nil {
		t.Errorf("a refused delete removed the role: %v", err)
	}
	if _, err := s.Update(ctx, k.ID, func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.Roles = []string{}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRole(ctx, "reader", nil); err != nil {
		t.Errorf("DeleteRole once no key has it: %v", err)
	}
	if _, err := s.GetRole(ctx, "reader"); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("deleted role still there: %v", err)
	}
	if err := s.DeleteRole(ctx, "reader", nil); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("DeleteRole twice: %v", err)
	}
}

func testSpendOwnerCredits(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	o := owner("shared", base)
	o.Remaining, o.Refill, o.RefilledAt = keyward.Ptr[int64](3), nil, nil
	mustPutOwner(t, s, o)
	free := plain(t, "no credits of its own", base)
	free.Owner = "shared"
	limited := plain(t, "5 credits of its own", base)
	limited.Owner, limited.Remaining = "shared", keyward.Ptr[int64](5)
	mustCreate(t, s, free)
	mustCreate(t, s, limited)
	sp := func(id string, cost int64) keyward.CreditBalance {
		t.Helper()
		b, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: id, Owner: "shared", Cost: cost, Now: base})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if b := sp(free.ID, 1); !b.Spent || b.Key != -1 || b.Owner != 2 {
		t.Errorf("spend 1 on a key without credits = %+v; want spent, key -1, owner 2", b)
	}
	if b := sp(limited.ID, 2); !b.Spent || b.Key != 3 || b.Owner != 0 {
		t.Errorf("spend 2 on a limited key = %+v; want spent, key 3, owner 0", b)
	}
	// The owner is short: nothing is taken from the key either.
	if b := sp(limited.ID, 1); b.Spent || b.Key != 3 || b.Owner != 0 {
		t.Errorf("spend with the owner short = %+v; want not spent, key 3, owner 0", b)
	}
	if got := mustGet(t, s, limited.ID); *got.Remaining != 3 {
		t.Errorf("a refused spend took the key's credits: %d left, want 3", *got.Remaining)
	}
	// An owner without a record spends nothing there.
	b, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: limited.ID, Owner: "no record", Cost: 1, Now: base})
	if err != nil || !b.Spent || b.Key != 2 || b.Owner != -1 {
		t.Errorf("spend with an owner without a record = %+v, %v; want spent, key 2, owner -1", b, err)
	}
}

func testOwnerUsage(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	a, b := newID(t), newID(t)
	minute := base.Truncate(time.Minute)
	err := s.RecordUsage(ctx, keyward.UsageBatch{Counts: []keyward.UsageCount{
		{KeyID: a, Owner: "acme", Start: minute, Outcome: keyward.OutcomeValid, Count: 3},
		{KeyID: b, Owner: "acme", Start: minute, Outcome: keyward.OutcomeValid, Count: 4},
		{KeyID: b, Owner: "", Start: minute, Outcome: keyward.OutcomeValid, Count: 5},
		{KeyID: b, Owner: "other", Start: minute, Outcome: keyward.OutcomeRateLimited, Count: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	q := keyward.UsageQuery{Owner: "acme", From: minute, To: minute.Add(time.Hour), Bucket: time.Hour}
	got, err := s.Usage(ctx, q)
	if err != nil || len(got) != 1 || got[0].Count != 7 || got[0].Outcome != keyward.OutcomeValid {
		t.Errorf("owner usage = %+v, %v; want one bucket of 7 VALID", got, err)
	}
	q = keyward.UsageQuery{KeyID: b, From: minute, To: minute.Add(time.Hour), Bucket: time.Hour}
	got, _ = s.Usage(ctx, q)
	var valid int64
	for _, c := range got {
		if c.Outcome == keyward.OutcomeValid {
			valid += c.Count
		}
	}
	if valid != 9 {
		t.Errorf("key usage sums every owner it carried: %d VALID, want 9", valid)
	}
}

// testServiceOwnerQuota: 100 goroutines over 3 keys of one owner with 50
// shared credits get exactly 50 VALID.
func testServiceOwnerQuota(t *testing.T, s keyward.Store) {
	svc := service(t, s, base)
	ctx := context.Background()
	if _, _, err := svc.PutOwner(ctx, "metered", keyward.OwnerParams{Remaining: keyward.Ptr[int64](50)}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for range 3 {
		iss, err := svc.Create(ctx, keyward.CreateParams{Name: "k", Owner: "metered"})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, iss.Secret)
	}
	var valid, exceeded atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: keys[i%3]})
			switch {
			case err != nil:
				t.Error(err)
			case r.Outcome == keyward.OutcomeValid:
				valid.Add(1)
			case r.Outcome == keyward.OutcomeUsageExceeded:
				exceeded.Add(1)
			default:
				t.Errorf("outcome %v", r.Outcome)
			}
		})
	}
	wg.Wait()
	if valid.Load() != 50 || exceeded.Load() != 50 {
		t.Errorf("VALID %d, USAGE_EXCEEDED %d; want 50 and 50", valid.Load(), exceeded.Load())
	}
	o, _ := svc.GetOwner(ctx, "metered")
	if o == nil || *o.Remaining != 0 || o.KeyCount != 3 {
		t.Errorf("owner after the run = %+v; want 0 credits left, 3 keys", o)
	}
}

func testSettings(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	if _, err := s.Setting(ctx, "policy"); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("Setting before any put: err = %v, want ErrNotFound", err)
	}
	for _, v := range []string{`{"max":"720h"}`, `{"max":null,"list":[1,2]}`} {
		if err := s.PutSetting(ctx, "policy", json.RawMessage(v), audit("policy.update", "", base)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Setting(ctx, "policy")
		if err != nil || string(got) != v {
			t.Errorf("Setting = %s, %v; want %s", got, err, v)
		}
	}
	if e := auditOf(t, s, ""); len(e) != 2 || e[0].Action != "policy.update" {
		t.Errorf("audit entries of the puts = %+v, want 2 policy.update", e)
	}
}
