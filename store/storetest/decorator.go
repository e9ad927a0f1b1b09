package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

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
	checkFreshGet(t, d, next, "changed behind the decorator",
		"fresh Get through the decorator after a write behind it", "the stored state")
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
	testEventsPassThrough(t, next, d)
	testRefundPassThrough(t, next, d)
}

// testRefundPassThrough checks that RefundCredits reaches the store of
// record when it gives credits back, and says ErrUnsupported when not.
func testRefundPassThrough(t *testing.T, next, d keyward.Store) {
	ctx := context.Background()
	_, ok := next.(keyward.CreditRefunder)
	k := plain(t, "refunded", base)
	k.Remaining = keyward.Ptr[int64](10)
	mustCreate(t, next, k)
	back, err := keyward.RefundCredits(ctx, d, keyward.CreditRefund{KeyID: k.ID, Amount: 5, Taken: base, KeyUpdatedAt: k.UpdatedAt})
	if !ok {
		if !errors.Is(err, keyward.ErrUnsupported) {
			t.Errorf("RefundCredits through the decorator of a store without refunds = %v; want ErrUnsupported", err)
		}
		return
	}
	got, gerr := next.Get(ctx, k.ID)
	if err != nil || !back.Key || gerr != nil || *got.Remaining != 15 {
		t.Errorf("RefundCredits through the decorator = %+v, %v; the store of record holds %v, %v; want the key's row, 15", back, err, got.Remaining, gerr)
	}
}

// testEventsPassThrough checks that the event methods reach the store of
// record, each seen from the other side.
func testEventsPassThrough(t *testing.T, next, d keyward.Store) {
	ctx := context.Background()
	w := mustWebhook(t, d, keyward.AllEvents)
	if got, err := next.GetWebhook(ctx, w.ID); err != nil || got.URL != w.URL {
		t.Errorf("CreateWebhook through the decorator: the store of record has %+v, %v", got, err)
	}
	if all, err := d.ListWebhooks(ctx); err != nil || len(all) != 1 {
		t.Errorf("ListWebhooks through the decorator = %d, %v; want 1", len(all), err)
	}
	if _, err := d.UpdateWebhook(ctx, w.ID, func(w *keyward.Webhook) (*keyward.AuditEntry, error) { w.Description = "via"; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.GetWebhook(ctx, w.ID); got == nil || got.Description != "via" {
		t.Errorf("UpdateWebhook or GetWebhook through the decorator: %+v", got)
	}
	e := event(t, keyward.EventKeyExpiring, base)
	e.Dedupe = "passthrough"
	if n, err := d.AppendEvents(ctx, []keyward.Event{e}); err != nil || n != 1 {
		t.Fatalf("AppendEvents through the decorator = %d, %v", n, err)
	}
	if n, err := next.AppendEvents(ctx, []keyward.Event{e}); err != nil || n != 0 {
		t.Errorf("the decorator's AppendEvents did not reach the store of record's dedupe: %d, %v", n, err)
	}
	if n, err := d.FanOut(ctx, base, 10); err != nil || n != 1 {
		t.Fatalf("FanOut through the decorator = %d, %v", n, err)
	}
	ds := claimAll(t, d, base, "via")
	if len(ds) != 1 {
		t.Fatalf("ClaimDeliveries through the decorator: %d, want 1", len(ds))
	}
	record(t, d, ds[0], "via", base, 200, nil)
	if got, err := next.ListAttempts(ctx, keyward.AttemptFilter{Webhook: w.ID}); err != nil || len(got) != 1 {
		t.Errorf("RecordAttempts through the decorator: the store of record lists %d, %v", len(got), err)
	}
	if got, err := d.ListAttempts(ctx, keyward.AttemptFilter{Webhook: w.ID}); err != nil || len(got) != 1 {
		t.Errorf("ListAttempts through the decorator = %d, %v", len(got), err)
	}
	if res, err := d.PruneEvents(ctx, keyward.PruneParams{Before: base.Add(time.Hour), DedupeBefore: base.Add(time.Hour)}); err != nil || res.Attempts != 1 {
		t.Errorf("PruneEvents through the decorator = %+v, %v", res, err)
	}
	k := plain(t, "expiring", base)
	k.ExpiresAt = keyward.Ptr(base.Add(time.Hour))
	mustCreate(t, next, k)
	if got, err := d.ListExpiring(ctx, keyward.ExpiringFilter{From: base, To: base.Add(2 * time.Hour)}); err != nil || len(got) != 1 {
		t.Errorf("ListExpiring through the decorator = %d, %v; want 1", len(got), err)
	}
	if err := d.DeleteWebhook(ctx, w.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := next.GetWebhook(ctx, w.ID); err == nil {
		t.Error("DeleteWebhook through the decorator left the endpoint in the store of record")
	}
}
