package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/webhook"
)

// TestReceiverRejectsForgeries captures a real delivery and checks that the
// receiver's own Standard Webhooks check accepts it and rejects a wrong
// secret, a changed body and an old timestamp; keyward's Verify agrees.
func TestReceiverRejectsForgeries(t *testing.T) {
	e := newEnv(t, nil)
	r := newReceiver(t, e.clock.Now, nil)
	w := e.endpoint(t, r)
	if _, err := e.svc.Create(context.Background(), keyward.CreateParams{Name: "signed"}); err != nil {
		t.Fatal(err)
	}
	if n := e.runOnce(t); n != 1 {
		t.Fatalf("RunOnce made %d attempts, want 1", n)
	}
	got := r.deliveries()
	if len(got) != 1 {
		t.Fatalf("receiver got %d deliveries, want 1", len(got))
	}
	d := got[0]
	if d.event.Type != keyward.EventKeyCreated || !strings.HasPrefix(d.id, "evt_") || !strings.Contains(string(d.event.Data), `"name":"signed"`) {
		t.Errorf("delivery %s: want key.created of the key", d.body)
	}
	now := e.clock.Now()
	other, err := keyward.NewWebhookSecret()
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(d.body, []byte(`"signed"`), []byte(`"forged"`), 1)
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	for _, tc := range []struct {
		name   string
		secret string
		body   []byte
		now    time.Time
		ok     bool
		err    error
	}{
		{"genuine", secret, d.body, now, true, nil},
		{"wrong secret", other, d.body, now, false, webhook.ErrSignature},
		{"changed body", secret, changed, now, false, webhook.ErrSignature},
		{"timestamp 6 minutes old", secret, d.body, now.Add(6 * time.Minute), false, webhook.ErrTimestamp},
		{"timestamp 6 minutes ahead", secret, d.body, now.Add(-6 * time.Minute), false, webhook.ErrTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkStandardWebhook(tc.secret, d.header, tc.body, tc.now); (err == nil) != tc.ok {
				t.Errorf("the receiver's own check: %v, want ok=%v", err, tc.ok)
			}
			if err := webhook.Verify(tc.secret, d.header, tc.body, tc.now); err != tc.err {
				t.Errorf("webhook.Verify: %v, want %v", err, tc.err)
			}
		})
	}
	// A signature moved to another id or timestamp fails too.
	h := d.header.Clone()
	h.Set("Webhook-Id", "evt_other")
	if checkStandardWebhook(secret, h, d.body, now) == nil || webhook.Verify(secret, h, d.body, now) == nil {
		t.Error("a signature checked with another webhook-id passed")
	}
	if ds, _ := e.svc.WebhookDeliveries(context.Background(), w.ID, keyward.AttemptParams{}); len(ds.Items) != 1 || ds.Items[0].Status != 200 || ds.Items[0].NextAttemptAt != nil {
		t.Errorf("deliveries log = %+v, want one attempt with status 200, done", ds.Items)
	}
}

// TestSignMatchesTheSpecificationExample checks Sign against the example of
// the Standard Webhooks reference libraries' tests (secret, id, timestamp,
// body and signature published together).
func TestSignMatchesTheSpecificationExample(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		body   = `{"test": 2432232314}`
	)
	got, err := webhook.Sign(secret, id, time.Unix(1614265330, 0), []byte(body))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want || err != nil {
		t.Errorf("Sign = %q, %v; want %q", got, err, want)
	}
	if _, err := webhook.Sign("not a secret", id, time.Now(), nil); err != webhook.ErrSecret {
		t.Errorf("Sign with a malformed secret: %v, want ErrSecret", err)
	}
}

