package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/sqlite"
	"github.com/keyward/keyward/webhook"
)

// TestWebhooksVerbs drives every webhooks verb on a SQLite database: the
// secret is printed by create only; test queues an event that a dispatcher
// on the same database (a running keyward serve) delivers, and get shows the
// attempt; bad input is bad usage naming its flag.
func TestWebhooksVerbs(t *testing.T) {
	c := newCLI(t)
	var secret string
	got := make(chan error, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- webhook.Verify(secret, r.Header, body, time.Now())
	}))
	defer recv.Close()

	code, out, stderr := c.run("webhooks", "create", recv.URL+"/hooks", "--event", "key.created", "--event", "webhook.test", "--description", "billing")
	if code != 0 || !strings.Contains(out, "secret:        whsec_") || !strings.Contains(stderr, "only time the signing secret is shown") {
		t.Fatalf("webhooks create: exit %d\n%s%s", code, out, stderr)
	}
	var created keyward.CreatedWebhook
	c.mustJSON(&created, "webhooks", "create", "https://example.com/other", "--disable")
	if created.Webhook == nil || !strings.HasPrefix(created.Webhook.ID, "wh_") || !strings.HasPrefix(created.Secret, "whsec_") ||
		created.Webhook.Enabled || len(created.Webhook.Events) != 1 || created.Webhook.Events[0] != "*" {
		t.Fatalf("webhooks create -o json: %+v", created)
	}
	var list struct{ Items []keyward.Webhook }
	c.mustJSON(&list, "webhooks", "list")
	if len(list.Items) != 2 || list.Items[0].Description != "billing" {
		t.Fatalf("webhooks list -o json: %+v", list)
	}
	id := list.Items[0].ID
	secret = strings.TrimSpace(out[strings.Index(out, "whsec_"):])
	for _, args := range [][]string{{"webhooks", "list"}, {"webhooks", "get", id}, {"webhooks", "get", id, "-o", "json"}} {
		if out := c.mustRun(args...); strings.Contains(out, "whsec_") || !strings.Contains(out, id) {
			t.Errorf("keyward %s shows a secret, or not the endpoint:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := c.mustRun("webhooks", "get", id); !strings.Contains(out, "no delivery attempts yet") {
		t.Errorf("webhooks get before any delivery:\n%s", out)
	}

	// A test event, delivered by a dispatcher on the database (as keyward
	// serve's is), shows in get.
	if out := c.mustRun("webhooks", "test", id); !strings.Contains(out, "queued webhook.test event evt_") {
		t.Errorf("webhooks test: %s", out)
	}
	deliver(t, strings.TrimPrefix(c.db, "sqlite:"))
	if err := <-got; err != nil {
		t.Errorf("the receiver's signature check: %v", err)
	}
	var shown struct {
		Webhook    keyward.Webhook   `json:"webhook"`
		Deliveries []keyward.Attempt `json:"deliveries"`
	}
	c.mustJSON(&shown, "webhooks", "get", id)
	if len(shown.Deliveries) != 1 || shown.Deliveries[0].Type != "webhook.test" || shown.Deliveries[0].Status != 200 || shown.Deliveries[0].Attempt != 1 {
		t.Errorf("webhooks get -o json after the delivery: %+v", shown)
	}
	if out := c.mustRun("webhooks", "get", id); !strings.Contains(out, "webhook.test") || !strings.Contains(out, "200") || !strings.Contains(out, "done") {
		t.Errorf("webhooks get after the delivery:\n%s", out)
	}

	var w keyward.Webhook
	c.mustJSON(&w, "webhooks", "update", id, "--event", "*", "--disable")
	if w.Enabled || len(w.Events) != 1 || w.Events[0] != "*" || w.Description != "billing" {
		t.Errorf("webhooks update: %+v", w)
	}
	if code, _, stderr := c.run("webhooks", "test", id); code != 1 || !strings.Contains(stderr, "disabled") {
		t.Errorf("webhooks test of a disabled endpoint: exit %d, %q", code, stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"webhooks", "create", "ftp://example.com"}, 2, `URL "ftp://example.com": must be an absolute http or https URL`},
		{[]string{"webhooks", "create", "https://example.com", "--event", "key.created", "--event", "key.exploded"}, 2, `--event "key.exploded": "key.exploded" is not an event type`},
		{[]string{"webhooks", "update", id, "--enable", "--disable"}, 2, "contradict"},
		{[]string{"webhooks", "update", id}, 2, "nothing to change"},
		{[]string{"webhooks", "update", id, "--url", "nope"}, 2, `--url "nope"`},
		{[]string{"webhooks", "get", "wh_0123456789abcdef"}, 1, `no webhook endpoint with id "wh_0123456789abcdef"`},
		{[]string{"webhooks", "get", id, "--deliveries", "-1"}, 2, "--deliveries must be 0-1000"},
		{[]string{"webhooks", "delete", "nope"}, 1, `no webhook endpoint with id "nope"`},
		{[]string{"webhooks", "list", "-o", "id"}, 2, "--output must be table or json"},
		{[]string{"webhooks", "frob"}, 2, "unknown command"},
	} {
		if code, out, stderr := c.run(tc.args...); code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("keyward %s: exit %d, %q%q; want %d and %q", strings.Join(tc.args, " "), code, out, stderr, tc.code, tc.want)
		}
	}
	if out := c.mustRun("webhooks", "delete", id); !strings.Contains(out, "deleted webhook endpoint "+id) {
		t.Errorf("webhooks delete: %s", out)
	}
	c.mustJSON(&list, "webhooks", "list")
	if len(list.Items) != 1 {
		t.Errorf("after a delete, webhooks list has %d endpoints", len(list.Items))
	}
}

// deliver runs a webhook dispatcher on the SQLite database at path once.
func deliver(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, &sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := webhook.New(s, nil)
	defer d.Close(ctx)
	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("the dispatcher made %d attempts (%v), want 1", n, err)
	}
}

// TestServeChecksEventFlags: bad --expiry-warning, --leak-action and
// --leak-public-keys are configuration problems, reported together.
func TestServeChecksEventFlags(t *testing.T) {
	dir := t.TempDir()
	notKeys := filepath.Join(dir, "keys.json")
	os.WriteFile(notKeys, []byte(`{"keys": []}`), 0o644)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--expiry-warning", "-1h", "--leak-action", "delete", "--leak-public-keys", filepath.Join(dir, "none.json")},
			[]string{"--expiry-warning must not be negative", `--leak-action must be revoke, disable or report, got "delete"`, "--leak-public-keys: open"}},
		{[]string{"--leak-public-keys", notKeys}, []string{"--leak-public-keys " + notKeys + ": server: the key document lists no keys"}},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database-url", "sqlite:" + filepath.Join(dir, "k.db")}, tc.args...)
		code, _, stderr := runCLI(t, nil, args...)
		if code != 2 {
			t.Errorf("serve %v: exit %d, want 2\n%s", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("serve %v: stderr does not say %q:\n%s", tc.args, w, stderr)
			}
		}
	}
}
