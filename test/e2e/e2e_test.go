// Package e2e drives the real keyward binary over HTTP: the whole admin API,
// every verification outcome, a restart, on SQLite and (when
// KEYWARD_TEST_POSTGRES_URL is set) on PostgreSQL.
package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testserver"
)

type keyJSON struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Owner      string         `json:"owner"`
	Scopes     []string       `json:"scopes"`
	Status     string         `json:"status"`
	Enabled    bool           `json:"enabled"`
	ExpiresAt  *time.Time     `json:"expires_at"`
	RevokedAt  *time.Time     `json:"revoked_at"`
	LastUsedAt *time.Time     `json:"last_used_at"`
	Remaining  *int64         `json:"remaining"`
	RateLimit  map[string]any `json:"rate_limit"`
	ReplacedBy *string        `json:"replaced_by"`
	Replaces   *string        `json:"replaces"`
}

type issued struct {
	Key    keyJSON `json:"key"`
	Secret string  `json:"secret"`
}

// backend starts keyward on one kind of database; restart starts it again
// on the same data.
type backend struct {
	name string
	env  []string
	args []string
}

func sqliteBackend(t *testing.T) backend {
	path := filepath.Join(t.TempDir(), "e2e.db")
	return backend{name: "sqlite", args: []string{"--database-url", "sqlite:" + path}}
}