// TestRetriedUntilSuccessWithOneID: a receiver that answers 500 three times
// then 200 gets the event 4 times with one webhook-id, at the retry
// schedule's times, and the deliveries log shows the 4 attempts.
func TestRetriedUntilSuccessWithOneID(t *testing.T) {
	e := newEnv(t, nil)
	r := newReceiver(t, e.clock.Now, func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	w := e.endpoint(t, r)
	ctx := context.Background()
	if _, err := e.svc.Create(ctx, keyward.CreateParams{Name: "retried"}); err != nil {
		t.Fatal(err)
	}
	start := e.clock.Now()
	// Each wait is the schedule's (5 s, 30 s, 2 min) plus at most 10%.
	for i, wait := range []time.Duration{0, 5 * time.Second, 30 * time.Second, 2 * time.Minute} {
		if wait > 0 {
			e.clock.Add(wait - time.Millisecond)
			if n := e.runOnce(t); n != 0 {
				t.Fatalf("attempt %d came %v early", i+1, time.Millisecond)
			}
			e.clock.Add(wait/10 + 2*time.Millisecond)
		}
		if n := e.runOnce(t); n != 1 {
			t.Fatalf("round %d: %d attempts, want 1", i+1, n)
		}
	}
	e.clock.Add(24 * time.Hour)
	if n := e.runOnce(t); n != 0 {
		t.Errorf("%d attempts after the success, want 0", n)
	}
	got := r.deliveries()
	if len(got) != 4 {
		t.Fatalf("receiver got %d deliveries, want 4", len(got))
	}
	for _, d := range got[1:] {
		if d.id != got[0].id || !bytes.Equal(d.body, got[0].body) {
			t.Errorf("retry with webhook-id %s and body %s; want the first's %s, %s", d.id, d.body, got[0].id, got[0].body)
		}
	}
	page, err := e.svc.WebhookDeliveries(ctx, w.ID, keyward.AttemptParams{})
	if err != nil || len(page.Items) != 4 {
		t.Fatalf("deliveries log = %+v, %v; want 4 attempts", page.Items, err)
	}
	for i, a := range page.Items { // newest first
		wantStatus, done := 500, false
		if i == 0 {
			wantStatus, done = 200, true
		}
		if a.Attempt != 4-i || a.EventID != got[0].id || a.Type != keyward.EventKeyCreated || a.Status != wantStatus || (a.NextAttemptAt == nil) != done {
			t.Errorf("attempt %d = %+v; want number %d, status %d, next_attempt_at set until the success", i, a, 4-i, wantStatus)
		}
		if a.At.Before(start) || !done && !a.NextAttemptAt.After(a.At) {
			t.Errorf("attempt %d at %v, next %v", i, a.At, a.NextAttemptAt)
		}
	}
	if st := e.disp.Stats(); st != (webhook.Stats{Attempts: 4, Succeeded: 1, Failed: 3}) {
		t.Errorf("Stats = %+v", st)
	}
}

// TestGivenUpAfter24Hours follows a dead receiver through the whole
// schedule: 5 s, 30 s, 2 min, 10 min, 1 h, then every 4 h, the last attempt
// 24 h after the first, then no more.
func TestGivenUpAfter24Hours(t *testing.T) {
	e := newEnv(t, nil)
	r := newReceiver(t, e.clock.Now, func(int) int { return http.StatusServiceUnavailable })
	w := e.endpoint(t, r)
	ctx := context.Background()
	if _, err := e.svc.Create(ctx, keyward.CreateParams{Name: "doomed"}); err != nil {
		t.Fatal(err)
	}
	first := e.clock.Now()
	attempts := 0
	for range 30 {
		attempts += e.runOnce(t)
		page, err := e.svc.WebhookDeliveries(ctx, w.ID, keyward.AttemptParams{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		last := page.Items[0]
		if last.NextAttemptAt == nil {
			if !last.At.Equal(first.Add(webhook.GiveUpAfter)) || !strings.Contains(last.Error, "giving up") || last.Status != 503 {
				t.Errorf("last attempt %+v: want it 24h after the first, saying it gives up", last)
			}
			break
		}
		e.clock.Set(*last.NextAttemptAt)
	}
	if attempts != 12 {
		t.Errorf("%d attempts, want 12 (5 scheduled retries, 5 every 4h, the last at 24h)", attempts)
	}
	e.clock.Add(48 * time.Hour)
	if n := e.runOnce(t); n != 0 || e.disp.Stats().GaveUp != 1 {
		t.Errorf("after giving up: %d more attempts, %d given up; want 0, 1", n, e.disp.Stats().GaveUp)
	}
}

// TestConcurrencyPerEndpoint holds a slow receiver's requests and checks
// that at most PerEndpoint of them are in flight, while a fast endpoint's
// deliveries all arrive meanwhile.
func TestConcurrencyPerEndpoint(t *testing.T) {
	e := newEnv(t, &webhook.Options{PerEndpoint: 3, Now: time.Now, PollInterval: 10 * time.Millisecond})
	release := make(chan struct{})
	var mu sync.Mutex
	inFlight, most := 0, 0
	slow := newReceiver(t, time.Now, nil)
	slow.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	fast := newReceiver(t, time.Now, nil)
	e.endpoint(t, slow)
	e.endpoint(t, fast)
	allFast := make(chan struct{})
	fast.notify = func(r *receiver) {
		if len(r.ids) == 20 {
			close(allFast)
		}
	}
	for range 20 {
		if _, _, err := e.svc.PutRole(context.Background(), "r", keyward.RoleParams{Scopes: []string{"x"}}); err != nil {
			t.Fatal(err)
		}
	}
	e.disp.Start()
	select {
	case <-allFast:
	case <-time.After(30 * time.Second):
		t.Fatal("the fast endpoint did not get its 20 deliveries while the slow one held its requests")
	}
	mu.Lock()
	got := most
	mu.Unlock()
	close(release)
	if got > 3 {
		t.Errorf("%d requests in flight to one endpoint at once, want at most PerEndpoint (3)", got)
	}
}

// TestFailingEndpointIsPaused: after a failure that says the endpoint is
// down (503), the dispatcher leaves the endpoint's other deliveries alone
// for a few seconds instead of failing each of them; once it answers again,
// everything is delivered.
func TestFailingEndpointIsPaused(t *testing.T) {
	e := newEnv(t, nil)
	var up atomic.Bool
	r := newReceiver(t, e.clock.Now, func(int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	e.endpoint(t, r)
	for i := range 40 {
		if _, _, err := e.svc.PutRole(context.Background(), fmt.Sprint("role-", i), keyward.RoleParams{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.runOnce(t); n != 16 {
		t.Errorf("first run against a down endpoint: %d attempts, want 16 (one claim: 4 per PerEndpoint), then a pause", n)
	}
	if n := e.runOnce(t); n != 0 {
		t.Errorf("run during the pause: %d attempts, want 0", n)
	}
	up.Store(true)
	e.clock.Add(6 * time.Second)
	if n := e.runOnce(t); n != 40 {
		t.Errorf("run after the pause, the endpoint up: %d attempts, want 40", n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) != 40 {
		t.Errorf("receiver got %d distinct events, want 40", len(r.ids))
	}
}

// TestPauseOfAFailingEndpointIsBounded: however long an endpoint keeps
// failing, the pause after its failures stays within 30 s (the retry
// schedule's second wait), so that a new event to it is tried within 31 s,
// not minutes later.
func TestPauseOfAFailingEndpointIsBounded(t *testing.T) {
	e := newEnv(t, nil)
	r := newReceiver(t, e.clock.Now, func(int) int { return http.StatusServiceUnavailable })
	e.endpoint(t, r)
	const wait = 31 * time.Second
	for i := range 10 { // ten failures, each after the pause before
		if _, _, err := e.svc.PutRole(context.Background(), fmt.Sprint("role-", i), keyward.RoleParams{}); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(wait)
		if n := e.runOnce(t); n == 0 {
			t.Fatalf("run %d, %v after the last: no attempt; want the pause over", i, wait)
		}
	}
	if _, _, err := e.svc.PutRole(context.Background(), "new", keyward.RoleParams{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(wait)
	e.runOnce(t)
	tried := false
	for _, d := range r.deliveries() {
		tried = tried || strings.Contains(string(d.event.Data), `"name":"new"`)
	}
	if !tried {
		t.Errorf("a new event %v after the tenth failure was not tried", wait)
	}
}
