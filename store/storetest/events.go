package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// event returns an event of type typ at at with a fresh id.
func event(tb testing.TB, typ string, at time.Time) keyward.Event {
	tb.Helper()
	id, err := keyward.NewEventID()
	if err != nil {
		tb.Fatal(err)
	}
	return keyward.Event{ID: id, Type: typ, At: at, Data: json.RawMessage(`{"n":1,"s":"x"}`)}
}

// withEvents returns an audit entry carrying one new event of type typ.
func withEvents(tb testing.TB, action, keyID, typ string, at time.Time) (*keyward.AuditEntry, keyward.Event) {
	tb.Helper()
	a := audit(action, keyID, at)
	e := event(tb, typ, at)
	a.Events = []keyward.Event{e}
	return a, e
}

// hookSeq makes webhook ids and creation times unique within a test.
var hookSeq atomic.Int64

// webhook returns an enabled endpoint subscribing to events.
func webhook(tb testing.TB, events ...string) *keyward.Webhook {
	tb.Helper()
	n := hookSeq.Add(1)
	at := base.Add(time.Duration(n) * time.Millisecond)
	return &keyward.Webhook{
		ID: keyward.WebhookIDPrefix + newID(tb), URL: fmt.Sprintf("https://example.com/hooks/%d", n),
		Events: events, Description: "receiver", Enabled: true, CreatedAt: at, UpdatedAt: at,
	}
}

// mustWebhook creates an endpoint subscribing to events, with secret
// "whsec_<its id>".
func mustWebhook(tb testing.TB, s keyward.Store, events ...string) *keyward.Webhook {
	tb.Helper()
	w := webhook(tb, events...)
	if err := s.CreateWebhook(context.Background(), w, "whsec_"+w.ID, nil); err != nil {
		tb.Fatalf("CreateWebhook: %v", err)
	}
	return w
}

// fanOut fans out every pending event at now and returns how many there were.
func fanOut(tb testing.TB, s keyward.Store, now time.Time) int {
	tb.Helper()
	total := 0
	for {
		n, err := s.FanOut(context.Background(), now, 100)
		if err != nil {
			tb.Fatalf("FanOut: %v", err)
		}
		total += n
		if n < 100 {
			return total
		}
	}
}

// claimAll claims every delivery due at now, leased for a minute.
func claimAll(tb testing.TB, s keyward.Store, now time.Time, token string) []keyward.Delivery {
	tb.Helper()
	ds, err := s.ClaimDeliveries(context.Background(), keyward.DeliveryClaim{
		Now: now, Until: now.Add(time.Minute), Token: token, PerWebhook: 100_000, Limit: 100_000,
	})
	if err != nil {
		tb.Fatalf("ClaimDeliveries: %v", err)
	}
	return ds
}

// outbox returns the events fanned out to a catch-all endpoint created
// beforehand, in id order of their deliveries.
func outbox(tb testing.TB, s keyward.Store, now time.Time) []keyward.Event {
	tb.Helper()
	fanOut(tb, s, now)
	var out []keyward.Event
	for _, d := range claimAll(tb, s, now, "outbox") {
		out = append(out, d.Event)
	}
	return out
}

// eventIDs returns the ids of events.
func eventIDs(events []keyward.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	slices.Sort(ids)
	return ids
}

// equalEvents compares events, data by JSON value.
func equalEvents(tb testing.TB, got, want keyward.Event) {
	tb.Helper()
	var gd, wd any
	if err := json.Unmarshal(got.Data, &gd); err != nil {
		tb.Errorf("event data is not JSON: %q", got.Data)
	}
	_ = json.Unmarshal(want.Data, &wd)
	if !reflect.DeepEqual(gd, wd) {
		tb.Errorf("event data = %s, want %s", got.Data, want.Data)
	}
	got.Data, want.Data, want.Dedupe = nil, nil, ""
	if !reflect.DeepEqual(got, want) {
		tb.Errorf("event = %+v, want %+v", got, want)
	}
}

func testEventsWithAudit(t *testing.T, s keyward.Store) {
	mustWebhook(t, s, keyward.AllEvents)
	k := plain(t, "evented", base)
	a, e := withEvents(t, keyward.ActionCreate, k.ID, keyward.EventKeyCreated, base)
	if err := s.Create(context.Background(), k, a); err != nil {
		t.Fatal(err)
	}
	got := outbox(t, s, base)
	if len(got) != 1 {
		t.Fatalf("outbox after Create with an event: %d events, want 1", len(got))
	}
	equalEvents(t, got[0], e)
	for _, entry := range auditOf(t, s, k.ID) {
		if entry.Events != nil {
			t.Errorf("ListAudit returned events with the entry: %+v", entry.Events)
		}
	}
}

