package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/store/sqlite"
	"github.com/keyward/keyward/webhook"
)

// checkStandardWebhook is this test's own Standard Webhooks v1 check,
// written from the specification and sharing no code with package webhook:
// the three headers must be there, the timestamp within 5 minutes of now,
// and one "v1,<sig>" entry of webhook-signature must equal the base64
// HMAC-SHA256 of "<id>.<timestamp>.<body>" keyed by the base64-decoded
// secret after "whsec_".
func checkStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	msgID, stamp, sigHeader := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature")
	if msgID == "" || stamp == "" || sigHeader == "" {
		return errors.New("missing a Standard Webhooks header")
	}
	sent, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not an integer")
	}
	if age := now.Unix() - sent; age > 300 || age < -300 {
		return errors.New("webhook-timestamp is more than 5 minutes away")
	}
	if !strings.HasPrefix(secret, "whsec_") {
		return errors.New("secret without whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	if err != nil {
		return errors.New("secret is not base64")
	}
	signed := msgID + "." + stamp + "." + string(body)
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, signed)
	expected := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, entry := range strings.Split(sigHeader, " ") {
		version, sig, found := strings.Cut(entry, ",")
		if found && version == "v1" && hmac.Equal([]byte(sig), []byte(expected)) {
			return nil
		}
	}
	return errors.New("no v1 signature matches")
}

// delivery is one request a receiver got.
type delivery struct {
	header http.Header
	body   []byte
	id     string // webhook-id
	event  struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
}

// receiver is a real HTTP endpoint that checks every delivery's signature
// with checkStandardWebhook, answers with respond(n) for its n-th request
// (200 when respond is nil) and keeps what it got.
type receiver struct {
	tb      testing.TB
	srv     *httptest.Server
	now     func() time.Time
	respond func(n int) int

	mu     sync.Mutex
	secret string
	n      int
	got    []delivery
	ids    map[string]int // deliveries per webhook-id
	notify func(r *receiver)
}

func newReceiver(tb testing.TB, now func() time.Time, respond func(n int) int) *receiver {
	tb.Helper()
	r := &receiver{tb: tb, now: now, respond: respond, ids: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := checkStandardWebhook(r.secret, req.Header, body, r.now()); err != nil {
		r.tb.Errorf("receiver: a delivery failed the Standard Webhooks check: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.tb.Errorf("receiver: %s with Content-Type %q, want POST application/json", req.Method, req.Header.Get("Content-Type"))
	}
	d := delivery{header: req.Header.Clone(), body: body, id: req.Header.Get("Webhook-Id")}
	if err := json.Unmarshal(body, &d.event); err != nil || d.event.ID != d.id || d.event.Type == "" || d.event.Timestamp.IsZero() || d.event.Data == nil {
		r.tb.Errorf("receiver: body %s: want {id (= webhook-id), type, timestamp, data}: %v", body, err)
	}
	r.n++
	r.got = append(r.got, d)
	r.ids[d.id]++
	status := http.StatusOK
	if r.respond != nil {
		status = r.respond(r.n)
	}
	if r.notify != nil {
		r.notify(r)
	}
	w.WriteHeader(status)
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

// deliveries returns a copy of what the receiver got.
func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// env is a Service and a Dispatcher on one store, with a clock the test
// moves.
type env struct {
	store keyward.Store
	svc   *keyward.Service
	clock *testkit.Clock
	disp  *webhook.Dispatcher
}

func openSQLite(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, &sqlite.Options{Migrate: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newEnv returns an env on a fresh SQLite database.
func newEnv(tb testing.TB, opts *webhook.Options) *env {
	tb.Helper()
	e := &env{store: openSQLite(tb, filepath.Join(tb.TempDir(), "keyward.db")), clock: testkit.NewClock(testkit.Base)}
	e.svc = testkit.NewService(tb, e.store, nil, &keyward.Options{Now: e.clock.Now})
	o := webhook.Options{}
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = e.clock.Now
	}
	e.disp = dispatcher(tb, e.store, &o)
	return e
}

// dispatcher returns a Dispatcher closed when tb ends.
func dispatcher(tb testing.TB, s webhook.Store, opts *webhook.Options) *webhook.Dispatcher {
	tb.Helper()
	d := webhook.New(s, opts)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		d.Close(ctx)
	})
	return d
}

// endpoint creates an endpoint for r receiving events and gives r its
// secret.
func (e *env) endpoint(tb testing.TB, r *receiver, events ...string) *keyward.Webhook {
	tb.Helper()
	if len(events) == 0 {
		events = []string{keyward.AllEvents}
	}
	c, err := e.svc.CreateWebhook(context.Background(), keyward.WebhookParams{URL: r.srv.URL + "/hooks", Events: events})
	if err != nil {
		tb.Fatal(err)
	}
	r.setSecret(c.Secret)
	return c.Webhook
}

// runOnce runs the dispatcher once and returns the number of attempts.
func (e *env) runOnce(tb testing.TB) int {
	tb.Helper()
	n, err := e.disp.RunOnce(context.Background())
	if err != nil {
		tb.Fatalf("RunOnce: %v", err)
	}
	return n
}
