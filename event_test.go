package keyward_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

// outboxOf returns the events stored since the last call, through a
// catch-all endpoint the first call creates.
func outboxOf(tb testing.TB, s keyward.Store, now time.Time) []keyward.Event {
	tb.Helper()
	ctx := context.Background()
	hooks, err := s.ListWebhooks(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if len(hooks) == 0 {
		tb.Fatal("outboxOf: create the catch-all endpoint first (catchAll)")
	}
	if _, err := s.FanOut(ctx, now, 10_000); err != nil {
		tb.Fatal(err)
	}
	ds, err := s.ClaimDeliveries(ctx, keyward.DeliveryClaim{Now: now, Until: now.Add(24 * time.Hour), Token: "t", PerWebhook: 10_000, Limit: 10_000})
	if err != nil {
		tb.Fatal(err)
	}
	var out []keyward.Event
	for _, d := range ds {
		out = append(out, d.Event)
	}
	return out
}

// catchAll creates an endpoint receiving every event.
func catchAll(tb testing.TB, svc *keyward.Service) {
	tb.Helper()
	if _, err := svc.CreateWebhook(context.Background(), keyward.WebhookParams{URL: "https://example.com/all", Events: []string{"*"}}); err != nil {
		tb.Fatal(err)
	}
}

func types(events []keyward.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

func TestEventsOfKeyChanges(t *testing.T) {
	e := newEnv(t)
	ctx := keyward.NewActorContext(context.Background(), keyward.Actor{ID: "admin-token"})
	catchAll(t, e.svc)
	iss, err := e.svc.Create(ctx, keyward.CreateParams{Name: "billing", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Update(ctx, iss.Key.ID, keyward.UpdateParams{Name: keyward.Ptr("billing 2")}); err != nil {
		t.Fatal(err)
	}
	next, err := e.svc.Rotate(ctx, iss.Key.ID, keyward.RotateParams{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Revoke(ctx, next.Key.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, next.Key.ID); err != nil {
		t.Fatal(err)
	}
	events := outboxOf(t, e.store, base)
	slices.SortFunc(events, func(a, b keyward.Event) int { return strings.Compare(a.ID, b.ID) }) // any order
	want := []string{keyward.EventKeyCreated, keyward.EventKeyUpdated, keyward.EventKeyRotated, keyward.EventKeyRevoked, keyward.EventKeyDeleted}
	if got := types(events); !sameSet(got, want) {
		t.Fatalf("event types = %v, want %v", got, want)
	}
	for _, ev := range events {
		if !strings.HasPrefix(ev.ID, keyward.EventIDPrefix) || !ev.At.Equal(base) || ev.Dedupe != "" || ev.Webhook != "" {
			t.Errorf("event %+v: want an evt_ id, the Service's time, no dedupe, no target", ev)
		}
		raw := string(ev.Data)
		if strings.Contains(raw, "hash") || strings.Contains(raw, "$hmac") || strings.Contains(raw, iss.Secret) || strings.Contains(raw, next.Secret) {
			t.Errorf("event %s shows a secret or a hash: %s", ev.Type, raw)
		}
		var data struct {
			Key struct {
				ID     string `json:"id"`
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"key"`
			Actor      string `json:"actor"`
			ReplacedBy string `json:"replaced_by"`
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatal(err)
		}
		if data.Actor != "admin-token" || data.Key.Status == "" {
			t.Errorf("%s data %s: want the actor and the key with its status", ev.Type, raw)
		}
		switch ev.Type {
		case keyward.EventKeyRotated:
			if data.Key.ID != iss.Key.ID || data.ReplacedBy != next.Key.ID {
				t.Errorf("key.rotated data %s: want the old key and replaced_by the new id", raw)
			}
		case keyward.EventKeyRevoked:
			if data.Key.Status != "revoked" {
				t.Errorf("key.revoked data %s: want status revoked", raw)
			}
		case keyward.EventKeyUpdated:
			if data.Key.Name != "billing 2" {
				t.Errorf("key.updated data %s: want the updated key", raw)
			}
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestEventsOfOwnersAndRoles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	catchAll(t, e.svc)
	if _, _, err := e.svc.PutOwner(ctx, "acme", keyward.OwnerParams{Remaining: keyward.Ptr[int64](5)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateOwner(ctx, "acme", keyward.OwnerUpdate{Remaining: keyward.Nullable[int64]{Set: true, Value: keyward.Ptr[int64](9)}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteOwner(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteRole(ctx, "reader"); err != nil {
		t.Fatal(err)
	}
	events := outboxOf(t, e.store, base)
	want := []string{keyward.EventOwnerUpdated, keyward.EventOwnerUpdated, keyward.EventOwnerDeleted, keyward.EventRoleUpdated, keyward.EventRoleDeleted}
	if got := types(events); !sameSet(got, want) {
		t.Fatalf("event types = %v, want %v", got, want)
	}
	for _, ev := range events {
		var rec map[string]any
		if err := json.Unmarshal(ev.Data, &rec); err != nil {
			t.Fatal(err)
		}
		if _, ok := rec["key_count"]; ok {
			t.Errorf("%s data %s shows key_count, which is not part of the record", ev.Type, ev.Data)
		}
		if strings.HasPrefix(ev.Type, "owner.") && rec["name"] != "acme" || strings.HasPrefix(ev.Type, "role.") && rec["name"] != "reader" {
			t.Errorf("%s data %s: want the record", ev.Type, ev.Data)
		}
	}
}

func TestOnEventsCalledAfterWrites(t *testing.T) {
	var calls atomic.Int64
	svc := testkit.NewService(t, memory.New(), nil, &keyward.Options{OnEvents: func() { calls.Add(1) }})
	if _, err := svc.Create(context.Background(), keyward.CreateParams{Name: "k"}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Errorf("OnEvents called %d times after a create, want 1", calls.Load())
	}
}

func TestWebhookValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		p     keyward.WebhookParams
		field string
	}{
		{"no url", keyward.WebhookParams{Events: []string{"*"}}, "url"},
		{"ftp", keyward.WebhookParams{URL: "ftp://example.com/x", Events: []string{"*"}}, "url"},
		{"relative", keyward.WebhookParams{URL: "/hooks", Events: []string{"*"}}, "url"},
		{"spaces", keyward.WebhookParams{URL: "https://example.com/a b", Events: []string{"*"}}, "url"},
		{"no events", keyward.WebhookParams{URL: "https://example.com"}, "events"},
		{"star and more", keyward.WebhookParams{URL: "https://example.com", Events: []string{"*", "key.created"}}, "events"},
		{"unknown type", keyward.WebhookParams{URL: "https://example.com", Events: []string{"key.created", "key.exploded"}}, "events[1]"},
		{"long description", keyward.WebhookParams{URL: "https://example.com", Events: []string{"*"}, Description: strings.Repeat("x", keyward.MaxDescriptionLength+1)}, "description"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateWebhook(ctx, tc.p)
			var ve *keyward.ValidationError
			if !errors.As(err, &ve) || !slices.ContainsFunc(ve.Problems, func(p keyward.Problem) bool { return p.Field == tc.field }) {
				t.Errorf("CreateWebhook(%+v) = %v; want a problem with %s", tc.p, err, tc.field)
			}
		})
	}
}

func TestWebhookLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c, err := e.svc.CreateWebhook(ctx, keyward.WebhookParams{URL: "https://example.com/h", Events: []string{"key.created", "key.created"}, Description: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(c.Secret, keyward.WebhookSecretPrefix))
	if !strings.HasPrefix(c.Secret, "whsec_") || err != nil || len(raw) != 32 {
		t.Errorf("secret %q: want whsec_ and the base64 of 32 bytes", c.Secret)
	}
	w := c.Webhook
	if !strings.HasPrefix(w.ID, "wh_") || !w.Enabled || !slices.Equal(w.Events, []string{"key.created"}) || !w.CreatedAt.Equal(base) {
		t.Errorf("created endpoint %+v: want a wh_ id, enabled, events deduplicated, created now", w)
	}
	js, _ := json.Marshal(w)
	if strings.Contains(string(js), "whsec_") {
		t.Errorf("the endpoint's JSON shows its secret: %s", js)
	}
	e.clock.Add(time.Minute)
	upd, err := e.svc.UpdateWebhook(ctx, w.ID, keyward.WebhookUpdate{Enabled: keyward.Ptr(false), Events: &[]string{"*"}})
	if err != nil || upd.Enabled || !slices.Equal(upd.Events, []string{"*"}) || !upd.UpdatedAt.Equal(base.Add(time.Minute)) {
		t.Errorf("UpdateWebhook = %+v, %v", upd, err)
	}
	if _, err := e.svc.TestWebhook(ctx, w.ID); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("TestWebhook of a disabled endpoint: %v, want ErrConflict", err)
	}
	if _, err := e.svc.UpdateWebhook(ctx, w.ID, keyward.WebhookUpdate{Enabled: keyward.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	other, err := e.svc.CreateWebhook(ctx, keyward.WebhookParams{URL: "http://127.0.0.1:1/x", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := e.svc.TestWebhook(ctx, w.ID)
	if err != nil || ev.Type != keyward.EventWebhookTest || string(ev.Data) != "{}" || ev.Webhook != w.ID {
		t.Fatalf("TestWebhook = %+v, %v", ev, err)
	}
	if _, err := e.store.FanOut(ctx, e.clock.Now(), 100); err != nil {
		t.Fatal(err)
	}
	ds, err := e.store.ClaimDeliveries(ctx, keyward.DeliveryClaim{Now: e.clock.Now(), Until: e.clock.Now().Add(time.Minute), Token: "x", PerWebhook: 10, Limit: 10})
	if err != nil || len(ds) != 1 || ds[0].WebhookID != w.ID || ds[0].Secret != c.Secret {
		t.Fatalf("deliveries of the test event = %+v, %v; want one, to %s only (not %s), signed with its secret", ds, err, w.ID, other.Webhook.ID)
	}
	for i := range 3 {
		next := e.clock.Now().Add(time.Minute)
		err := e.store.RecordAttempts(ctx, []keyward.AttemptRecord{{DeliveryID: ds[0].ID, Token: "x", EventID: ev.ID, EventType: ev.Type, At: e.clock.Now(), Status: 500, Next: &next}})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute)
		if ds, err = e.store.ClaimDeliveries(ctx, keyward.DeliveryClaim{Now: e.clock.Now(), Until: e.clock.Now().Add(time.Minute), Token: "x", PerWebhook: 10, Limit: 10}); err != nil || len(ds) != 1 {
			t.Fatalf("claim %d: %v, %v", i, ds, err)
		}
	}
	p1, err := e.svc.WebhookDeliveries(ctx, w.ID, keyward.AttemptParams{Limit: 2})
	if err != nil || len(p1.Items) != 2 || p1.NextCursor == "" || p1.Items[0].Attempt != 3 {
		t.Fatalf("WebhookDeliveries page 1 = %+v, %v; want attempts 3, 2 and a cursor", p1, err)
	}
	p2, err := e.svc.WebhookDeliveries(ctx, w.ID, keyward.AttemptParams{Limit: 2, Cursor: p1.NextCursor})
	if err != nil || len(p2.Items) != 1 || p2.Items[0].Attempt != 1 || p2.NextCursor != "" {
		t.Errorf("WebhookDeliveries page 2 = %+v, %v; want attempt 1, no cursor", p2, err)
	}
	if _, err := e.svc.WebhookDeliveries(ctx, w.ID, keyward.AttemptParams{Cursor: "!"}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("WebhookDeliveries with a bad cursor: %v, want ErrInvalid", err)
	}
	if err := e.svc.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		func() error { _, err := e.svc.GetWebhook(ctx, w.ID); return err }(),
		func() error { _, err := e.svc.WebhookDeliveries(ctx, w.ID, keyward.AttemptParams{}); return err }(),
		e.svc.DeleteWebhook(ctx, w.ID),
		e.svc.DeleteWebhook(ctx, "nonsense"),
	} {
		if !errors.Is(err, keyward.ErrNotFound) {
			t.Errorf("after the delete: %v, want ErrNotFound", err)
		}
	}
	entries, _ := e.svc.Audit(ctx, keyward.AuditParams{})
	var actions []string
	for _, a := range entries.Items {
		actions = append(actions, a.Action)
	}
	if want := []string{"webhook.delete", "webhook.create", "webhook.update", "webhook.update", "webhook.create"}; !slices.Equal(actions, want) {
		t.Errorf("audit actions %v, want %v", actions, want)
	}
}

func TestCreditsExhaustedOncePerRefillOrUpdate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	catchAll(t, e.svc)
	iss := e.create(t, keyward.CreateParams{Remaining: keyward.Ptr[int64](1)})
	outboxOf(t, e.store, base) // key.created
	for i, want := range []keyward.Outcome{keyward.OutcomeValid, keyward.OutcomeUsageExceeded, keyward.OutcomeUsageExceeded, keyward.OutcomeUsageExceeded} {
		if r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret}); r.Outcome != want {
			t.Fatalf("verification %d: %s, want %s", i, r.Outcome, want)
		}
	}
	e.clock.Add(time.Second)
	if _, err := e.svc.Update(ctx, iss.Key.ID, keyward.UpdateParams{Remaining: keyward.Nullable[int64]{Set: true, Value: keyward.Ptr[int64](1)}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.verify(t, keyward.VerifyRequest{Key: iss.Secret})
	}
	if err := e.svc.Close(ctx); err != nil { // writes the queued alerts
		t.Fatal(err)
	}
	got := types(outboxOf(t, e.store, base))
	want := []string{keyward.EventKeyCreditsExhausted, keyward.EventKeyUpdated, keyward.EventKeyCreditsExhausted}
	if !sameSet(got, want) {
		t.Errorf("events = %v; want one credits_exhausted before and one after the top-up, none for the other refusals", got)
	}
	if n, err := e.store.AppendEvents(ctx, []keyward.Event{{ID: "evt_x", Type: keyward.EventKeyCreditsExhausted, At: base,
		Dedupe: fmt.Sprintf("key.credits_exhausted:%s:%d:0", iss.Key.ID, base.UnixMilli())}}); err != nil || n != 0 {
		t.Errorf("the first alert's dedupe key is not stored as documented: append = %d, %v", n, err)
	}
}

func TestOwnerCreditsExhausted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	catchAll(t, e.svc)
	if _, _, err := e.svc.PutOwner(ctx, "acme", keyward.OwnerParams{Remaining: keyward.Ptr[int64](1)}); err != nil {
		t.Fatal(err)
	}
	iss := e.create(t, keyward.CreateParams{Owner: "acme"})
	outboxOf(t, e.store, base)
	e.verify(t, keyward.VerifyRequest{Key: iss.Secret})
	if r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret}); r.Outcome != keyward.OutcomeUsageExceeded {
		t.Fatalf("outcome %s, want USAGE_EXCEEDED", r.Outcome)
	}
	if err := e.svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	events := outboxOf(t, e.store, base)
	if len(events) != 1 || events[0].Type != keyward.EventOwnerCreditsExhausted || !strings.Contains(string(events[0].Data), `"owner":{"name":"acme"`) {
		t.Errorf("events = %+v; want one owner.credits_exhausted with the owner record", events)
	}
}

// blockingStore holds every AppendEvents until release is closed.
type blockingStore struct {
	keyward.Store
	release chan struct{}
}

func (s *blockingStore) AppendEvents(ctx context.Context, events []keyward.Event) (int, error) {
	<-s.release
	return s.Store.AppendEvents(ctx, events)
}

func TestCreditAlertsNeverBlockVerify(t *testing.T) {
	st := &blockingStore{Store: memory.New(), release: make(chan struct{})}
	svc := testkit.NewService(t, st, nil, &keyward.Options{Limiter: ratelimit.NewLocal()})
	ctx := context.Background()
	var secrets []string
	for i := range 400 {
		iss, err := svc.Create(ctx, keyward.CreateParams{Name: fmt.Sprint(i), Remaining: keyward.Ptr[int64](0)})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, iss.Secret)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, s := range secrets { // 400 distinct alerts; the store takes none
			if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: s}); err != nil || r.Outcome != keyward.OutcomeUsageExceeded {
				t.Errorf("Verify = %s, %v", r.Outcome, err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Verify waited on the alert queue")
	}
	if svc.DroppedAlerts() == 0 {
		t.Errorf("400 alerts with the store stuck: none dropped; the queue must be bounded")
	}
	close(st.release)
}

func TestWarnExpiringOncePerKeyAndExpiry(t *testing.T) {
	st := memory.New()
	clk := testkit.NewClock(base)
	opts := &keyward.Options{Now: clk.Now, ExpiryWarning: 48 * time.Hour}
	svc := testkit.NewService(t, st, nil, opts)
	ctx := context.Background()
	catchAll(t, svc)
	soon, err := svc.Create(ctx, keyward.CreateParams{Name: "soon", ExpiresIn: keyward.Ptr(keyward.Duration(24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	later, _ := svc.Create(ctx, keyward.CreateParams{Name: "later", ExpiresIn: keyward.Ptr(keyward.Duration(100 * time.Hour))})
	revoked, _ := svc.Create(ctx, keyward.CreateParams{Name: "revoked", ExpiresIn: keyward.Ptr(keyward.Duration(time.Hour))})
	if _, err := svc.Revoke(ctx, revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	rotated, _ := svc.Create(ctx, keyward.CreateParams{Name: "rotated"})
	if _, err := svc.Rotate(ctx, rotated.Key.ID, keyward.RotateParams{}); err != nil { // old key expires after the grace period
		t.Fatal(err)
	}
	outboxOf(t, st, base)
	if n, err := svc.WarnExpiring(ctx); err != nil || n != 1 {
		t.Fatalf("WarnExpiring = %d, %v; want 1 (the key expiring in 24h only)", n, err)
	}
	if n, _ := svc.WarnExpiring(ctx); n != 0 {
		t.Errorf("WarnExpiring again = %d, want 0", n)
	}
	restarted := testkit.NewService(t, st, nil, opts) // another instance, or after a restart
	if n, _ := restarted.WarnExpiring(ctx); n != 0 {
		t.Errorf("WarnExpiring of another Service on the same store = %d, want 0", n)
	}
	events := outboxOf(t, st, base)
	if len(events) != 1 || events[0].Type != keyward.EventKeyExpiring || !strings.Contains(string(events[0].Data), soon.Key.ID) ||
		!strings.Contains(string(events[0].Data), `"expires_at":"2026-05-18T10:30:00Z"`) {
		t.Fatalf("events = %+v; want one key.expiring for %s with expires_at", events, soon.Key.ID)
	}
	clk.Add(60 * time.Hour) // "later" comes within 48h
	if n, _ := restarted.WarnExpiring(ctx); n != 1 {
		t.Errorf("WarnExpiring when the second key comes within the window = %d, want 1", n)
	}
	if _, err := svc.Update(ctx, later.Key.ID, keyward.UpdateParams{ExpiresIn: keyward.Ptr(keyward.Duration(30 * time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if n, _ := svc.WarnExpiring(ctx); n != 1 {
		t.Errorf("WarnExpiring after the expiry changed = %d, want 1 (a new expiry is warned of again)", n)
	}
}