// testEventsEveryWrite checks that every method that appends an audit entry
// writes its events too.
func testEventsEveryWrite(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	mustWebhook(t, s, keyward.AllEvents)
	var want []keyward.Event
	entry := func(action, keyID string) *keyward.AuditEntry {
		a, e := withEvents(t, action, keyID, keyward.EventKeyUpdated, base)
		want = append(want, e)
		return a
	}
	k, batch := plain(t, "k", base), plain(t, "b", base)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"Create", func() error { return s.Create(ctx, k, entry(keyward.ActionCreate, k.ID)) }},
		{"CreateBatch", func() error {
			_, err := s.CreateBatch(ctx, []*keyward.Key{batch}, []*keyward.AuditEntry{entry(keyward.ActionCreate, batch.ID)})
			return err
		}},
		{"Update", func() error {
			_, err := s.Update(ctx, k.ID, func(k *keyward.Key) (*keyward.AuditEntry, error) {
				k.Name = "changed"
				return entry(keyward.ActionUpdate, k.ID), nil
			})
			return err
		}},
		{"Rotate", func() error {
			_, _, err := s.Rotate(ctx, k.ID, func(old *keyward.Key) (*keyward.Key, *keyward.AuditEntry, error) {
				return plain(t, "next", base), entry(keyward.ActionRotate, old.ID), nil
			})
			return err
		}},
		{"Delete", func() error { return s.Delete(ctx, batch.ID, entry(keyward.ActionDelete, batch.ID)) }},
		{"PutOwner", func() error {
			_, err := s.PutOwner(ctx, owner("o", base), entry(keyward.ActionOwnerPut, ""))
			return err
		}},
		{"UpdateOwner", func() error {
			_, err := s.UpdateOwner(ctx, "o", func(o *keyward.Owner) (*keyward.AuditEntry, error) {
				o.Metadata = json.RawMessage(`{"x":1}`)
				return entry(keyward.ActionOwnerUpdate, ""), nil
			})
			return err
		}},
		{"DeleteOwner", func() error { return s.DeleteOwner(ctx, "o", entry(keyward.ActionOwnerDelete, "")) }},
		{"PutRole", func() error {
			_, err := s.PutRole(ctx, &keyward.Role{Name: "r", Scopes: []string{"a"}, CreatedAt: base, UpdatedAt: base}, entry(keyward.ActionRolePut, ""))
			return err
		}},
		{"DeleteRole", func() error { return s.DeleteRole(ctx, "r", entry(keyward.ActionRoleDelete, "")) }},
		{"CreateWebhook", func() error {
			return s.CreateWebhook(ctx, webhook(t, "key.created"), "whsec_x", entry(keyward.ActionWebhookCreate, ""))
		}},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	w := mustWebhook(t, s, "key.created")
	if _, err := s.UpdateWebhook(ctx, w.ID, func(w *keyward.Webhook) (*keyward.AuditEntry, error) {
		w.Enabled = false
		return entry(keyward.ActionWebhookUpdate, ""), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhook(ctx, w.ID, entry(keyward.ActionWebhookDelete, "")); err != nil {
		t.Fatal(err)
	}
	if got := eventIDs(outbox(t, s, base)); !reflect.DeepEqual(got, eventIDs(want)) {
		t.Errorf("outbox holds %d events, want the %d of the writes:\n got %v\nwant %v", len(got), len(want), got, eventIDs(want))
	}
}

// testEventsFailedWrite checks that a write that fails stores neither the
// change nor its events.
func testEventsFailedWrite(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	mustWebhook(t, s, keyward.AllEvents)
	k := plain(t, "k", base)
	mustCreate(t, s, k)
	dup := plain(t, "dup", base)
	dup.ID = k.ID
	a, _ := withEvents(t, keyward.ActionCreate, k.ID, keyward.EventKeyCreated, base)
	if err := s.Create(ctx, dup, a); !errors.Is(err, keyward.ErrConflict) {
		t.Fatalf("Create with a taken id: %v, want ErrConflict", err)
	}
	boom := errors.New("boom")
	if _, err := s.Update(ctx, k.ID, func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.Name = "never stored"
		a, _ := withEvents(t, keyward.ActionUpdate, k.ID, keyward.EventKeyUpdated, base)
		return a, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Update whose function fails: %v", err)
	}
	taken := plain(t, "taken", base)
	mustCreate(t, s, taken)
	if _, _, err := s.Rotate(ctx, k.ID, func(old *keyward.Key) (*keyward.Key, *keyward.AuditEntry, error) {
		old.Name = "never stored"
		next := plain(t, "next", base)
		next.ID = taken.ID
		a, _ := withEvents(t, keyward.ActionRotate, old.ID, keyward.EventKeyRotated, base)
		return next, a, nil
	}); !errors.Is(err, keyward.ErrConflict) {
		t.Fatalf("Rotate onto a taken id: %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, newID(t), a); !errors.Is(err, keyward.ErrNotFound) {
		t.Fatalf("Delete of an unknown key: %v, want ErrNotFound", err)
	}
	if got := outbox(t, s, base); len(got) != 0 {
		t.Errorf("failed writes left %d events in the outbox: %+v", len(got), got)
	}
	if got := mustGet(t, s, k.ID); got.Name != "k" {
		t.Errorf("failed writes changed the key: name %q", got.Name)
	}
}

func testAppendEventsDedupe(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	mustWebhook(t, s, keyward.AllEvents)
	a, b, plainEvent := event(t, keyward.EventKeyExpiring, base), event(t, keyward.EventKeyExpiring, base), event(t, keyward.EventWebhookTest, base)
	a.Dedupe, b.Dedupe = "key.expiring:x:1", "key.expiring:x:1"
	if n, err := s.AppendEvents(ctx, []keyward.Event{a, b, plainEvent}); err != nil || n != 2 {
		t.Fatalf("AppendEvents(a, b with a's dedupe, one without) = %d, %v; want 2", n, err)
	}
	again := event(t, keyward.EventKeyExpiring, base)
	again.Dedupe = a.Dedupe
	if n, err := s.AppendEvents(ctx, []keyward.Event{again}); err != nil || n != 0 {
		t.Fatalf("AppendEvents with a stored dedupe key = %d, %v; want 0", n, err)
	}
	if got := eventIDs(outbox(t, s, base)); !reflect.DeepEqual(got, eventIDs([]keyward.Event{a, plainEvent})) {
		t.Errorf("outbox = %v, want a and the event without dedupe", got)
	}

	// Concurrent appends of one dedupe key store it once.
	var inserted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			e := event(t, keyward.EventKeyCreditsExhausted, base)
			e.Dedupe = "key.credits_exhausted:y:1:0"
			n, err := s.AppendEvents(ctx, []keyward.Event{e})
			if err != nil {
				t.Errorf("concurrent AppendEvents: %v", err)
			}
			inserted.Add(int64(n))
		})
	}
	wg.Wait()
	if n := inserted.Load(); n != 1 {
		t.Errorf("8 concurrent appends of one dedupe key inserted %d events, want 1", n)
	}
}

