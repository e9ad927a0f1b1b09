package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/internal/testserver"
	"github.com/keyward/keyward/webhook"
)

const hookAdmin = "e2e-webhook-admin-token-of-32-characters"

// hookReceiver is a webhook receiver on a given listener: it counts the
// deliveries of each event id whose signature checks with its secret.
type hookReceiver struct {
	srv    *http.Server
	mu     sync.Mutex
	secret string
	ids    map[string]int    // event id → deliveries
	types  map[string]string // event id → type
	bad    int               // deliveries whose signature did not check
}

func serveReceiver(t *testing.T, ln net.Listener, secret string) *hookReceiver {
	t.Helper()
	r := &hookReceiver{secret: secret, ids: map[string]int{}, types: map[string]string{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.Verify(r.secret, req.Header, body, time.Now()); err != nil {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct{ ID, Type string }
		json.Unmarshal(body, &ev)
		if ev.ID != req.Header.Get("webhook-id") {
			r.bad++
		}
		r.ids[ev.ID]++
		r.types[ev.ID] = ev.Type
	})}
	go r.srv.Serve(ln)
	t.Cleanup(func() { r.srv.Close() })
	return r
}

// counts returns how many distinct events came, how many came more than
// once, and how many deliveries were refused.
func (r *hookReceiver) counts() (distinct, repeated, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.ids {
		if n > 1 {
			repeated++
		}
	}
	return len(r.ids), repeated, r.bad
}

// waitUntil polls cond every 20ms until it holds or limit passes.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createHook creates an endpoint for every event type at url and returns
// its id and secret.
func createHook(t *testing.T, srv *testserver.Server, url string) (id, secret string) {
	t.Helper()
	r := srv.Do(t, "POST", "/v1/webhooks", hookAdmin, map[string]any{"url": url, "events": []string{"*"}})
	var c struct {
		Webhook struct{ ID string }
		Secret  string
	}
	r.JSON(t, &c)
	if r.Status != 201 || c.Secret == "" {
		t.Fatalf("create webhook: %d %s", r.Status, r.Body)
	}
	return c.Webhook.ID, c.Secret
}

