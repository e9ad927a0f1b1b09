package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/httpauth"
)

func TestRoles(t *testing.T) {
	_, c := inProcess(t)
	ctx := context.Background()
	r, created, err := c.PutRole(ctx, "reader", keyward.RoleParams{Description: "read only", Scopes: []string{"docs:read"}})
	if err != nil || !created || r.Name != "reader" || !slices.Equal(r.Scopes, []string{"docs:read"}) {
		t.Fatalf("PutRole: %+v %v %v", r, created, err)
	}
	if _, created, err = c.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"docs:*"}}); err != nil || created {
		t.Errorf("PutRole again: created %v, %v; want a replacement", created, err)
	}
	if r, err = c.GetRole(ctx, "reader"); err != nil || !slices.Equal(r.Scopes, []string{"docs:*"}) || r.Description != "" {
		t.Errorf("GetRole: %+v %v", r, err)
	}
	c.PutRole(ctx, "writer", keyward.RoleParams{})
	page, err := c.ListRoles(ctx, keyward.NameListParams{Limit: 1})
	if err != nil || len(page.Items) != 1 || page.Items[0].Name != "reader" || page.NextCursor == "" {
		t.Fatalf("ListRoles: %+v %v", page, err)
	}
	if page, err = c.ListRoles(ctx, keyward.NameListParams{Cursor: page.NextCursor}); err != nil || len(page.Items) != 1 || page.Items[0].Name != "writer" {
		t.Errorf("ListRoles, second page: %+v %v", page, err)
	}
	if _, err := c.CreateKey(ctx, keyward.CreateParams{Name: "k", Roles: []string{"reader"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteRole(ctx, "reader"); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("DeleteRole of a role in use: %v, want ErrConflict", err)
	}
	if err := c.DeleteRole(ctx, "writer"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRole(ctx, "writer"); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("GetRole after delete: %v, want ErrNotFound", err)
	}
	if _, _, err := c.PutRole(ctx, "Bad Name", keyward.RoleParams{}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("PutRole with a bad name: %v, want ErrInvalid", err)
	}
}

func TestOwners(t *testing.T) {
	svc, c := inProcess(t)
	ctx := context.Background()
	names := []string{"acme corp", "a/b", "société 東京", "50%", ".", ".."}
	for _, name := range names {
		o, created, err := c.PutOwner(ctx, name, keyward.OwnerParams{Remaining: keyward.Ptr[int64](10)})
		if err != nil || !created || o.Name != name || *o.Remaining != 10 {
			t.Fatalf("PutOwner(%q): %+v %v %v", name, o, created, err)
		}
		if o, err = c.GetOwner(ctx, name); err != nil || o.Name != name {
			t.Errorf("GetOwner(%q): %+v %v", name, o, err)
		}
	}
	if _, created, err := c.PutOwner(ctx, "a/b", keyward.OwnerParams{Metadata: json.RawMessage(`{"x":1}`)}); err != nil || created {
		t.Errorf("PutOwner again: created %v, %v", created, err)
	}
	o, err := c.UpdateOwner(ctx, "acme corp", keyward.OwnerUpdate{Remaining: keyward.SetTo[int64](100)})
	if err != nil || *o.Remaining != 100 {
		t.Errorf("UpdateOwner: %+v %v", o, err)
	}
	if _, err := c.UpdateOwner(ctx, "nobody", keyward.OwnerUpdate{Remaining: keyward.SetTo[int64](1)}); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("UpdateOwner of no record: %v, want ErrNotFound", err)
	}
	var listed []string
	for p := (keyward.NameListParams{Limit: 3}); ; {
		page, err := c.ListOwners(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Items {
			listed = append(listed, o.Name)
		}
		if p.Cursor = page.NextCursor; p.Cursor == "" {
			break
		}
	}
	if want := []string{".", "..", "50%", "a/b", "acme corp", "société 東京"}; !slices.Equal(listed, want) {
		t.Errorf("ListOwners: %v, want %v", listed, want)
	}
	iss, err := c.CreateKey(ctx, keyward.CreateParams{Name: "k", Owner: "a/b"})
	if err != nil {
		t.Fatal(err)
	}
	c.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
	svc.FlushUsage(ctx)
	rep, err := c.OwnerUsage(ctx, keyward.UsageParams{Owner: "a/b", Bucket: keyward.BucketMinute})
	if err != nil || rep.Owner != "a/b" || rep.Totals["VALID"] != 1 {
		t.Errorf("OwnerUsage: %+v %v", rep, err)
	}
	if _, err := c.OwnerUsage(ctx, keyward.UsageParams{Owner: "nobody"}); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("OwnerUsage of no owner: %v, want ErrNotFound", err)
	}
	if err := c.DeleteOwner(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetOwner(ctx, "a/b"); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("GetOwner after delete: %v, want ErrNotFound", err)
	}
}

