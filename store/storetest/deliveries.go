package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func testWebhookCRUD(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	w1, w2 := mustWebhook(t, s, keyward.AllEvents), mustWebhook(t, s, "key.created", "key.revoked")
	dup := webhook(t, "key.created")
	dup.ID = w1.ID
	if err := s.CreateWebhook(ctx, dup, "whsec_dup", nil); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("CreateWebhook with a taken id: %v, want ErrConflict", err)
	}
	got, err := s.GetWebhook(ctx, w2.ID)
	if err != nil || !reflect.DeepEqual(got, w2) {
		t.Errorf("GetWebhook = %+v, %v; want %+v", got, err, w2)
	}
	all, err := s.ListWebhooks(ctx)
	if err != nil || len(all) != 2 || !reflect.DeepEqual(all[0], w1) || !reflect.DeepEqual(all[1], w2) {
		t.Errorf("ListWebhooks = %+v, %v; want w1, w2 (oldest first)", all, err)
	}

	later := base.Add(time.Hour)
	upd, err := s.UpdateWebhook(ctx, w1.ID, func(w *keyward.Webhook) (*keyward.AuditEntry, error) {
		w.URL, w.Events, w.Description, w.Enabled, w.UpdatedAt = "http://127.0.0.1:9/x", []string{"role.deleted"}, "changed", false, later
		return audit(keyward.ActionWebhookUpdate, "", later), nil
	})
	want := &keyward.Webhook{ID: w1.ID, URL: "http://127.0.0.1:9/x", Events: []string{"role.deleted"}, Description: "changed", CreatedAt: w1.CreatedAt, UpdatedAt: later}
	if err != nil || !reflect.DeepEqual(upd, want) {
		t.Errorf("UpdateWebhook = %+v, %v; want %+v", upd, err, want)
	}
	if got, _ := s.GetWebhook(ctx, w1.ID); !reflect.DeepEqual(got, want) {
		t.Errorf("GetWebhook after UpdateWebhook = %+v, want %+v", got, want)
	}
	if got, err := s.UpdateWebhook(ctx, w1.ID, func(w *keyward.Webhook) (*keyward.AuditEntry, error) {
		w.URL = "http://never"
		return nil, keyward.ErrNoChange
	}); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("UpdateWebhook with ErrNoChange = %+v, %v; want the stored endpoint", got, err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateWebhook(ctx, w1.ID, func(*keyward.Webhook) (*keyward.AuditEntry, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("UpdateWebhook whose function fails: %v, want its error", err)
	}
	unknown := keyward.WebhookIDPrefix + newID(t)
	if _, err := s.UpdateWebhook(ctx, unknown, func(*keyward.Webhook) (*keyward.AuditEntry, error) { return nil, nil }); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("UpdateWebhook of an unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.GetWebhook(ctx, unknown); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("GetWebhook of an unknown id: %v, want ErrNotFound", err)
	}
	if err := s.DeleteWebhook(ctx, w1.ID, audit(keyward.ActionWebhookDelete, "", later)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetWebhook(ctx, w1.ID); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("GetWebhook after DeleteWebhook: %v, want ErrNotFound", err)
	}
	if err := s.DeleteWebhook(ctx, w1.ID, nil); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("DeleteWebhook twice: %v, want ErrNotFound", err)
	}
	if all, _ := s.ListWebhooks(ctx); len(all) != 1 {
		t.Errorf("ListWebhooks after a delete: %d endpoints, want 1", len(all))
	}
}

// byWebhook groups the event types of deliveries by endpoint.
func byWebhook(ds []keyward.Delivery) map[string][]string {
	out := map[string][]string{}
	for _, d := range ds {
		out[d.WebhookID] = append(out[d.WebhookID], d.Event.Type)
	}
	for _, l := range out {
		slices.Sort(l)
	}
	return out
}

