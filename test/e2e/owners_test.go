package e2e

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/testserver"
)

// The owners, named limits and roles of the contract (section 9), every
// endpoint and status through HTTP, on SQLite and on PostgreSQL.

func TestOwnersAndRolesSQLite(t *testing.T) {
	runOwnersAndRoles(t, sqliteBackend(t))
}

func TestOwnersAndRolesPostgres(t *testing.T) {
	admin := envOrSkip(t, "KEYWARD_TEST_POSTGRES_URL", "PostgreSQL")
	runOwnersAndRoles(t, postgresBackend(t, admin))
}

// ownersRun is what the phases of one run share.
type ownersRun struct {
	srv   *testserver.Server
	admin string
	// metered: roles reader and billing, limits default 100/1h and burst
	// 5/1m, owner acme (limit daily 1000/24h, 50 credits).
	metered issued
}

func runOwnersAndRoles(t *testing.T, b backend) {
	srv := testserver.Start(t, b.env, b.args...)
	if srv.AdminKey == "" {
		t.Fatalf("first start printed no admin key:\n%s", srv.Log())
	}
	e := &ownersRun{srv: srv, admin: srv.AdminKey}
	if !t.Run("roles", e.roles) || !t.Run("owners", e.owners) || !t.Run("keys", e.keys) {
		return // the later phases use the roles, owner and key made here
	}
	t.Run("role in use", e.roleInUse)
	t.Run("verify answers", e.verifyAnswers)
	t.Run("scope queries", e.scopeQueries)
	t.Run("forward auth", e.forwardAuth)
	t.Run("owner usage", e.ownerUsage)
	t.Run("audit", e.audit)
}

// obj is a JSON object of an answer.
type obj = map[string]any

func (e *ownersRun) do(t *testing.T, method, path string, body any) testserver.Response {
	t.Helper()
	return e.srv.Do(t, method, path, e.admin, body)
}

// expect sends a request, checks the status and decodes the answer.
func (e *ownersRun) expect(t *testing.T, status int, method, path string, body any) obj {
	t.Helper()
	r := e.do(t, method, path, body)
	if r.Status != status {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, status)
	}
	var out obj
	if len(r.Body) > 0 {
		r.JSON(t, &out)
	}
	return out
}

// problemAt checks a 422 VALIDATION_FAILED naming location, with a message
// containing msg.
func (e *ownersRun) problemAt(t *testing.T, method, path string, body any, location, msg string) {
	t.Helper()
	r := e.do(t, method, path, body)
	var p struct {
		Code   string `json:"code"`
		Errors []struct{ Location, Message string }
	}
	json.Unmarshal(r.Body, &p)
	for _, d := range p.Errors {
		if r.Status == 422 && p.Code == "VALIDATION_FAILED" && d.Location == location && strings.Contains(d.Message, msg) {
			return
		}
	}
	t.Errorf("%s %s: %d %s, want 422 at %s (%q)", method, path, r.Status, r.Body, location, msg)
}

func (e *ownersRun) roles(t *testing.T) {
	reader := e.expect(t, 201, "PUT", "/v1/roles/reader", obj{"description": "read only", "scopes": []string{"docs:read", "docs:list"}})
	if reader["name"] != "reader" || reader["description"] != "read only" || len(reader["scopes"].([]any)) != 2 {
		t.Errorf("created role: %v", reader)
	}
	e.expect(t, 201, "PUT", "/v1/roles/billing", obj{"scopes": []string{"billing:*"}})
	if got := e.expect(t, 200, "PUT", "/v1/roles/billing", obj{"scopes": []string{"billing:read"}}); !equalList(got["scopes"], "billing:read") {
		t.Errorf("replaced role: %v", got)
	}
	if got := e.expect(t, 201, "PUT", "/v1/roles/empty", nil); !equalList(got["scopes"]) {
		t.Errorf("role without a body: %v, want scopes []", got)
	}
	if got := e.expect(t, 200, "GET", "/v1/roles/reader", nil); got["name"] != "reader" || got["created_at"] == nil {
		t.Errorf("get role: %v", got)
	}
	e.expect(t, 404, "GET", "/v1/roles/nobody", nil)
	e.expect(t, 404, "DELETE", "/v1/roles/nobody", nil)
	e.problemAt(t, "PUT", "/v1/roles/Bad!", obj{}, "path.name", "must match")
	e.problemAt(t, "PUT", "/v1/roles/ok", obj{"scopes": []string{"has space"}}, "body.scopes[0]", "")
	e.problemAt(t, "PUT", "/v1/roles/ok", obj{"bogus": 1}, "body.bogus", "")
	page := e.expect(t, 200, "GET", "/v1/roles?limit=2", nil)
	if names := itemNames(page); !slices.Equal(names, []string{"billing", "empty"}) || page["next_cursor"] == nil {
		t.Fatalf("first page of roles: %v", page)
	}
	page = e.expect(t, 200, "GET", "/v1/roles?limit=2&cursor="+url.QueryEscape(page["next_cursor"].(string)), nil)
	if names := itemNames(page); !slices.Equal(names, []string{"reader"}) || page["next_cursor"] != nil {
		t.Errorf("last page of roles: %v", page)
	}
	if names := itemNames(e.expect(t, 200, "GET", "/v1/roles?q=READ", nil)); !slices.Equal(names, []string{"reader"}) {
		t.Errorf("roles named like READ: %v", names)
	}
	e.expect(t, 204, "DELETE", "/v1/roles/empty", nil)
	e.expect(t, 404, "GET", "/v1/roles/empty", nil)
	e.problemAt(t, "GET", "/v1/roles?limit=0", nil, "query.limit", "")
}