// meteredKey makes a key with a role, two limits and an owner with a shared
// limit and credits.
func meteredKey(t *testing.T, c *client.Client) keyward.Issued {
	t.Helper()
	ctx := context.Background()
	if _, _, err := c.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"docs:read"}}); err != nil {
		t.Fatal(err)
	}
	daily := keyward.NamedRateLimit{Name: "daily", Limit: 1000, Period: keyward.Duration(24 * time.Hour)}
	if _, _, err := c.PutOwner(ctx, "acme", keyward.OwnerParams{RateLimits: []keyward.NamedRateLimit{daily}, Remaining: keyward.Ptr[int64](50)}); err != nil {
		t.Fatal(err)
	}
	iss, err := c.CreateKey(ctx, keyward.CreateParams{
		Name: "metered", Owner: "acme", Scopes: []string{"invoices:read"}, Roles: []string{"reader"},
		RateLimit:  &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Hour)},
		RateLimits: []keyward.NamedRateLimit{{Name: "burst", Limit: 5, Period: keyward.Duration(time.Minute)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(iss.Key.RateLimits) != 2 || !slices.Equal(iss.Key.Roles, []string{"reader"}) {
		t.Fatalf("created key: limits %+v, roles %v", iss.Key.RateLimits, iss.Key.Roles)
	}
	return iss
}

func TestVerifyReportsOwnerLimitsAndRoles(t *testing.T) {
	_, c := inProcess(t)
	ctx := context.Background()
	iss := meteredKey(t, c)
	q, _ := keyward.ParseScopeQuery("docs:read and (invoices:read or admin)")
	res, err := c.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret, ScopeQuery: q})
	if err != nil || !res.Valid() {
		t.Fatalf("Verify: %v %v", res.Outcome, err)
	}
	if got := res.EffectiveScopes(); !slices.Equal(got, []string{"invoices:read", "docs:read"}) {
		t.Errorf("EffectiveScopes %v", got)
	}
	if res.Owner == nil || res.Owner.Name != "acme" || res.OwnerRemaining != 49 {
		t.Errorf("owner %+v, remaining %d; want acme with 49", res.Owner, res.OwnerRemaining)
	}
	type state struct {
		name        string
		owner       bool
		limit, left int64
		period      time.Duration
	}
	var got []state
	for _, l := range res.RateLimits() {
		got = append(got, state{l.Name, l.Owner, l.Limit, l.Remaining, l.Period})
	}
	want := []state{{"default", false, 100, 99, time.Hour}, {"burst", false, 5, 4, time.Minute}, {"daily", true, 1000, 999, 24 * time.Hour}}
	if !slices.Equal(got, want) {
		t.Errorf("RateLimits %+v, want %+v", got, want)
	}
	if res.RateLimit.Limit != 5 || res.RateLimit.Remaining != 4 || res.RateLimit.Period != time.Minute {
		t.Errorf("RateLimit %+v, want the burst limit", res.RateLimit)
	}
	q, _ = keyward.ParseScopeQuery("admin or billing:read")
	if res, err = c.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret, ScopeQuery: q}); err != nil || res.Outcome != keyward.OutcomeInsufficientScope || res.MissingScope != "admin" {
		t.Errorf("a query that fails: %v %q %v", res.Outcome, res.MissingScope, err)
	}
}

// TestVerifierKeysOnTheScopeQuery: a cached answer for one query is not
// reused for another, and the answers of a key whose owner has limits and
// credits are never reused, even when the key has none of its own.
func TestVerifierKeysOnTheScopeQuery(t *testing.T) {
	_, c := inProcess(t)
	ctx := context.Background()
	if _, _, err := c.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"docs:read"}}); err != nil {
		t.Fatal(err)
	}
	plain, err := c.CreateKey(ctx, keyward.CreateParams{Name: "plain", Roles: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := client.NewVerifier(c, nil)
	pass, _ := keyward.ParseScopeQuery("docs:read or admin")
	fail, _ := keyward.ParseScopeQuery("admin or billing")
	if res, err := v.Verify(ctx, keyward.VerifyRequest{Key: plain.Secret, ScopeQuery: pass}); err != nil || !res.Valid() {
		t.Fatalf("a query the role satisfies: %v %v", res.Outcome, err)
	}
	if res, err := v.Verify(ctx, keyward.VerifyRequest{Key: plain.Secret, ScopeQuery: fail}); err != nil || res.Outcome != keyward.OutcomeInsufficientScope {
		t.Errorf("another query after a cached VALID: %v %v, want INSUFFICIENT_SCOPE", res.Outcome, err)
	}
	meteredKey(t, c) // makes owner acme, with a shared limit and credits
	owned, err := c.CreateKey(ctx, keyward.CreateParams{Name: "no limit of its own", Owner: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	var left []int64
	for range 3 {
		res, err := v.Verify(ctx, keyward.VerifyRequest{Key: owned.Secret})
		if err != nil || !res.Valid() {
			t.Fatalf("key of a metered owner: %v %v", res.Outcome, err)
		}
		left = append(left, res.OwnerRemaining)
	}
	if !slices.Equal(left, []int64{49, 48, 47}) {
		t.Errorf("owner credits through the Verifier: %v, want each request spent on the server", left)
	}
}

// TestVerifierHeadersCarryEveryLimit: httpauth on the remote Verifier
// names every limit of the key and its owner, with their windows.
func TestVerifierHeadersCarryEveryLimit(t *testing.T) {
	_, c := inProcess(t)
	iss := meteredKey(t, c)
	v, _ := client.NewVerifier(c, nil)
	q, _ := keyward.ParseScopeQuery("docs:read")
	h := httpauth.New(v, &httpauth.Options{ScopeQuery: q})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-API-Key", iss.Secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	const policy = `"key";q=100;w=3600, "burst";q=5;w=60, "owner.daily";q=1000;w=86400`
	if rec.Code != 200 || rec.Header().Get("RateLimit-Policy") != policy || !strings.HasPrefix(rec.Header().Get("RateLimit"), `"burst";r=4;t=`) {
		t.Errorf("%d, RateLimit-Policy %q, RateLimit %q; want 200, %q and the burst limit", rec.Code,
			rec.Header().Get("RateLimit-Policy"), rec.Header().Get("RateLimit"), policy)
	}
}