func testFanOutFilters(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	all, created, off, roles := mustWebhook(t, s, keyward.AllEvents), mustWebhook(t, s, "key.created"), mustWebhook(t, s, keyward.AllEvents), mustWebhook(t, s, "role.updated")
	if _, err := s.UpdateWebhook(ctx, off.ID, func(w *keyward.Webhook) (*keyward.AuditEntry, error) { w.Enabled = false; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	kc, kr, testOff, testCreated := event(t, "key.created", base), event(t, "key.revoked", base), event(t, "webhook.test", base), event(t, "webhook.test", base)
	testOff.Webhook, testCreated.Webhook = off.ID, created.ID
	if _, err := s.AppendEvents(ctx, []keyward.Event{kc, kr, testOff, testCreated}); err != nil {
		t.Fatal(err)
	}
	if n := fanOut(t, s, base); n != 4 {
		t.Fatalf("FanOut took %d events, want 4", n)
	}
	if n := fanOut(t, s, base); n != 0 {
		t.Errorf("a second FanOut took %d events, want 0", n)
	}
	ds := claimAll(t, s, base, "t1")
	want := map[string][]string{all.ID: {"key.created", "key.revoked"}, created.ID: {"key.created", "webhook.test"}}
	if got := byWebhook(ds); !reflect.DeepEqual(got, want) {
		t.Errorf("deliveries by endpoint = %v, want %v (a disabled endpoint gets its targeted test once enabled; %s wants role.updated only)", got, want, roles.ID)
	}
	for _, d := range ds {
		if d.WebhookID == all.ID && d.Event.ID == kc.ID {
			equalEvents(t, d.Event, kc)
			if d.URL != all.URL || d.Secret != "whsec_"+all.ID || d.Attempts != 0 || !d.FirstAttemptAt.IsZero() || !d.CreatedAt.Equal(base) {
				t.Errorf("delivery = %+v; want the endpoint's URL and secret, no attempt, created at %v", d, base)
			}
		}
	}
	if _, err := s.UpdateWebhook(ctx, off.ID, func(w *keyward.Webhook) (*keyward.AuditEntry, error) { w.Enabled = true; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if got := byWebhook(claimAll(t, s, base, "t2")); !reflect.DeepEqual(got, map[string][]string{off.ID: {"webhook.test"}}) {
		t.Errorf("after enabling the endpoint, deliveries = %v; want its targeted test only", got)
	}

	// Concurrent fan-outs take each event once.
	var events []keyward.Event
	for range 300 {
		events = append(events, event(t, "role.updated", base))
	}
	if _, err := s.AppendEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				n, err := s.FanOut(ctx, base, 7)
				if err != nil {
					t.Errorf("concurrent FanOut: %v", err)
					return
				}
				mu.Lock()
				total += n
				mu.Unlock()
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	total += fanOut(t, s, base)
	if total != 300 {
		t.Errorf("concurrent fan-outs took %d events, want 300", total)
	}
	if got := byWebhook(claimAll(t, s, base, "t3")); len(got[all.ID]) != 300 || len(got[roles.ID]) != 300 || len(got[off.ID]) != 300 || len(got[created.ID]) != 0 {
		t.Errorf("deliveries of 300 role.updated: %d, %d, %d, %d; want 300 to each of *, role.updated and the re-enabled *, none to key.created",
			len(got[all.ID]), len(got[roles.ID]), len(got[off.ID]), len(got[created.ID]))
	}
}

// claim claims with the given bounds.
func claim(tb testing.TB, s keyward.Store, now time.Time, token string, per, limit int, skip ...string) []keyward.Delivery {
	tb.Helper()
	ds, err := s.ClaimDeliveries(context.Background(), keyward.DeliveryClaim{
		Now: now, Until: now.Add(time.Minute), Token: token, PerWebhook: per, Limit: limit, Skip: skip,
	})
	if err != nil {
		tb.Fatalf("ClaimDeliveries: %v", err)
	}
	return ds
}

func record(tb testing.TB, s keyward.Store, d keyward.Delivery, token string, at time.Time, status int, next *time.Time) {
	tb.Helper()
	errText := ""
	if status != 200 {
		errText = fmt.Sprintf("status %d", status)
	}
	r := keyward.AttemptRecord{DeliveryID: d.ID, Token: token, EventID: d.Event.ID, EventType: d.Event.Type, At: at, Status: status, Error: errText, Next: next}
	if err := s.RecordAttempts(context.Background(), []keyward.AttemptRecord{r}); err != nil {
		tb.Fatalf("RecordAttempts: %v", err)
	}
}

func testClaimLeaseRecord(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	w := mustWebhook(t, s, keyward.AllEvents)
	for range 5 {
		if _, err := s.AppendEvents(ctx, []keyward.Event{event(t, "key.updated", base)}); err != nil {
			t.Fatal(err)
		}
	}
	fanOut(t, s, base)
	counts := []int{
		len(claim(t, s, base, "a", 2, 10)),
		len(claim(t, s, base, "a", 10, 1)),
		len(claim(t, s, base, "a", 10, 10, w.ID)),
		len(claim(t, s, base, "a", 10, 10)),
		len(claim(t, s, base, "a", 10, 10)),
	}
	if want := []int{2, 1, 0, 2, 0}; !reflect.DeepEqual(counts, want) {
		t.Fatalf("claims (2 per endpoint, 1 in all, skipping it, all, again) got %v deliveries, want %v", counts, want)
	}
	t1 := base.Add(time.Minute) // the leases end
	ds := claim(t, s, t1, "z", 10, 10)
	if len(ds) != 5 {
		t.Fatalf("claim when the leases ended: %d deliveries, want 5", len(ds))
	}
	record(t, s, ds[0], "a", t1, 200, nil) // a lost claim: skipped
	if got, _ := s.ListAttempts(ctx, keyward.AttemptFilter{Webhook: w.ID}); len(got) != 0 {
		t.Fatalf("an attempt of a lost claim was logged: %+v", got)
	}
	retry := t1.Add(5 * time.Second)
	record(t, s, ds[0], "z", t1, 200, nil)
	record(t, s, ds[1], "z", t1.Add(time.Millisecond), 500, &retry)
	record(t, s, ds[0], "z", t1, 200, nil) // done already: skipped
	if got := claim(t, s, t1.Add(time.Second), "y", 10, 10); len(got) != 0 {
		t.Errorf("claim before the retry is due: %d deliveries, want 0", len(got))
	}
	t2 := t1.Add(time.Minute)
	again := claim(t, s, t2, "y", 10, 10)
	if len(again) != 4 || !slices.ContainsFunc(again, func(d keyward.Delivery) bool { return d.ID == ds[1].ID }) {
		t.Fatalf("claim after the retry time: %d deliveries, want the retried one and the 3 leased ones", len(again))
	}
	for _, d := range again {
		if d.ID == ds[1].ID && (d.Attempts != 1 || !d.FirstAttemptAt.Equal(t1.Add(time.Millisecond))) {
			t.Errorf("retried delivery: %d attempts, first at %v; want 1 at %v", d.Attempts, d.FirstAttemptAt, t1.Add(time.Millisecond))
		}
		if d.ID == ds[0].ID {
			t.Errorf("a done delivery was claimed again")
		}
	}
	record(t, s, ds[1], "y", t2, 200, nil)

	got, err := s.ListAttempts(ctx, keyward.AttemptFilter{Webhook: w.ID})
	if err != nil || len(got) != 3 {
		t.Fatalf("ListAttempts = %d, %v; want 3", len(got), err)
	}
	want := []keyward.Attempt{
		{EventID: ds[1].Event.ID, Type: "key.updated", Attempt: 2, At: t2, Status: 200},
		{EventID: ds[1].Event.ID, Type: "key.updated", Attempt: 1, At: t1.Add(time.Millisecond), Status: 500, Error: "status 500", NextAttemptAt: &retry},
		{EventID: ds[0].Event.ID, Type: "key.updated", Attempt: 1, At: t1, Status: 200},
	}
	for i := range got {
		if i > 0 && got[i].ID >= got[i-1].ID {
			t.Errorf("attempts not newest first: ids %d then %d", got[i-1].ID, got[i].ID)
		}
		g := got[i]
		g.ID = 0
		if !reflect.DeepEqual(g, want[i]) {
			t.Errorf("attempt %d = %+v, want %+v", i, g, want[i])
		}
	}
	page, err := s.ListAttempts(ctx, keyward.AttemptFilter{Webhook: w.ID, Before: got[0].ID, Limit: 1})
	if err != nil || len(page) != 1 || page[0].ID != got[1].ID {
		t.Errorf("ListAttempts before the newest, limit 1 = %+v, %v; want the second", page, err)
	}
	if other, _ := s.ListAttempts(ctx, keyward.AttemptFilter{Webhook: keyward.WebhookIDPrefix + newID(t)}); len(other) != 0 {
		t.Errorf("ListAttempts of another endpoint: %d, want 0", len(other))
	}

	// Deleting the endpoint drops its deliveries: a record then is skipped.
	if err := s.DeleteWebhook(ctx, w.ID, nil); err != nil {
		t.Fatal(err)
	}
	record(t, s, again[1], "y", t2, 200, nil)
	if got, _ := s.ListAttempts(ctx, keyward.AttemptFilter{Webhook: w.ID}); len(got) != 0 {
		t.Errorf("attempts of a deleted endpoint: %d, want 0", len(got))
	}
}

// testConcurrentClaimers checks that claimers running at once never get the
// same delivery.
func testConcurrentClaimers(t *testing.T, s keyward.Store) { concurrentClaimers(t, s, s) }

// concurrentClaimers runs 4 claimers at once, taking turns through the
// handles given (of one database), and checks that no delivery is claimed
// twice.
func concurrentClaimers(t *testing.T, handles ...keyward.Store) {
	ctx := context.Background()
	s := handles[0]
	hooks := []*keyward.Webhook{mustWebhook(t, s, keyward.AllEvents), mustWebhook(t, s, keyward.AllEvents), mustWebhook(t, s, "key.created")}
	var events []keyward.Event
	for range 200 {
		events = append(events, event(t, "key.created", base))
	}
	if _, err := s.AppendEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	fanOut(t, s, base)
	seen := map[int64]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			h := handles[g%len(handles)]
			for {
				ds, err := h.ClaimDeliveries(ctx, keyward.DeliveryClaim{Now: base, Until: base.Add(time.Hour), Token: fmt.Sprint(g), PerWebhook: 7, Limit: 13})
				if err != nil {
					t.Errorf("claimer %d: %v", g, err)
					return
				}
				mu.Lock()
				for _, d := range ds {
					seen[d.ID]++
				}
				mu.Unlock()
				if len(ds) == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, d := range claimAll(t, s, base, "rest") {
		seen[d.ID]++
	}
	twice := 0
	for _, n := range seen {
		if n > 1 {
			twice++
		}
	}
	if want := 200 * len(hooks); len(seen) != want || twice > 0 {
		t.Errorf("4 concurrent claimers: %d distinct deliveries, %d claimed more than once; want %d, 0", len(seen), twice, want)
	}
}

func testPruneEvents(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	old, recent := base, base.Add(10*24*time.Hour)
	dOld, dNew := event(t, "key.expiring", old), event(t, "key.expiring", recent)
	dOld.Dedupe, dNew.Dedupe = "old", "new"
	if _, err := s.AppendEvents(ctx, []keyward.Event{dOld, dNew}); err != nil {
		t.Fatal(err)
	}
	fanOut(t, s, old) // no endpoint yet: no deliveries
	a, b := mustWebhook(t, s, keyward.AllEvents), mustWebhook(t, s, keyward.AllEvents)
	e1 := event(t, "key.created", old)
	if _, err := s.AppendEvents(ctx, []keyward.Event{e1}); err != nil {
		t.Fatal(err)
	}
	fanOut(t, s, old)
	for _, d := range claim(t, s, old, "o", 10, 10, b.ID) {
		record(t, s, d, "o", old, 200, nil)
	}
	if _, err := s.UpdateWebhook(ctx, b.ID, func(w *keyward.Webhook) (*keyward.AuditEntry, error) { w.Enabled = false; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	e2 := event(t, "key.created", recent)
	if _, err := s.AppendEvents(ctx, []keyward.Event{e2}); err != nil {
		t.Fatal(err)
	}
	fanOut(t, s, recent)
	next := recent.Add(time.Hour)
	for _, d := range claim(t, s, recent, "n", 10, 10) {
		record(t, s, d, "n", recent, 503, &next)
	}

	cut := base.Add(7 * 24 * time.Hour)
	res, err := s.PruneEvents(ctx, keyward.PruneParams{Before: cut, DedupeBefore: cut})
	want := keyward.PruneResult{Attempts: 1, Deliveries: 2, Events: 2, Dedupe: 1}
	if err != nil || res != want {
		t.Errorf("PruneEvents = %+v, %v; want %+v (the old attempt; the done delivery and the disabled endpoint's pending one; "+
			"the old event and the old dedupe event; the old dedupe key)", res, err, want)
	}
	if got, _ := s.ListAttempts(ctx, keyward.AttemptFilter{Webhook: a.ID}); len(got) != 1 || got[0].EventID != e2.ID {
		t.Errorf("attempts after pruning: %+v; want the recent one", got)
	}
	if ds := claim(t, s, next, "later", 10, 10); len(ds) != 1 || ds[0].Event.ID != e2.ID {
		t.Errorf("after pruning, the pending delivery of the recent event: %+v; want it due still", ds)
	}
	o, n := event(t, "key.expiring", recent), event(t, "key.expiring", recent)
	o.Dedupe, n.Dedupe = "old", "new"
	if got, err := s.AppendEvents(ctx, []keyward.Event{o, n}); err != nil || got != 1 {
		t.Errorf("AppendEvents of the pruned and the kept dedupe keys = %d, %v; want 1 (the pruned one)", got, err)
	}
	if res, err := s.PruneEvents(ctx, keyward.PruneParams{Before: cut, DedupeBefore: cut}); err != nil || res != (keyward.PruneResult{}) {
		t.Errorf("PruneEvents again = %+v, %v; want nothing", res, err)
	}
}