type attempt struct {
	EventID       string     `json:"event_id"`
	Type          string     `json:"type"`
	Attempt       int        `json:"attempt"`
	Status        int        `json:"status"`
	Error         string     `json:"error"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

func deliveries(t *testing.T, srv *testserver.Server, id string) []attempt {
	t.Helper()
	r := srv.Do(t, "GET", "/v1/webhooks/"+id+"/deliveries?limit=1000", hookAdmin, nil)
	var page struct{ Items []attempt }
	r.JSON(t, &page)
	if r.Status != 200 {
		t.Fatalf("deliveries: %d %s", r.Status, r.Body)
	}
	return page.Items
}

// eventsOf groups attempts by event id, keeping their order.
func eventsOf(attempts []attempt) map[string][]attempt {
	out := map[string][]attempt{}
	for _, a := range attempts {
		out[a.EventID] = append(out[a.EventID], a)
	}
	return out
}

// TestWebhookDeliveredAfterSIGKILL changes keys while the endpoint is
// unreachable, waits until an attempt of every event has failed (so none
// is delivered, and none is held by a claim), kills keyward serve with
// SIGKILL, opens the endpoint and starts keyward again on the same
// database: every event is delivered once, and the deliveries show its
// failed attempts and then the successful one.
func TestWebhookDeliveredAfterSIGKILL(t *testing.T) {
	args := []string{"--database-url", "sqlite:" + filepath.Join(t.TempDir(), "kill.db"), "--admin-token", hookAdmin}
	srv := testserver.Start(t, nil, args...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // unreachable until after the kill
	id, secret := createHook(t, srv, "http://"+addr+"/hooks")

	// Three changes at once: their events are mostly sent together (the
	// test holds however they come, only slower when apart).
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if r := srv.Do(t, "POST", "/v1/keys", hookAdmin, map[string]any{"name": fmt.Sprint("doomed ", i)}); r.Status != 201 {
				t.Errorf("create key: %d %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	start := time.Now()
	// The endpoint is down: after its first failure the dispatcher pauses
	// it (5 s), then tries the other deliveries; each is then due again
	// later, none is held by a claim.
	waitUntil(t, 30*time.Second, "a failed attempt of each of the 3 events", func() bool {
		return len(eventsOf(deliveries(t, srv, id))) == 3
	})
	for _, a := range deliveries(t, srv, id) {
		if a.Status != 0 || a.Error == "" || a.NextAttemptAt == nil {
			t.Fatalf("attempt before the kill: %+v; want a failure with a retry due", a)
		}
	}
	srv.Kill()
	t.Logf("killed %v after the changes, with every event's attempts failed", time.Since(start).Round(time.Millisecond))

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("reopening the endpoint's address: %v", err)
	}
	recv := serveReceiver(t, ln, secret)
	srv = testserver.Start(t, nil, args...)
	waitUntil(t, 60*time.Second, "the 3 events delivered after the restart", func() bool {
		n, _, _ := recv.counts()
		return n == 3
	})
	t.Logf("delivered %v after the changes", time.Since(start).Round(time.Millisecond))
	if _, repeated, bad := recv.counts(); repeated > 0 || bad > 0 {
		t.Errorf("after the restart: %d events delivered twice, %d deliveries that did not check", repeated, bad)
	}
	// The receiver counts a delivery when it gets it; the dispatcher
	// records the attempt when the answer comes back, a moment later.
	waitUntil(t, 30*time.Second, "the 3 successful attempts recorded", func() bool {
		events := eventsOf(deliveries(t, srv, id))
		for _, attempts := range events {
			if attempts[0].Status != 200 {
				return false
			}
		}
		return len(events) == 3
	})
	// Each event: failed attempts before the kill, then one success, all
	// with the event's id (the webhook-id the receiver checked).
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for evt, attempts := range eventsOf(deliveries(t, srv, id)) {
		last := attempts[0] // newest first
		if recv.ids[evt] != 1 || len(attempts) < 2 || last.Status != 200 || last.NextAttemptAt != nil || last.Attempt != len(attempts) {
			t.Errorf("%s: delivered %d times; attempts %+v; want failures, then one success", evt, recv.ids[evt], attempts)
		}
	}
	srv.Stop()
}

// TestTwoServersDeliverEachEventOnce runs two keyward serve processes on one
// PostgreSQL database and writes 200 changes through both: the receiver
// gets each of the 200 events exactly once.
func TestTwoServersDeliverEachEventOnce(t *testing.T) {
	db := testpg.FreshDatabase(t, testpg.URL(t))
	env := []string{"KEYWARD_PEPPER=an-e2e-test-pepper-of-at-least-32-bytes"}
	args := []string{"--database-url", db, "--admin-token", hookAdmin}
	a := testserver.Start(t, env, args...)
	b := testserver.Start(t, env, args...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	recv := serveReceiver(t, ln, "")
	_, secret := createHook(t, a, "http://"+ln.Addr().String()+"/hooks")
	recv.mu.Lock()
	recv.secret = secret
	recv.mu.Unlock()

	var wg sync.WaitGroup
	for i := range 200 {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		wg.Go(func() {
			if r := srv.Do(t, "PUT", fmt.Sprintf("/v1/roles/role-%d", i), hookAdmin, map[string]any{"scopes": []string{"x"}}); r.Status != 201 {
				t.Errorf("PUT role-%d: %d %s", i, r.Status, r.Body)
			}
		})
		if i%8 == 7 {
			wg.Wait()
		}
	}
	wg.Wait()
	waitUntil(t, 60*time.Second, "200 events delivered", func() bool {
		n, _, _ := recv.counts()
		return n >= 200
	})
	n, repeated, bad := recv.counts()
	if n != 200 || repeated != 0 || bad != 0 {
		t.Errorf("the receiver got %d events, %d more than once, %d bad deliveries; want 200, 0, 0", n, repeated, bad)
	}
	a.Stop()
	b.Stop()
}
