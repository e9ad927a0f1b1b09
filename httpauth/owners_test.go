package httpauth_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
)

// TestEveryLimitInTheHeaders: a key with two limits and an owner with one
// lists the three policies; RateLimit names the one with fewest units left;
// a refusal by one limit gives its wait.
func TestEveryLimitInTheHeaders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, _, err := e.svc.PutOwner(ctx, "acme", keyward.OwnerParams{RateLimits: []keyward.NamedRateLimit{{Name: "daily", Limit: 100, Period: keyward.Duration(24 * time.Hour)}}}); err != nil {
		t.Fatal(err)
	}
	iss := e.create(t, keyward.CreateParams{
		Owner:      "acme",
		RateLimit:  &keyward.RateLimit{Limit: 50, Period: keyward.Duration(time.Minute)},
		RateLimits: []keyward.NamedRateLimit{{Name: "burst", Limit: 2, Period: keyward.Duration(time.Second)}},
	})
	guard := httpauth.New(e.svc, nil)(okHandler)
	rec := serve(guard, bearerRequest(iss.Secret))
	if rec.Code != 200 {
		t.Fatalf("first request: %d", rec.Code)
	}
	wantPolicy := `"key";q=50;w=60, "burst";q=2;w=1, "owner.daily";q=100;w=86400`
	if got := rec.Header().Get("RateLimit-Policy"); got != wantPolicy {
		t.Errorf("RateLimit-Policy = %q, want %q", got, wantPolicy)
	}
	if got := rec.Header().Get("RateLimit"); got != `"burst";r=1;t=1` {
		t.Errorf("RateLimit = %q, want the burst limit (fewest left)", got)
	}
	serve(guard, bearerRequest(iss.Secret))
	rec = serve(guard, bearerRequest(iss.Secret))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("burst spent: %d, Retry-After %q; want 429, 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := rec.Header().Get("RateLimit-Policy"); got != wantPolicy {
		t.Errorf("429 RateLimit-Policy = %q", got)
	}
}

// TestScopeQueryAndRolesInTheMiddleware: the middleware's scope query and
// RequireScopes both see the scopes a key has through its roles.
func TestScopeQueryAndRolesInTheMiddleware(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, _, err := e.svc.PutRole(ctx, "billing", keyward.RoleParams{Scopes: []string{"billing:*"}}); err != nil {
		t.Fatal(err)
	}
	iss := e.create(t, keyward.CreateParams{Scopes: []string{"invoices:read"}, Roles: []string{"billing"}})
	q, err := keyward.ParseScopeQuery("invoices:read and (invoices:write or billing:admin)")
	if err != nil {
		t.Fatal(err)
	}
	guard := httpauth.New(e.svc, &httpauth.Options{ScopeQuery: q})
	if rec := serve(guard(httpauth.RequireScopes("billing:export")(okHandler)), bearerRequest(iss.Secret)); rec.Code != 200 {
		t.Errorf("query and per-route scope granted through a role: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(guard(httpauth.RequireScopes("reports:read")(okHandler)), bearerRequest(iss.Secret)); rec.Code != 403 {
		t.Errorf("per-route scope granted by nobody: %d", rec.Code)
	}
	other := e.create(t, keyward.CreateParams{Scopes: []string{"invoices:read"}})
	rec := serve(guard(okHandler), bearerRequest(other.Secret))
	want := `Bearer realm="keyward", error="insufficient_scope", scope="invoices:write"`
	if rec.Code != 403 || rec.Header().Get("WWW-Authenticate") != want {
		t.Errorf("query not satisfied: %d %q; want 403 naming invoices:write", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}