// ownerNames are names that must travel escaped in paths.
var ownerNames = []string{"acme corp", "a/b", "société 東京"}

func (e *ownersRun) owners(t *testing.T) {
	body := obj{"metadata": obj{"plan": "pro"}, "rate_limits": []obj{{"name": "daily", "limit": 1000, "period": "24h"}}, "remaining": 50}
	acme := e.expect(t, 201, "PUT", "/v1/owners/acme", body)
	if acme["name"] != "acme" || acme["remaining"] != 50.0 || acme["key_count"] != 0.0 || len(acme["rate_limits"].([]any)) != 1 {
		t.Errorf("created owner: %v", acme)
	}
	if got := e.expect(t, 200, "PUT", "/v1/owners/acme", body); got["remaining"] != 50.0 {
		t.Errorf("replaced owner: %v", got)
	}
	for _, name := range ownerNames {
		p := "/v1/owners/" + url.PathEscape(name)
		if got := e.expect(t, 201, "PUT", p, nil); got["name"] != name || !equalList(got["rate_limits"]) || got["remaining"] != nil {
			t.Errorf("PUT %s: %v, want the defaults", p, got)
		}
		if got := e.expect(t, 200, "GET", p, nil); got["name"] != name {
			t.Errorf("GET %s: %v", p, got)
		}
	}
	got := e.expect(t, 200, "PATCH", "/v1/owners/acme", obj{"remaining": 60, "metadata": obj{"plan": "max"}, "refill": obj{"interval": "monthly", "amount": 60}})
	if got["remaining"] != 60.0 || got["metadata"].(obj)["plan"] != "max" || len(got["rate_limits"].([]any)) != 1 || got["refill"] == nil {
		t.Errorf("patched owner: %v", got)
	}
	e.expect(t, 404, "PATCH", "/v1/owners/nobody", obj{"remaining": 1})
	e.expect(t, 404, "GET", "/v1/owners/nobody", nil)
	e.problemAt(t, "PATCH", "/v1/owners/acme", obj{"remaining": -1}, "body.remaining", "")
	e.problemAt(t, "PUT", "/v1/owners/x", obj{"rate_limits": []obj{{"name": "d", "limit": 1, "period": "1ms"}}}, "body.rate_limits[0].period", "")
	e.problemAt(t, "PUT", "/v1/owners/x", obj{"refill": obj{"interval": "daily", "amount": 5}}, "body.refill", "")
	e.problemAt(t, "PUT", "/v1/owners/bad%01name", nil, "path.name", "control")
	if names := itemNames(e.expect(t, 200, "GET", "/v1/owners?q=ACME", nil)); !slices.Equal(names, []string{"acme", "acme corp"}) {
		t.Errorf("owners named like ACME: %v", names)
	}
	seen := e.allOwners(t)
	if want := []string{"a/b", "acme", "acme corp", "société 東京"}; !slices.Equal(seen, want) {
		t.Errorf("owners page by page: %v, want %v", seen, want)
	}
	e.expect(t, 204, "DELETE", "/v1/owners/"+url.PathEscape("a/b"), nil)
	e.expect(t, 404, "GET", "/v1/owners/"+url.PathEscape("a/b"), nil)
	e.expect(t, 404, "DELETE", "/v1/owners/"+url.PathEscape("a/b"), nil)
}

// allOwners lists the owners one per page.
func (e *ownersRun) allOwners(t *testing.T) []string {
	var names []string
	path := "/v1/owners?limit=1"
	for range 10 {
		page := e.expect(t, 200, "GET", path, nil)
		names = append(names, itemNames(page)...)
		next, _ := page["next_cursor"].(string)
		if next == "" {
			return names
		}
		path = "/v1/owners?limit=1&cursor=" + url.QueryEscape(next)
	}
	t.Fatal("more than 10 pages of owners")
	return nil
}

