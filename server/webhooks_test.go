package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
	"github.com/keyward/keyward/webhook"
)

// hookEnv is a server on a database store with a webhook dispatcher that
// the test drives (RunOnce).
type hookEnv struct {
	svc  *keyward.Service
	srv  *server.Server
	disp *webhook.Dispatcher
}

// databases opens each database store the webhook tests run on: SQLite,
// and PostgreSQL when KEYWARD_TEST_POSTGRES_URL is set.
var databases = map[string]func(t *testing.T) keyward.Store{
	"sqlite": func(t *testing.T) keyward.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hooks.db"), &sqlite.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
	"postgres": func(t *testing.T) keyward.Store {
		s, err := postgres.Open(context.Background(), testpg.FreshDatabase(t, testpg.URL(t)), &postgres.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
}

func newHookEnv(t *testing.T, store keyward.Store) *hookEnv {
	t.Helper()
	t.Cleanup(func() { store.Close() })
	d := webhook.New(store, nil)
	t.Cleanup(func() { d.Close(context.Background()) })
	p, _ := keyhash.NewPepper([]byte("server test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(store, h, &keyward.Options{UsageFlushInterval: -1, OnEvents: d.Wake})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	srv, err := server.New(server.Config{Service: svc, AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	return &hookEnv{svc: svc, srv: srv, disp: d}
}

// call sends an admin request with an optional JSON body.
func (e *hookEnv) call(method, target, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// hookReceiver keeps the deliveries whose signature checks with its secret.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	types  []string
	bad    int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if webhook.Verify(r.secret, req.Header, body, time.Now()) != nil {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev keyward.Event
		json.Unmarshal(body, &ev)
		r.types = append(r.types, ev.Type)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

type hookJSON struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	Enabled     bool     `json:"enabled"`
}

// TestWebhookEndpoints drives every webhook operation over HTTP, on SQLite
// and PostgreSQL, with a real dispatcher and receiver: the secret is shown
// once (and not cached), a test event is delivered and signed, the
// deliveries page through, and the audit log has each change.
func TestWebhookEndpoints(t *testing.T) {
	for name, open := range databases {
		t.Run(name, func(t *testing.T) {
			e := newHookEnv(t, open(t))
			recv := newHookReceiver(t)
			id, secret := createWebhook(t, e, recv)
			checkWebhookReadAndPatch(t, e, id, secret)
			testEvent := deliverTestAndKeyEvents(t, e, recv, id)
			checkDeliveryPages(t, e, id, testEvent)
			disableAndDeleteWebhook(t, e, id)
			checkWebhookAudit(t, e, secret)
		})
	}
}

// createWebhook creates an endpoint for key.created at the receiver, checks
// that the answer (201, not cached) shows its whsec_ secret, gives the
// receiver that secret, and returns the endpoint's id and secret.
func createWebhook(t *testing.T, e *hookEnv, recv *hookReceiver) (id, secret string) {
	t.Helper()
	rec := e.call("POST", "/v1/webhooks", `{"url":"`+recv.srv.URL+`/hooks","events":["key.created"],"description":"billing"}`)
	var created struct {
		Webhook hookJSON `json:"webhook"`
		Secret  string   `json:"secret"`
	}
	json.Unmarshal(rec.Body.Bytes(), &created)
	if rec.Code != 201 || !strings.HasPrefix(created.Secret, "whsec_") || !created.Webhook.Enabled || created.Webhook.Description != "billing" {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("create answered Cache-Control %q, want no-store", cc)
	}
	recv.mu.Lock()
	recv.secret = created.Secret
	recv.mu.Unlock()
	return created.Webhook.ID, created.Secret
}

// checkWebhookReadAndPatch checks that the list and the endpoint show it
// without its secret, and that PATCH changes its events and description.
func checkWebhookReadAndPatch(t *testing.T, e *hookEnv, id, secret string) {
	t.Helper()
	for _, target := range []string{"/v1/webhooks", "/v1/webhooks/" + id} {
		if rec := e.call("GET", target, ""); rec.Code != 200 || strings.Contains(rec.Body.String(), secret) || !strings.Contains(rec.Body.String(), id) {
			t.Errorf("GET %s: %d %s (want the endpoint, never its secret)", target, rec.Code, rec.Body)
		}
	}
	var h hookJSON
	rec := e.call("PATCH", "/v1/webhooks/"+id, `{"events":["*"],"description":"all events"}`)
	json.Unmarshal(rec.Body.Bytes(), &h)
	if rec.Code != 200 || len(h.Events) != 1 || h.Events[0] != "*" || h.Description != "all events" {
		t.Errorf("PATCH: %d %s", rec.Code, rec.Body)
	}
}

// deliverTestAndKeyEvents queues a test event and creates a key, runs the
// dispatcher once (two attempts), checks that the receiver got both with
// good signatures, and returns the test event's id.
func deliverTestAndKeyEvents(t *testing.T, e *hookEnv, recv *hookReceiver, id string) string {
	t.Helper()
	// A test event and a key created: two deliveries, signed.
	rec := e.call("POST", "/v1/webhooks/"+id+"/test", "")
	var queued struct {
		EventID string `json:"event_id"`
	}
	json.Unmarshal(rec.Body.Bytes(), &queued)
	if rec.Code != 202 || !strings.HasPrefix(queued.EventID, "evt_") {
		t.Fatalf("test: %d %s", rec.Code, rec.Body)
	}
	if rec := e.call("POST", "/v1/keys", `{"name":"k"}`); rec.Code != 201 {
		t.Fatalf("create key: %d %s", rec.Code, rec.Body)
	}
	if n, err := e.disp.RunOnce(context.Background()); err != nil || n != 2 {
		t.Fatalf("RunOnce = %d, %v; want 2 attempts", n, err)
	}
	recv.mu.Lock()
	got, bad := strings.Join(recv.types, " "), recv.bad
	recv.mu.Unlock()
	if bad != 0 || !strings.Contains(got, "webhook.test") || !strings.Contains(got, "key.created") {
		t.Errorf("the receiver got %q with %d bad signatures", got, bad)
	}
	return queued.EventID
}

// checkDeliveryPages reads the endpoint's deliveries by pages of one and
// checks that they are the test event testEvent and key.created, each done
// at its first attempt with status 200.
func checkDeliveryPages(t *testing.T, e *hookEnv, id, testEvent string) {
	t.Helper()
	// The deliveries, by pages of one, newest first.
	var seen []keyward.Attempt
	cursor := ""
	for range 3 {
		rec := e.call("GET", "/v1/webhooks/"+id+"/deliveries?limit=1&cursor="+cursor, "")
		var page struct {
			Items      []keyward.Attempt `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		json.Unmarshal(rec.Body.Bytes(), &page)
		if rec.Code != 200 {
			t.Fatalf("deliveries: %d %s", rec.Code, rec.Body)
		}
		seen = append(seen, page.Items...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	// (Both were sent at once: the order of their attempts is the order they were recorded in.)
	if len(seen) != 2 || seen[0].EventID == seen[1].EventID ||
		!slices.ContainsFunc(seen, func(a keyward.Attempt) bool { return a.EventID == testEvent && a.Type == "webhook.test" }) ||
		!slices.ContainsFunc(seen, func(a keyward.Attempt) bool { return a.Type == "key.created" }) {
		t.Fatalf("deliveries %+v; want the test event %s and key.created", seen, testEvent)
	}
	for _, a := range seen {
		if a.Attempt != 1 || a.Status != 200 || a.Error != "" || a.NextAttemptAt != nil {
			t.Errorf("attempt %+v; want attempt 1, status 200, done", a)
		}
	}
}

// disableAndDeleteWebhook checks that a disabled endpoint refuses a test
// event (409), and that once deleted it and its deliveries are 404.
func disableAndDeleteWebhook(t *testing.T, e *hookEnv, id string) {
	t.Helper()
	// Disabled: no test (409). Deleted: 404 after.
	if rec := e.call("PATCH", "/v1/webhooks/"+id, `{"enabled":false}`); rec.Code != 200 {
		t.Errorf("disable: %d %s", rec.Code, rec.Body)
	}
	if rec := e.call("POST", "/v1/webhooks/"+id+"/test", ""); rec.Code != 409 {
		t.Errorf("test of a disabled endpoint: %d %s, want 409", rec.Code, rec.Body)
	}
	if rec := e.call("DELETE", "/v1/webhooks/"+id, ""); rec.Code != 204 {
		t.Errorf("delete: %d %s", rec.Code, rec.Body)
	}
	for _, target := range []string{"/v1/webhooks/" + id, "/v1/webhooks/" + id + "/deliveries"} {
		if rec := e.call("GET", target, ""); rec.Code != 404 {
			t.Errorf("GET %s after delete: %d, want 404", target, rec.Code)
		}
	}
}

// checkWebhookAudit checks that the audit log has the endpoint's create,
// update and delete, and never its secret.
func checkWebhookAudit(t *testing.T, e *hookEnv, secret string) {
	t.Helper()
	rec := e.call("GET", "/v1/audit?limit=20", "")
	for _, action := range []string{"webhook.create", "webhook.update", "webhook.delete"} {
		if !strings.Contains(rec.Body.String(), `"action":"`+action+`"`) {
			t.Errorf("the audit log has no %s: %s", action, rec.Body)
		}
	}
	if strings.Contains(rec.Body.String(), secret) {
		t.Error("the audit log holds the secret")
	}
}

// TestWebhookRequestsRefused checks the answers to bad requests: 422 with
// the field for bad bodies and parameters, 404 for unknown ids, 401
// without a credential.
func TestWebhookRequestsRefused(t *testing.T) {
	e := newHookEnv(t, databases["sqlite"](t))
	unknown := "/v1/webhooks/wh_0123456789abcdef"
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		location                   string
	}{
		{"ftp url", "POST", "/v1/webhooks", `{"url":"ftp://example.com","events":["*"]}`, 422, "body.url"},
		{"no events", "POST", "/v1/webhooks", `{"url":"https://example.com","events":[]}`, 422, "body.events"},
		{"unknown type", "POST", "/v1/webhooks", `{"url":"https://example.com","events":["key.exploded"]}`, 422, "body.events[0]"},
		{"star with others", "POST", "/v1/webhooks", `{"url":"https://example.com","events":["*","key.created"]}`, 422, "body.events"},
		{"unknown member", "POST", "/v1/webhooks", `{"url":"https://example.com","events":["*"],"secret":"whsec_x"}`, 422, "body.secret"},
		{"not JSON", "POST", "/v1/webhooks", `{"url"`, 400, ""},
		{"get unknown", "GET", unknown, "", 404, ""},
		{"patch unknown", "PATCH", unknown, `{"enabled":false}`, 404, ""},
		{"delete unknown", "DELETE", unknown, "", 404, ""},
		{"test unknown", "POST", unknown + "/test", "", 404, ""},
		{"deliveries of unknown", "GET", unknown + "/deliveries", "", 404, ""},
		{"bad limit", "GET", unknown + "/deliveries?limit=0", "", 422, "query.limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.call(tc.method, tc.target, tc.body)
			var p struct {
				Errors []struct{ Location string }
			}
			json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != tc.status || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s, want %d problem+json", rec.Code, rec.Body, tc.status)
			}
			found := tc.location == ""
			for _, er := range p.Errors {
				found = found || er.Location == tc.location
			}
			if !found {
				t.Errorf("errors %s, want one at %s", rec.Body, tc.location)
			}
		})
	}
	// Every webhook operation needs an admin credential: 401 without one,
	// 403 for a key without keyward:admin.
	plain, err := e.svc.Create(context.Background(), keyward.CreateParams{Name: "plain", Scopes: []string{keyward.ScopeVerify}})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []struct{ method, target, body string }{
		{"POST", "/v1/webhooks", `{"url":"https://example.com","events":["*"]}`}, {"GET", "/v1/webhooks", ""},
		{"GET", unknown, ""}, {"PATCH", unknown, `{"enabled":false}`}, {"DELETE", unknown, ""},
		{"POST", unknown + "/test", ""}, {"GET", unknown + "/deliveries", ""},
	} {
		for cred, want := range map[string]int{"": 401, plain.Secret: 403} {
			req := httptest.NewRequest(op.method, op.target, bytes.NewReader([]byte(op.body)))
			if cred != "" {
				req.Header.Set("Authorization", "Bearer "+cred)
			}
			rec := httptest.NewRecorder()
			e.srv.Handler().ServeHTTP(rec, req)
			if rec.Code != want {
				t.Errorf("%s %s with a credential: %t: %d, want %d", op.method, op.target, cred != "", rec.Code, want)
			}
		}
	}
}

// TestOpenAPIListsWebhookAndLeakPaths: the served document has the paths of
// the webhook and leak endpoints (TestOpenAPIDocument checks the others).
func TestOpenAPIListsWebhookAndLeakPaths(t *testing.T) {
	e := newEnv(t)
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	json.Unmarshal(rec.Body.Bytes(), &doc)
	for path, methods := range map[string][]string{
		"/v1/webhooks":                 {"get", "post"},
		"/v1/webhooks/{id}":            {"delete", "get", "patch"},
		"/v1/webhooks/{id}/test":       {"post"},
		"/v1/webhooks/{id}/deliveries": {"get"},
		"/v1/leaks/github":             {"post"},
	} {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("%s %s missing", m, path)
			}
		}
	}
	if sec, ok := doc.Paths["/v1/leaks/github"]["post"]; ok && strings.Contains(string(sec), `"security"`) {
		t.Error("the leak endpoint asks for a bearer credential: GitHub sends none, the signature is the credential")
	}
}