func testListExpiring(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	now := base
	var want []string
	for i, d := range []time.Duration{-time.Hour, 0, time.Minute, time.Hour, time.Hour, 72 * time.Hour, 73 * time.Hour} {
		k := plain(t, fmt.Sprintf("k%d", i), base)
		k.ExpiresAt = keyward.Ptr(now.Add(d))
		mustCreate(t, s, k)
		if d > 0 && d <= 72*time.Hour {
			want = append(want, k.ID)
		}
	}
	revoked := plain(t, "revoked", base)
	revoked.ExpiresAt, revoked.RevokedAt = keyward.Ptr(now.Add(time.Hour)), keyward.Ptr(now)
	mustCreate(t, s, revoked)
	mustCreate(t, s, plain(t, "forever", base))
	var got []string
	f := keyward.ExpiringFilter{From: now, To: now.Add(72 * time.Hour), Limit: 2}
	for page := 0; ; page++ {
		keys, err := s.ListExpiring(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			got = append(got, k.ID)
			if i > 0 && k.ExpiresAt.Before(*keys[i-1].ExpiresAt) {
				t.Errorf("page %d not by expires_at", page)
			}
		}
		if len(keys) < f.Limit || page > 10 {
			break
		}
		last := keys[len(keys)-1]
		f.After = &keyward.ExpiringCursor{ExpiresAt: *last.ExpiresAt, ID: last.ID}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListExpiring pages = %v, want the %d live keys expiring in (now, now+72h]: %v", got, len(want), want)
	}
}
