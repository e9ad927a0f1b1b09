package e2e

import (
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Verification of a key with roles, two limits and an owner with a shared
// limit and credits: the verify answer, scope queries, /v1/auth headers,
// owner usage and the audit log.

// limitState is one entry of ratelimits.
type limitState struct {
	Name      string `json:"name"`
	Scope     string `json:"scope"`
	Limit     int64  `json:"limit"`
	Remaining int64  `json:"remaining"`
	Reset     int64  `json:"reset"`
	Period    string `json:"period"`
}

type verifyAnswer struct {
	Valid           bool         `json:"valid"`
	Code            string       `json:"code"`
	MissingScope    string       `json:"missing_scope"`
	EffectiveScopes []string     `json:"effective_scopes"`
	RateLimit       *limitState  `json:"ratelimit"`
	RateLimits      []limitState `json:"ratelimits"`
	Owner           *struct {
		Name      string         `json:"name"`
		Metadata  map[string]any `json:"metadata"`
		Remaining *int64         `json:"remaining"`
	} `json:"owner"`
}

func (e *ownersRun) verify(t *testing.T, body obj) verifyAnswer {
	t.Helper()
	body["key"] = e.metered.Secret
	r := e.do(t, "POST", "/v1/keys/verify", body)
	if r.Status != 200 {
		t.Fatalf("verify %v: %d %s", body, r.Status, r.Body)
	}
	var out verifyAnswer
	r.JSON(t, &out)
	return out
}

// remainings returns the remaining units of each limit, in order.
func remainings(l []limitState) []int64 {
	out := make([]int64, len(l))
	for i, s := range l {
		out[i] = s.Remaining
	}
	return out
}

func (e *ownersRun) verifyAnswers(t *testing.T) {
	out := e.verify(t, obj{"scopes": []string{"docs:read", "invoices:read"}})
	if !out.Valid || out.Code != "VALID" {
		t.Fatalf("verify: %+v", out)
	}
	if want := []string{"invoices:read", "docs:read", "docs:list", "billing:read"}; !reflect.DeepEqual(out.EffectiveScopes, want) {
		t.Errorf("effective_scopes %v, want %v", out.EffectiveScopes, want)
	}
	want := []limitState{
		{Name: "default", Scope: "key", Limit: 100, Remaining: 99, Period: "1h0m0s"},
		{Name: "burst", Scope: "key", Limit: 5, Remaining: 4, Period: "1m0s"},
		{Name: "daily", Scope: "owner", Limit: 1000, Remaining: 999, Period: "24h0m0s"},
	}
	got := append([]limitState(nil), out.RateLimits...)
	for i := range got {
		if got[i].Reset <= 0 {
			t.Errorf("ratelimits[%d].reset = %d, want > 0 after a spend", i, got[i].Reset)
		}
		got[i].Reset = 0
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ratelimits\n%+v\nwant\n%+v", got, want)
	}
	if rl := out.RateLimit; rl == nil || rl.Limit != 5 || rl.Remaining != 4 {
		t.Errorf("ratelimit %+v, want the burst limit (fewest left)", rl)
	}
	if o := out.Owner; o == nil || o.Name != "acme" || o.Metadata["plan"] != "max" || o.Remaining == nil || *o.Remaining != 59 {
		t.Errorf("owner %+v, want acme with 59 credits left", o)
	}
	// cost 0 spends nothing but reports each limit's state.
	zero := e.verify(t, obj{"cost": 0})
	if r := remainings(zero.RateLimits); !zero.Valid || !reflect.DeepEqual(r, []int64{99, 4, 999}) || zero.Owner == nil || zero.Owner.Remaining == nil {
		t.Errorf("cost 0: %s, remaining %v, owner %+v; want VALID, [99 4 999] and the owner's credits", zero.Code, r, zero.Owner)
	}
	denied := e.verify(t, obj{"scopes": []string{"billing:write"}})
	if denied.Code != "INSUFFICIENT_SCOPE" || denied.MissingScope != "billing:write" || len(denied.EffectiveScopes) != 4 || denied.RateLimits != nil {
		t.Errorf("a scope no role grants: %+v", denied)
	}
	// A refused check shows the credits as they are, not as the cached
	// owner record had them before the spend above.
	if o := denied.Owner; o == nil || o.Remaining == nil || *o.Remaining != 59 {
		t.Errorf("a refused check's owner %+v, want 59 credits left", o)
	}
	// Neither the cost-0 nor the refused check spent anything.
	if again := e.verify(t, obj{}); !reflect.DeepEqual(remainings(again.RateLimits), []int64{98, 3, 998}) || *again.Owner.Remaining != 58 {
		t.Errorf("after a cost-0 and a refused check: %v, owner %d; want [98 3 998], 58", remainings(again.RateLimits), *again.Owner.Remaining)
	}
}

func (e *ownersRun) scopeQueries(t *testing.T) {
	if out := e.verify(t, obj{"scope_query": "docs:read and (billing:read or admin)", "cost": 0}); out.Code != "VALID" {
		t.Errorf("a query the roles satisfy: %+v", out)
	}
	if out := e.verify(t, obj{"scope_query": "admin or invoices:write", "cost": 0}); out.Code != "INSUFFICIENT_SCOPE" || out.MissingScope != "admin" {
		t.Errorf("a query no scope satisfies: %+v, want INSUFFICIENT_SCOPE naming admin", out)
	}
	if out := e.verify(t, obj{"scopes": []string{"docs:read"}, "scope_query": "billing:write", "cost": 0}); out.Code != "INSUFFICIENT_SCOPE" {
		t.Errorf("scopes hold but the query does not: %+v", out)
	}
	for _, tc := range []struct{ query, pos string }{
		{"docs:read and (billing:read", "position 28"},
		{"docs:read and and x", "position 15"},
		{"a or bad scope!", "position"},
		{strings.Repeat("a or ", 200) + "a", "position 1001"},
	} {
		e.problemAt(t, "POST", "/v1/keys/verify", obj{"key": e.metered.Secret, "scope_query": tc.query}, "body.scope_query", tc.pos)
	}
}

// auth calls /v1/auth with the metered key.
func (e *ownersRun) auth(t *testing.T, query string) (status int, h func(string) string, body string) {
	t.Helper()
	r := e.srv.Do(t, "GET", "/v1/auth?"+query, "", nil, "X-API-Key", e.metered.Secret)
	return r.Status, r.Header.Get, string(r.Body)
}

func (e *ownersRun) forwardAuth(t *testing.T) {
	const policy = `"key";q=100;w=3600, "burst";q=5;w=60, "owner.daily";q=1000;w=86400`
	q := url.Values{"scopes": {"docs:read"}, "scope_query": {"billing:read or admin"}}
	status, h, body := e.auth(t, q.Encode())
	if status != 200 || h("X-Keyward-Scopes") != "invoices:read docs:read docs:list billing:read" || h("X-Keyward-Owner") != "acme" {
		t.Errorf("/v1/auth: %d, scopes %q, owner %q: %s", status, h("X-Keyward-Scopes"), h("X-Keyward-Owner"), body)
	}
	if h("RateLimit-Policy") != policy || !strings.HasPrefix(h("RateLimit"), `"burst";r=2;t=`) {
		t.Errorf("/v1/auth rate-limit headers: policy %q, ratelimit %q; want policy %q and the burst limit", h("RateLimit-Policy"), h("RateLimit"), policy)
	}
	if status, _, body = e.auth(t, "cost=0&any_scopes=nope,%20billing:read"); status != 200 {
		t.Errorf("any_scopes with one granted: %d %s", status, body)
	}
	if status, h, _ = e.auth(t, "cost=0&any_scopes=nope,never"); status != 403 || h("X-Keyward-Code") != "INSUFFICIENT_SCOPE" {
		t.Errorf("any_scopes with none granted: %d %s", status, h("X-Keyward-Code"))
	}
	status, h, _ = e.auth(t, "cost=0&scope_query="+url.QueryEscape("admin and docs:read"))
	if status != 403 || !strings.Contains(h("WWW-Authenticate"), `scope="admin"`) {
		t.Errorf("a scope query that fails: %d %q", status, h("WWW-Authenticate"))
	}
	status, h, body = e.auth(t, "scope_query="+url.QueryEscape("docs:read or (x"))
	if status != 422 || h("Content-Type") != "application/problem+json" || !strings.Contains(body, `"location":"query.scope_query"`) ||
		!strings.Contains(body, "position 16") {
		t.Errorf("a scope query that does not parse: %d %s", status, body)
	}
	// Spend the burst limit: 429 with every policy and the wait.
	for range 10 {
		if status, h, body = e.auth(t, ""); status != 200 {
			break
		}
	}
	retry, _ := strconv.Atoi(h("Retry-After"))
	if status != 429 || h("X-Keyward-Code") != "RATE_LIMITED" || retry < 1 || retry > 60 || h("RateLimit-Policy") != policy ||
		!strings.HasPrefix(h("RateLimit"), `"burst";r=0;t=`) {
		t.Errorf("burst spent: %d, code %q, Retry-After %q, policy %q, ratelimit %q: %s",
			status, h("X-Keyward-Code"), h("Retry-After"), h("RateLimit-Policy"), h("RateLimit"), body)
	}
}

func (e *ownersRun) ownerUsage(t *testing.T) {
	var r = e.do(t, "GET", "/v1/owners/acme/usage?bucket=minute", nil)
	waitFor(t, 2*time.Second, "usage of the owner", func() bool {
		r = e.do(t, "GET", "/v1/owners/acme/usage?bucket=minute", nil)
		return r.Status == 200 && strings.Contains(string(r.Body), `"RATE_LIMITED":1`) && strings.Contains(string(r.Body), `"INSUFFICIENT_SCOPE":`)
	})
	if !strings.Contains(string(r.Body), `"owner":"acme"`) || !strings.Contains(string(r.Body), `"key_id":""`) {
		t.Errorf("owner usage: %s", r.Body)
	}
	if got := e.expect(t, 200, "GET", "/v1/owners/"+url.PathEscape("acme corp")+"/usage", nil); len(got["totals"].(obj)) != 0 || !equalList(got["series"]) {
		t.Errorf("usage of an owner without keys: %v, want empty totals and series []", got)
	}
	e.expect(t, 404, "GET", "/v1/owners/nobody/usage", nil)
	e.problemAt(t, "GET", "/v1/owners/acme/usage?bucket=week", nil, "query.bucket", "")
}

func (e *ownersRun) audit(t *testing.T) {
	var page struct {
		Items []struct {
			Action  string         `json:"action"`
			KeyID   string         `json:"key_id"`
			Actor   string         `json:"actor"`
			Details map[string]any `json:"details"`
		} `json:"items"`
	}
	e.do(t, "GET", "/v1/audit?limit=1000", nil).JSON(t, &page)
	seen := map[string]bool{}
	for _, a := range page.Items {
		if !strings.HasPrefix(a.Action, "owner.") && !strings.HasPrefix(a.Action, "role.") {
			continue
		}
		name, _ := a.Details["owner"].(string)
		if n, ok := a.Details["role"].(string); ok {
			name = n
		}
		seen[a.Action+" "+name] = true
		if a.KeyID != "" || a.Actor == "" || name == "" {
			t.Errorf("audit entry %+v: want an actor, no key_id and the name in details", a)
		}
	}
	for _, want := range []string{"owner.put acme", "owner.put a/b", "owner.update acme", "owner.delete a/b", "role.put reader", "role.delete empty"} {
		if !seen[want] {
			t.Errorf("no audit entry %q in %v", want, seen)
		}
	}
	e.do(t, "GET", "/v1/audit?key_id="+e.metered.Key.ID, nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].Action != "key.create" {
		t.Errorf("audit of the metered key: %+v, want its key.create only", page.Items)
	}
}