func (e *ownersRun) keys(t *testing.T) {
	r := e.do(t, "POST", "/v1/keys", obj{"name": "metered", "owner": "acme", "scopes": []string{"invoices:read"}, "roles": []string{"reader", "billing"},
		"rate_limit": obj{"limit": 100, "period": "1h"}, "rate_limits": []obj{{"name": "burst", "limit": 5, "period": "1m"}}})
	if r.Status != 201 {
		t.Fatalf("create a key with roles and limits: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &e.metered)
	var k struct {
		Key struct {
			Roles      []string         `json:"roles"`
			RateLimits []map[string]any `json:"rate_limits"`
			RateLimit  map[string]any   `json:"rate_limit"`
		} `json:"key"`
	}
	r.JSON(t, &k)
	if !slices.Equal(k.Key.Roles, []string{"reader", "billing"}) || len(k.Key.RateLimits) != 2 || k.Key.RateLimits[0]["name"] != "default" ||
		k.Key.RateLimit["limit"] != 100.0 {
		t.Errorf("created key: %s", r.Body)
	}
	if got := e.expect(t, 200, "GET", "/v1/owners/acme", nil); got["key_count"] != 1.0 {
		t.Errorf("owner after a key: %v, want key_count 1", got)
	}
	plain := e.do(t, "POST", "/v1/keys", obj{"name": "plain"})
	for _, want := range []string{`"roles":[]`, `"rate_limits":[]`, `"scopes":[]`, `"allowed_cidrs":[]`} {
		if !strings.Contains(string(plain.Body), want) {
			t.Errorf("a key without lists: %s lacks %s", plain.Body, want)
		}
	}
	e.problemAt(t, "POST", "/v1/keys", obj{"name": "both", "rate_limit": obj{"limit": 1, "period": "1s"},
		"rate_limits": []obj{{"name": "default", "limit": 2, "period": "1s"}}}, "body.rate_limit", "not both")
	e.problemAt(t, "POST", "/v1/keys", obj{"name": "unknown role", "roles": []string{"nobody"}}, "body.roles[0]", "nobody")
	e.problemAt(t, "POST", "/v1/keys", obj{"name": "dup", "rate_limits": []obj{{"name": "a", "limit": 1, "period": "1s"}, {"name": "a", "limit": 1, "period": "1s"}}},
		"body.rate_limits[1].name", "twice")
	var id struct {
		Key struct{ ID string } `json:"key"`
	}
	plain.JSON(t, &id)
	got := e.expect(t, 200, "PATCH", "/v1/keys/"+id.Key.ID, obj{"roles": []string{"reader"}, "rate_limits": []obj{{"name": "default", "limit": 9, "period": "1m"}}})
	if !equalList(got["roles"], "reader") || got["rate_limit"].(obj)["limit"] != 9.0 {
		t.Errorf("patched key: %v", got)
	}
	// rate_limit sets the default entry and keeps the others.
	e.expect(t, 200, "PATCH", "/v1/keys/"+id.Key.ID, obj{"rate_limits": []obj{{"name": "burst", "limit": 2, "period": "1s"}}})
	got = e.expect(t, 200, "PATCH", "/v1/keys/"+id.Key.ID, obj{"rate_limit": obj{"limit": 7, "period": "1h"}})
	if l, _ := got["rate_limits"].([]any); len(l) != 2 || got["rate_limit"].(obj)["limit"] != 7.0 {
		t.Errorf("rate_limit patched over a named limit: %v", got)
	}
	e.problemAt(t, "PATCH", "/v1/keys/"+id.Key.ID, obj{"roles": []string{"nobody"}}, "body.roles[0]", "nobody")
}

// roleInUse: a role cannot go while a key has it.
func (e *ownersRun) roleInUse(t *testing.T) {
	r := e.do(t, "DELETE", "/v1/roles/billing", nil)
	if r.Status != 409 || !strings.Contains(string(r.Body), `"code":"CONFLICT"`) {
		t.Errorf("delete a role a key has: %d %s", r.Status, r.Body)
	}
	e.expect(t, 201, "PUT", "/v1/roles/temp", obj{"scopes": []string{"t"}})
	iss := e.do(t, "POST", "/v1/keys", obj{"name": "temp", "roles": []string{"temp"}})
	var k issued
	iss.JSON(t, &k)
	e.expect(t, 409, "DELETE", "/v1/roles/temp", nil)
	e.expect(t, 200, "PATCH", "/v1/keys/"+k.Key.ID, obj{"roles": []string{}})
	e.expect(t, 204, "DELETE", "/v1/roles/temp", nil)
}

// equalList reports whether a decoded JSON list holds exactly want.
func equalList(v any, want ...string) bool {
	l, ok := v.([]any)
	if !ok || len(l) != len(want) {
		return false
	}
	for i, w := range want {
		if l[i] != w {
			return false
		}
	}
	return true
}

// itemNames returns the names of a page's items.
func itemNames(page obj) []string {
	items, _ := page["items"].([]any)
	names := []string{}
	for _, it := range items {
		names = append(names, it.(obj)["name"].(string))
	}
	return names
}
