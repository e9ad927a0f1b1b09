package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// TestQueryThatDoesNotDecodeIs422: a query string with a broken escape or a
// ';' is refused at location query, on admin routes and on /v1/auth, rather
// than read without the broken pair: /v1/auth?scopes=%zz would otherwise ask
// for no scope and let any valid key through.
func TestQueryThatDoesNotDecodeIs422(t *testing.T) {
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{Scopes: []string{"a:b"}})
	bad := func(rec interface {
		Result() *http.Response
	}, body string) bool {
		res := rec.Result()
		return res.StatusCode == http.StatusUnprocessableEntity && res.Header.Get("X-Keyward-Code") == api.CodeValidationFailed &&
			strings.Contains(body, `"location":"query"`) && strings.Contains(body, "URL encoding")
	}
	for _, target := range []string{"/v1/audit?cursor=%%%", "/v1/keys?q=%zz", "/v1/keys?q=a;b", "/v1/keys?limit=5&q=%4"} {
		if rec := e.admin(t, "GET", target, ""); !bad(rec, rec.Body.String()) {
			t.Errorf("GET %s: %d %s, want 422 at query", target, rec.Code, rec.Body)
		}
	}
	for _, target := range []string{"/v1/auth?scopes=%zz", "/v1/auth?scopes=other&cost=1;2", "/v1/auth?scope_query=%"} {
		if rec := e.do(t, "GET", target, "", "Authorization", "Bearer "+iss.Secret); !bad(rec, rec.Body.String()) {
			t.Errorf("GET %s with a valid key: %d %s, want 422 at query", target, rec.Code, rec.Body)
		}
	}
	// Escapes that decode are read as before.
	if rec := e.do(t, "GET", "/v1/auth?scopes=a%3Ab", "", "Authorization", "Bearer "+iss.Secret); rec.Code != http.StatusOK {
		t.Errorf("an escaped scope: %d %s, want 200", rec.Code, rec.Body)
	}
	if rec := e.admin(t, "GET", "/v1/keys?q=te%73t&limit=5", ""); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), iss.Key.ID) {
		t.Errorf("an escaped q: %d %s, want 200 with the key", rec.Code, rec.Body)
	}
}

// TestAdminRateLimitHeadersOnlyOn2xx: an admin key with a rate limit gets
// the RateLimit headers on the admin API's 2xx answers, and never on its
// 4xx ones (they go only on 2xx and 429).
func TestAdminRateLimitHeadersOnlyOn2xx(t *testing.T) {
	e := newEnv(t)
	admin := e.create(t, keyward.CreateParams{Scopes: []string{keyward.ScopeAdmin},
		RateLimit: &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)}})
	for _, tc := range []struct {
		method, target, body string
		status               int
	}{
		{"GET", "/v1/keys", "", 200},
		{"GET", "/v1/keys/0123456789abcdef", "", 404},
		{"GET", "/v1/keys?limit=0", "", 422},
		{"POST", "/v1/keys", `{}`, 422},
		{"GET", "/v1/keys?q=%zz", "", 422},
	} {
		rec := e.do(t, tc.method, tc.target, tc.body, "Authorization", "Bearer "+admin.Secret, "Content-Type", "application/json")
		_, has := rec.Header()["Ratelimit"]
		_, hasPolicy := rec.Header()["Ratelimit-Policy"]
		if want := tc.status < 300; rec.Code != tc.status || has != want || hasPolicy != want {
			t.Errorf("%s %s: %d with RateLimit %v, RateLimit-Policy %v; want %d with them %v", tc.method, tc.target, rec.Code, has, hasPolicy, tc.status, want)
		}
	}
}
