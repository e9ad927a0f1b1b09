package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/store/memory"
	"github.com/keyward/keyward/webhook"
)

// logs captures what the receiver logs.
type logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func captureLog(t *testing.T) *logs {
	l := &logs{}
	log.SetOutput(l)
	t.Cleanup(func() { log.SetOutput(nil) })
	return l
}

// TestReceivesRealDeliveries: a keyward dispatcher's deliveries pass the
// receiver's check and are logged once each.
func TestReceivesRealDeliveries(t *testing.T) {
	out := captureLog(t)
	ctx := context.Background()
	store := memory.New()
	svc := testkit.NewService(t, store, nil, nil)
	var recv http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { recv.ServeHTTP(w, r) }))
	defer srv.Close()
	c, err := svc.CreateWebhook(ctx, keyward.WebhookParams{URL: srv.URL + "/hooks/keyward", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/keyward", receiver(c.Secret))
	recv = mux
	if _, err := svc.Create(ctx, keyward.CreateParams{Name: "billing"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.TestWebhook(ctx, c.Webhook.ID); err != nil {
		t.Fatal(err)
	}
	d := webhook.New(store, nil)
	defer d.Close(ctx)
	if n, err := d.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("RunOnce = %d, %v; want 2 attempts", n, err)
	}
	if n, _ := d.RunOnce(ctx); n != 0 {
		t.Errorf("%d deliveries were tried again: the receiver did not answer 2xx", n)
	}
	for _, typ := range []string{"key.created", "webhook.test"} {
		if strings.Count(out.String(), " "+typ+": ") != 1 {
			t.Errorf("the log does not have one %s:\n%s", typ, out)
		}
	}
}

// TestRefusesForgeries: a wrong secret, a changed body, an old timestamp
// and missing headers get 401; a repeated delivery 204, logged once.
func TestRefusesForgeries(t *testing.T) {
	out := captureLog(t)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	h := receiver(secret)
	body := []byte(`{"id":"evt_1","type":"webhook.test","timestamp":"2026-01-02T03:04:05Z","data":{}}`)
	changed := bytes.Replace(body, []byte("test"), []byte("fake"), 1)
	now := time.Now()
	for _, tc := range []struct {
		name   string
		code   int
		secret string // signs body
		sent   []byte
		at     time.Time
		noHdr  bool
	}{
		{"good", 204, secret, body, now, false},
		{"again", 204, secret, body, now, false},
		{"wrong secret", 401, "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", body, now, false},
		{"changed body", 401, secret, changed, now, false},
		{"old timestamp", 401, secret, body, now.Add(-6 * time.Minute), false},
		{"no headers", 401, secret, body, now, true},
	} {
		req := httptest.NewRequest("POST", "/hooks/keyward", bytes.NewReader(tc.sent))
		if !tc.noHdr {
			sig, _ := webhook.Sign(tc.secret, "evt_1", tc.at, body)
			req.Header.Set("webhook-id", "evt_1")
			req.Header.Set("webhook-timestamp", fmt.Sprint(tc.at.Unix()))
			req.Header.Set("webhook-signature", sig)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.code)
		}
	}
	if n := strings.Count(out.String(), "event evt_1 webhook.test"); n != 1 {
		t.Errorf("logged the event %d times, want once:\n%s", n, out)
	}
}