// postgresBackend makes a fresh database for the test on the server named by
// KEYWARD_TEST_POSTGRES_URL.
func postgresBackend(t *testing.T, admin string) backend {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("KEYWARD_TEST_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	db := fmt.Sprintf("e2e_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + db
	return backend{
		name: "postgres",
		env:  []string{"KEYWARD_PEPPER=an-e2e-test-pepper-of-at-least-32-bytes"},
		args: []string{"--database-url", u.String()},
	}
}

func TestEndToEndSQLite(t *testing.T) {
	runEndToEnd(t, sqliteBackend(t))
}

func TestEndToEndPostgres(t *testing.T) {
	admin := envOrSkip(t, "KEYWARD_TEST_POSTGRES_URL", "PostgreSQL")
	runEndToEnd(t, postgresBackend(t, admin))
}

// run is one end-to-end run: what its phases share.
type run struct {
	b       backend
	srv     *testserver.Server
	admin   string
	secrets []string // every secret ever issued: none may appear again
	main    issued   // "billing": patched, then rotated
	rot     issued   // main's successor
	limited issued   // rate-limited, deleted; its usage outlives it
}

// runEndToEnd runs the phases in order, one subtest each, so that a failure
// in one does not hide the others. A phase whose input an earlier one failed
// to make skips (see need).
func runEndToEnd(t *testing.T, b backend) {
	srv := testserver.Start(t, b.env, b.args...)
	if srv.AdminKey == "" {
		t.Fatalf("first start printed no admin key:\n%s", srv.Log())
	}
	e := &run{b: b, srv: srv, admin: srv.AdminKey}
	if !t.Run("create", e.create) {
		return // every later phase starts from the main key
	}
	t.Run("validation", e.validation)
	t.Run("list", e.list)
	t.Run("patch", e.patch)
	t.Run("outcomes", e.outcomes)
	t.Run("forward auth", e.forwardAuth)
	t.Run("rotate", e.rotate)
	t.Run("revoke", e.revoke)
	t.Run("delete", e.remove)
	t.Run("usage", e.usage)
	t.Run("last used", e.lastUsed)
	t.Run("audit", e.audit)
	t.Run("no secret in listing", e.noSecretInListing)
	srv.Stop() // here: Stop fails the test that started the server
	t.Run("restart", e.restart)
}

// need skips the phase when an earlier phase did not make its input.
func need(t *testing.T, ok bool, phase string) {
	t.Helper()
	if !ok {
		t.Skipf("phase %q failed before making what this phase needs", phase)
	}
}

// newKey creates a key through the API and remembers its secret.
func (e *run) newKey(t *testing.T, body map[string]any) issued {
	t.Helper()
	r := e.srv.Do(t, "POST", "/v1/keys", e.admin, body)
	if r.Status != 201 {
		t.Fatalf("create %v: %d %s", body, r.Status, r.Body)
	}
	var iss issued
	r.JSON(t, &iss)
	e.secrets = append(e.secrets, iss.Secret)
	return iss
}

type verifyOut struct {
	Valid     bool           `json:"valid"`
	Code      string         `json:"code"`
	Key       *keyJSON       `json:"key"`
	RateLimit map[string]any `json:"ratelimit"`
}

func (e *run) verify(t *testing.T, body map[string]any) verifyOut {
	t.Helper()
	r := e.srv.Do(t, "POST", "/v1/keys/verify", e.admin, body)
	if r.Status != 200 {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	var out verifyOut
	r.JSON(t, &out)
	return out
}

// create: the secret comes back once.
func (e *run) create(t *testing.T) {
	srv, admin := e.srv, e.admin
	main := e.newKey(t, map[string]any{"name": "billing", "owner": "team-b", "scopes": []string{"invoices:read"}, "metadata": map[string]any{"plan": "pro"}})
	if !strings.HasPrefix(main.Secret, "kw_"+main.Key.ID+"_") || main.Key.Status != "active" {
		t.Fatalf("created: %+v", main)
	}
	e.main = main
	r := srv.Do(t, "GET", "/v1/keys/"+main.Key.ID, admin, nil)
	var got keyJSON
	r.JSON(t, &got)
	if r.Status != 200 || got.Name != "billing" || got.Owner != "team-b" {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
}

// validation: precise problems.
func (e *run) validation(t *testing.T) {
	srv, admin := e.srv, e.admin
	r := srv.Do(t, "POST", "/v1/keys", admin, `{"name": "", "bogus": 1, "expires_in": "soon"}`)
	if r.Status != 422 || !strings.Contains(string(r.Body), `"code":"VALIDATION_FAILED"`) || !strings.Contains(string(r.Body), "body.bogus") {
		t.Errorf("bad create body: %d %s", r.Status, r.Body)
	}
	if r = srv.Do(t, "POST", "/v1/keys", admin, `{"name": `); r.Status != 400 || !strings.Contains(string(r.Body), "INVALID_REQUEST") {
		t.Errorf("body that is not JSON: %d %s", r.Status, r.Body)
	}
	big := `{"name": "x", "description": "` + strings.Repeat("x", 1<<20) + `"}`
	if r = srv.Do(t, "POST", "/v1/keys", admin, big); r.Status != 413 || !strings.Contains(string(r.Body), "PAYLOAD_TOO_LARGE") {
		t.Errorf("body over 1 MiB: %d %.200s", r.Status, r.Body)
	}
	meta := `{"name": "x", "metadata": {"pad": "` + strings.Repeat("x", 17<<10) + `"}}`
	if r = srv.Do(t, "POST", "/v1/keys", admin, meta); r.Status != 422 || !strings.Contains(string(r.Body), "body.metadata") {
		t.Errorf("metadata over 16 KiB: %d %.300s", r.Status, r.Body)
	}
}

// list with cursor pagination across 250 more keys.
func (e *run) list(t *testing.T) {
	srv, admin := e.srv, e.admin
	for i := range 250 {
		e.newKey(t, map[string]any{"name": fmt.Sprintf("bulk %03d", i), "owner": "bulk"})
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	var r testserver.Response
	for {
		path := "/v1/keys?owner=bulk&limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r = srv.Do(t, "GET", path, admin, nil)
		var page struct {
			Items      []keyJSON `json:"items"`
			NextCursor string    `json:"next_cursor"`
		}
		r.JSON(t, &page)
		if r.Status != 200 || len(page.Items) == 0 {
			t.Fatalf("page %d: %d, %d items", pages, r.Status, len(page.Items))
		}
		pages++
		for _, k := range page.Items {
			if seen[k.ID] {
				t.Fatalf("key %s on two pages", k.ID)
			}
			seen[k.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 250 || pages != 3 {
		t.Errorf("pagination: %d keys on %d pages, want 250 on 3", len(seen), pages)
	}
	if r = srv.Do(t, "GET", "/v1/keys?q=BULK%20007", admin, nil); !strings.Contains(string(r.Body), `"bulk 007"`) {
		t.Errorf("name search: %s", r.Body)
	}
	if r = srv.Do(t, "GET", "/v1/keys?limit=5000", admin, nil); r.Status != 422 || !strings.Contains(string(r.Body), "query.limit") {
		t.Errorf("limit 5000: %d %s", r.Status, r.Body)
	}
}

// patch, with values and with nulls.
func (e *run) patch(t *testing.T) {
	srv, admin, main := e.srv, e.admin, e.main
	var got keyJSON
	r := srv.Do(t, "PATCH", "/v1/keys/"+main.Key.ID, admin, map[string]any{"name": "billing v2", "expires_in": "720h", "remaining": 10})
	r.JSON(t, &got)
	if r.Status != 200 || got.Name != "billing v2" || got.ExpiresAt == nil || got.Remaining == nil || *got.Remaining != 10 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	r = srv.Do(t, "PATCH", "/v1/keys/"+main.Key.ID, admin, map[string]any{"expires_at": nil, "remaining": nil})
	r.JSON(t, &got)
	if r.Status != 200 || got.ExpiresAt != nil || got.Remaining != nil {
		t.Errorf("patch with nulls: %d %s", r.Status, r.Body)
	}
	if r = srv.Do(t, "PATCH", "/v1/keys/"+main.Key.ID, admin, `{"expires_at": null, "expires_in": "1h"}`); r.Status != 422 {
		t.Errorf("expires_at with expires_in: %d %s", r.Status, r.Body)
	}
}

// outcomes: every verification outcome.
func (e *run) outcomes(t *testing.T) {
	srv, admin, main := e.srv, e.admin, e.main
	revoked := e.newKey(t, map[string]any{"name": "revoked"})
	srv.Do(t, "POST", "/v1/keys/"+revoked.Key.ID+"/revoke", admin, nil)
	expiring := e.newKey(t, map[string]any{"name": "to expire"})
	srv.Do(t, "POST", "/v1/keys/"+expiring.Key.ID+"/rotate", admin, map[string]any{"grace_period": "0s"})
	disabled := e.newKey(t, map[string]any{"name": "disabled", "enabled": false})
	cidr := e.newKey(t, map[string]any{"name": "office only", "allowed_cidrs": []string{"10.0.0.0/8"}})
	limited := e.newKey(t, map[string]any{"name": "limited", "rate_limit": map[string]any{"limit": 1, "period": "1h"}})
	e.limited = limited
	spent := e.newKey(t, map[string]any{"name": "no credits", "remaining": 0})
	tok := main.Secret
	wrong := tok[:len(tok)-12] + "AAAAAA" + tok[len(tok)-6:] // checksum then fails
	unknown := keyward.Token{Prefix: "kw", ID: strings.Repeat("A", 16), Secret: strings.Repeat("B", 40)}.String()
	cases := []struct {
		name string
		body map[string]any
		code string
	}{
		{"malformed", map[string]any{"key": wrong}, "MALFORMED"},
		{"not found", map[string]any{"key": unknown}, "NOT_FOUND"},
		{"revoked", map[string]any{"key": revoked.Secret}, "REVOKED"},
		{"expired", map[string]any{"key": expiring.Secret}, "EXPIRED"},
		{"disabled", map[string]any{"key": disabled.Secret}, "DISABLED"},
		{"forbidden address", map[string]any{"key": cidr.Secret, "client_ip": "192.0.2.7"}, "FORBIDDEN_ADDRESS"},
		{"insufficient scope", map[string]any{"key": main.Secret, "scopes": []string{"invoices:write"}}, "INSUFFICIENT_SCOPE"},
		{"valid", map[string]any{"key": limited.Secret}, "VALID"},
		{"rate limited", map[string]any{"key": limited.Secret}, "RATE_LIMITED"},
		{"usage exceeded", map[string]any{"key": spent.Secret}, "USAGE_EXCEEDED"},
		{"valid with scope", map[string]any{"key": main.Secret, "scopes": []string{"invoices:read"}, "client_ip": "203.0.113.1"}, "VALID"},
	}
	for _, tc := range cases {
		out := e.verify(t, tc.body)
		if out.Code != tc.code || out.Valid != (tc.code == "VALID") {
			t.Errorf("verify %s: %+v, want %s", tc.name, out, tc.code)
		}
		if (out.Key == nil) != (tc.code == "MALFORMED" || tc.code == "NOT_FOUND") {
			t.Errorf("verify %s: key present = %v", tc.name, out.Key != nil)
		}
	}
	if out := e.verify(t, map[string]any{"key": cidr.Secret, "client_ip": "10.1.2.3"}); out.Code != "VALID" {
		t.Errorf("address inside allowed_cidrs: %s", out.Code)
	}
	if out := e.verify(t, map[string]any{"key": limited.Secret, "cost": 0}); out.Code != "VALID" || out.RateLimit == nil {
		t.Errorf("cost 0 on a spent rate limit: %+v", out)
	}
	if r := srv.Do(t, "POST", "/v1/keys/verify", admin, `{"scopes": []}`); r.Status != 422 {
		t.Errorf("verify without key: %d %s", r.Status, r.Body)
	}
}

// forwardAuth: /v1/auth passes a valid key and names it.
func (e *run) forwardAuth(t *testing.T) {
	main := e.main
	if r := e.srv.Do(t, "GET", "/v1/auth?scopes=invoices:read", "", nil, "X-API-Key", main.Secret); r.Status != 200 || r.Header.Get("X-Keyward-Key-Id") != main.Key.ID {
		t.Errorf("forward auth: %d %v", r.Status, r.Header)
	}
}

// rotate with grace: both keys work, then the old one is linked.
func (e *run) rotate(t *testing.T) {
	srv, admin, main := e.srv, e.admin, e.main
	r := srv.Do(t, "POST", "/v1/keys/"+main.Key.ID+"/rotate", admin, map[string]any{"grace_period": "24h"})
	var rot issued
	r.JSON(t, &rot)
	e.secrets = append(e.secrets, rot.Secret)
	if r.Status != 201 || rot.Key.Replaces == nil || *rot.Key.Replaces != main.Key.ID || rot.Key.Name != "billing v2" {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	e.rot = rot
	for _, s := range []string{main.Secret, rot.Secret} {
		if out := e.verify(t, map[string]any{"key": s}); out.Code != "VALID" {
			t.Errorf("after rotation with grace: %s", out.Code)
		}
	}
	if r = srv.Do(t, "POST", "/v1/keys/"+main.Key.ID+"/rotate", admin, nil); r.Status != 409 {
		t.Errorf("second rotation: %d %s", r.Status, r.Body)
	}
}

// revoke (idempotent), then patch of a revoked key.
func (e *run) revoke(t *testing.T) {
	need(t, e.rot.Secret != "", "rotate")
	srv, admin, rot := e.srv, e.admin, e.rot
	var r testserver.Response
	for range 2 {
		if r = srv.Do(t, "POST", "/v1/keys/"+rot.Key.ID+"/revoke", admin, nil); r.Status != 200 {
			t.Errorf("revoke: %d", r.Status)
		}
	}
	if r = srv.Do(t, "PATCH", "/v1/keys/"+rot.Key.ID, admin, map[string]any{"name": "x"}); r.Status != 409 {
		t.Errorf("patch revoked: %d %s", r.Status, r.Body)
	}
}

// remove deletes the rate-limited key.
func (e *run) remove(t *testing.T) {
	need(t, e.limited.Secret != "", "outcomes")
	srv, admin, limited := e.srv, e.admin, e.limited
	var r testserver.Response
	if r = srv.Do(t, "DELETE", "/v1/keys/"+limited.Key.ID, admin, nil); r.Status != 204 {
		t.Errorf("delete: %d %s", r.Status, r.Body)
	}
	if r = srv.Do(t, "GET", "/v1/keys/"+limited.Key.ID, admin, nil); r.Status != 404 {
		t.Errorf("get deleted: %d", r.Status)
	}
}

// usage, kept after delete, visible within 2s.
func (e *run) usage(t *testing.T) {
	need(t, e.limited.Secret != "", "outcomes")
	srv, admin, limited := e.srv, e.admin, e.limited
	var r testserver.Response
	waitFor(t, 2*time.Second, "usage of the deleted key", func() bool {
		r = srv.Do(t, "GET", "/v1/keys/"+limited.Key.ID+"/usage?bucket=minute", admin, nil)
		return r.Status == 200 && strings.Contains(string(r.Body), `"RATE_LIMITED":1`) && strings.Contains(string(r.Body), `"VALID":2`)
	})
	if r = srv.Do(t, "GET", "/v1/keys/AAAAAAAAAAAAAAAA/usage", admin, nil); r.Status != 404 {
		t.Errorf("usage of an id that never existed: %d", r.Status)
	}
}

// lastUsed: last_used_at within 2s.
func (e *run) lastUsed(t *testing.T) {
	var got keyJSON
	waitFor(t, 2*time.Second, "last_used_at", func() bool {
		e.srv.Do(t, "GET", "/v1/keys/"+e.main.Key.ID, e.admin, nil).JSON(t, &got)
		return got.LastUsedAt != nil
	})
}

// audit: every change to the main key, with actor and address; a deleted
// key's entries stay.
func (e *run) audit(t *testing.T) {
	srv, admin, main, limited := e.srv, e.admin, e.main, e.limited
	r := srv.Do(t, "GET", "/v1/audit?key_id="+main.Key.ID, admin, nil)
	var audit struct {
		Items []struct {
			Action   string `json:"action"`
			Actor    string `json:"actor"`
			ClientIP string `json:"client_ip"`
		} `json:"items"`
	}
	r.JSON(t, &audit)
	var actions []string
	for _, a := range audit.Items {
		actions = append(actions, a.Action)
		if a.Actor == "" || a.ClientIP != "127.0.0.1" {
			t.Errorf("audit entry without actor or client address: %+v", a)
		}
	}
	if got := strings.Join(actions, ","); got != "key.rotate,key.update,key.update,key.create" {
		t.Errorf("audit of the main key: %s", got)
	}
	need(t, limited.Secret != "", "outcomes")
	if r = srv.Do(t, "GET", "/v1/audit?key_id="+limited.Key.ID, admin, nil); !strings.Contains(string(r.Body), "key.delete") {
		t.Errorf("audit of a deleted key: %s", r.Body)
	}
}

// noSecretInListing: no secret ever comes back.
func (e *run) noSecretInListing(t *testing.T) {
	listing := e.srv.Do(t, "GET", "/v1/keys?limit=1000", e.admin, nil)
	for _, s := range e.secrets {
		secretPart := s[len(s)-46 : len(s)-6]
		if strings.Contains(string(listing.Body), secretPart) {
			t.Fatal("a secret appears in the key listing")
		}
	}
}

// restart on the same data (runEndToEnd stopped the server): no secret in
// the log, and everything persisted.
func (e *run) restart(t *testing.T) {
	for _, s := range e.secrets {
		if strings.Contains(e.srv.Log(), s[len(s)-46:len(s)-6]) {
			t.Fatal("a secret appears in the server's log")
		}
	}
	need(t, e.rot.Secret != "", "rotate")
	need(t, e.limited.Secret != "", "outcomes")
	admin, main, rot, limited := e.admin, e.main, e.rot, e.limited
	srv2 := testserver.Start(t, e.b.env, e.b.args...)
	if srv2.AdminKey != "" {
		t.Error("a second admin key was created on restart")
	}
	var got keyJSON
	srv2.Do(t, "GET", "/v1/keys/"+main.Key.ID, admin, nil).JSON(t, &got)
	if got.Name != "billing v2" || got.ReplacedBy == nil || *got.ReplacedBy != rot.Key.ID {
		t.Errorf("after restart: %+v", got)
	}
	var r testserver.Response
	if r = srv2.Do(t, "GET", "/v1/keys?owner=bulk&limit=1000", admin, nil); strings.Count(string(r.Body), `"id"`) != 250 {
		t.Errorf("after restart the bulk keys are not all there")
	}
	if r = srv2.Do(t, "GET", "/v1/keys/"+limited.Key.ID+"/usage?bucket=day", admin, nil); !strings.Contains(string(r.Body), `"VALID":2`) {
		t.Errorf("usage after restart: %s", r.Body)
	}
	if r = srv2.Do(t, "POST", "/v1/keys/verify", admin, map[string]any{"key": main.Secret}); !strings.Contains(string(r.Body), `"VALID"`) {
		t.Errorf("old key in its grace period after restart: %s", r.Body)
	}
	if r = srv2.Do(t, "GET", "/v1/audit?limit=1000", admin, nil); strings.Count(string(r.Body), `"key.create"`) < 258 {
		t.Errorf("audit after restart: %d creates", strings.Count(string(r.Body), `"key.create"`))
	}
}

func envOrSkip(t *testing.T, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("%s is not set: skipping the %s end-to-end test (make test starts a throwaway server when one is installed)", name, what)
	}
	return v
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not visible within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
