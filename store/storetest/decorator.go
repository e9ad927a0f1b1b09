package storetest

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
)

// Decorator wraps the store of record next, as package cache and package
// metrics do. It registers its own cleanup with t; closing the decorator may
// close next.
type Decorator func(t *testing.T, next keyward.Store) keyward.Store

// RunDecorator runs every clause of [Run] against decorate(newStore(t)), and
// the clauses of a decorator: every method reaches the store of record (a
// capability is never lost behind a wrapper), and a read made with
// [keyward.NewFreshContext] sees writes made to the store of record behind
// the decorator's back (by another instance, or the CLI).
func RunDecorator(t *testing.T, newStore Factory, decorate Decorator) {
	Run(t, func(t *testing.T) keyward.Store { return decorate(t, newStore(t)) })
	t.Run("DecoratorFreshGetSeesWritesBehindIt", func(t *testing.T) {
		next := newStore(t)
		testFreshBehind(t, next, decorate(t, next))
	})
	t.Run("DecoratorPassesEveryMethodThrough", func(t *testing.T) {
		next := newStore(t)
		testPassThrough(t, next, decorate(t, next))
	})
}

func testFreshBehind(t *testing.T, next, d keyward.Store) {
	ctx := context.Background()
	k := plain(t, "before", base)
	mustCreate(t, d, k)
	mustGet(t, d, k.ID) // the decorator may keep a copy now
	if _, err := next.Update(ctx, k.ID, func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.Name = "changed behind the decorator"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(keyward.NewFreshContext(ctx), k.ID)
	if err != nil || got.Name != "changed behind the decorator" {
		t.Errorf("fresh Get through the decorator after a write behind it = %v, %v; want the stored state", got, err)
	}
}

// testPassThrough checks, for the methods whose effect is easy to see in the
// store of record, that the decorator forwards them.
func testPassThrough(t *testing.T, next, d keyward.Store) {
	ctx := context.Background()
	batch := []*keyward.Key{plain(t, "a", base), plain(t, "b", base)}
	audits := []*keyward.AuditEntry{audit(keyward.ActionCreate, batch[0].ID, base), audit(keyward.ActionCreate, batch[1].ID, base)}
	if n, err := d.CreateBatch(ctx, batch, audits); err != nil || n != 2 {
		t.Fatalf("CreateBatch through the decorator = %d, %v; want 2", n, err)
	}
	mustGet(t, next, batch[1].ID)
	wantErr := next.KeyIDs(ctx, func(string) error { return nil })
	seen := 0
	err := d.KeyIDs(ctx, func(string) error { seen++; return nil })
	if (err == nil) != (wantErr == nil) || (err == nil && seen != 2) {
		t.Errorf("KeyIDs through the decorator: %d ids, err %v; the store of record answers err %v", seen, err, wantErr)
	}
	if err := d.Ping(ctx); err != nil {
		t.Errorf("Ping through the decorator: %v", err)
	}
}
