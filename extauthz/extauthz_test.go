package extauthz_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/extauthz"
)

// contractCase is one outcome of the contract: what the key and request
// are, and the answer both /v1/auth and the gRPC Check must give.
type contractCase struct {
	name   string
	code   string // X-Keyward-Code; "" for VALID
	status int
	grpc   codes.Code
	setup  func(t *testing.T, e *env) call
}

// anHour is the period and lifetime of the keys of contractCases.
var anHour = keyward.Duration(time.Hour)

// contractCases are the outcomes TestGRPCCheckAnswersAsV1Auth asks about,
// each with the setup that makes a key and a request answered so.
var contractCases = []contractCase{
	{name: "MISSING", code: "MISSING", status: 401, grpc: codes.Unauthenticated, setup: func(t *testing.T, e *env) call {
		return call{headers: map[string]string{"authorization": "Basic dXNlcjpwYXNz"}}
	}},
	{name: "MALFORMED", code: "MALFORMED", status: 401, grpc: codes.Unauthenticated, setup: func(t *testing.T, e *env) call {
		return call{headers: bearer("not-a-key")}
	}},
	{name: "NOT_FOUND", code: "NOT_FOUND", status: 401, grpc: codes.Unauthenticated, setup: func(t *testing.T, e *env) call {
		return call{headers: bearer(unknownKey())}
	}},
	{name: "NOT_FOUND, wrong secret", code: "NOT_FOUND", status: 401, grpc: codes.Unauthenticated, setup: func(t *testing.T, e *env) call {
		tok, _ := keyward.Parse(e.create(t, keyward.CreateParams{}).Secret)
		tok.Secret = strings.Repeat("y", keyward.SecretLength)
		return call{headers: bearer(tok.String())}
	}},
	{name: "REVOKED", code: "REVOKED", status: 401, grpc: codes.Unauthenticated, setup: func(t *testing.T, e *env) call {
		iss := e.create(t, keyward.CreateParams{})
		if _, err := e.svc.Revoke(context.Background(), iss.Key.ID); err != nil {
			t.Fatal(err)
		}
		return call{headers: bearer(iss.Secret)}
	}},
	{name: "EXPIRED", code: "EXPIRED", status: 401, grpc: codes.Unauthenticated, setup: func(t *testing.T, e *env) call {
		iss := e.create(t, keyward.CreateParams{ExpiresIn: &anHour})
		e.clock.Add(2 * time.Hour)
		return call{headers: bearer(iss.Secret)}
	}},
	{name: "DISABLED", code: "DISABLED", status: 401, grpc: codes.Unauthenticated, setup: func(t *testing.T, e *env) call {
		return call{headers: map[string]string{"x-api-key": e.create(t, keyward.CreateParams{Enabled: keyward.Ptr(false)}).Secret}}
	}},
	{name: "FORBIDDEN_ADDRESS", code: "FORBIDDEN_ADDRESS", status: 403, grpc: codes.PermissionDenied, setup: func(t *testing.T, e *env) call {
		return call{headers: bearer(e.create(t, keyward.CreateParams{AllowedCIDRs: []string{"10.0.0.0/8"}}).Secret)}
	}},
	{name: "INSUFFICIENT_SCOPE", code: "INSUFFICIENT_SCOPE", status: 403, grpc: codes.PermissionDenied, setup: func(t *testing.T, e *env) call {
		iss := e.create(t, keyward.CreateParams{Scopes: []string{"invoices:read"}})
		return call{headers: bearer(iss.Secret), ext: map[string]string{"scopes": "invoices:read, invoices:write"}}
	}},
	{name: "RATE_LIMITED", code: "RATE_LIMITED", status: 429, grpc: codes.ResourceExhausted, setup: func(t *testing.T, e *env) call {
		iss := e.create(t, keyward.CreateParams{RateLimit: &keyward.RateLimit{Limit: 1, Period: anHour}})
		spend(t, e, iss.Secret)
		return call{headers: bearer(iss.Secret)}
	}},
	{name: "RATE_LIMITED, key and owner limits", code: "RATE_LIMITED", status: 429, grpc: codes.ResourceExhausted, setup: func(t *testing.T, e *env) call {
		iss := keyWithThreeLimits(t, e)
		spend(t, e, iss.Secret)
		spend(t, e, iss.Secret) // the burst limit (2/s) is spent
		return call{headers: bearer(iss.Secret)}
	}},
	{name: "USAGE_EXCEEDED", code: "USAGE_EXCEEDED", status: 429, grpc: codes.ResourceExhausted, setup: func(t *testing.T, e *env) call {
		iss := e.create(t, keyward.CreateParams{Remaining: keyward.Ptr[int64](0), Refill: &keyward.Refill{Interval: "daily", Amount: 10}})
		return call{headers: bearer(iss.Secret)}
	}},
	{name: "USAGE_EXCEEDED, no refill", code: "USAGE_EXCEEDED", status: 429, grpc: codes.ResourceExhausted, setup: func(t *testing.T, e *env) call {
		return call{headers: bearer(e.create(t, keyward.CreateParams{Remaining: keyward.Ptr[int64](0)}).Secret)}
	}},
	{name: "UNAVAILABLE", code: "UNAVAILABLE", status: 503, grpc: codes.Unavailable, setup: func(t *testing.T, e *env) call {
		iss := e.create(t, keyward.CreateParams{})
		e.store.down.Store(true)
		return call{headers: bearer(iss.Secret)}
	}},
	{name: "VALID", status: 200, grpc: codes.OK, setup: func(t *testing.T, e *env) call {
		iss := e.create(t, keyward.CreateParams{Owner: "acme", Scopes: []string{"invoices:read", "invoices:write"}, AllowedCIDRs: []string{"127.0.0.0/8"}})
		return call{headers: bearer(iss.Secret), ext: map[string]string{"scopes": "invoices:read"}}
	}},
	{name: "VALID, no owner", status: 200, grpc: codes.OK, setup: func(t *testing.T, e *env) call {
		return call{headers: map[string]string{"x-api-key": e.create(t, keyward.CreateParams{}).Secret}}
	}},
	{name: "VALID, key and owner limits, cost 0", status: 200, grpc: codes.OK, setup: func(t *testing.T, e *env) call {
		iss := keyWithThreeLimits(t, e)
		spend(t, e, iss.Secret)
		return call{headers: bearer(iss.Secret), ext: map[string]string{"cost": "0"}}
	}},
}

// TestGRPCCheckAnswersAsV1Auth asks /v1/auth and the gRPC Check about the
// same key and the same request, on one Service, for every outcome of the
// contract: status, headers and body must be the same, and the gRPC status
// must say OK only for a key that passes.
func TestGRPCCheckAnswersAsV1Auth(t *testing.T) {
	for _, tc := range contractCases {
		t.Run(tc.name, func(t *testing.T) { checkAnswersAsV1Auth(t, tc) })
	}
}

// checkAnswersAsV1Auth sets tc up on a new Service and checks that the gRPC
// Check answers with tc's gRPC status, message, HTTP status, X-Keyward-Code
// and body code, and the same answer as /v1/auth.
func checkAnswersAsV1Auth(t *testing.T, tc contractCase) {
	t.Helper()
	e := newEnv(t, envOptions{})
	c := tc.setup(t, e)
	resp := e.check(t, c)
	if got := codes.Code(resp.GetStatus().GetCode()); got != tc.grpc {
		t.Errorf("gRPC status %v, want %v", got, tc.grpc)
	}
	if got := resp.GetStatus().GetMessage(); got != tc.code {
		t.Errorf("gRPC status message %q, want %q", got, tc.code)
	}
	g := toAnswer(t, resp)
	if g.status != tc.status {
		t.Errorf("HTTP status %d, want %d", g.status, tc.status)
	}
	if got := g.header.Get("X-Keyward-Code"); got != tc.code {
		t.Errorf("X-Keyward-Code %q, want %q", got, tc.code)
	}
	if tc.code != "" && !strings.Contains(g.body, `"code":"`+tc.code+`"`) {
		t.Errorf("body does not carry the code: %s", g.body)
	}
	sameAnswer(t, e.viaHTTP(t, c), g)
}

// keyWithThreeLimits creates a key with its rate_limit (50/min) and a burst
// limit (2/s), whose owner has a daily limit (100/day).
func keyWithThreeLimits(t *testing.T, e *env) keyward.Issued {
	t.Helper()
	if _, _, err := e.svc.PutOwner(context.Background(), "acme", keyward.OwnerParams{
		RateLimits: []keyward.NamedRateLimit{{Name: "daily", Limit: 100, Period: keyward.Duration(24 * time.Hour)}},
	}); err != nil {
		t.Fatal(err)
	}
	return e.create(t, keyward.CreateParams{
		Owner:      "acme",
		RateLimit:  &keyward.RateLimit{Limit: 50, Period: keyward.Duration(time.Minute)},
		RateLimits: []keyward.NamedRateLimit{{Name: "burst", Limit: 2, Period: keyward.Duration(time.Second)}},
	})
}

// spend verifies key once on the Service, spending a unit.
func spend(t *testing.T, e *env, key string) {
	t.Helper()
	if _, err := e.svc.Verify(context.Background(), keyward.VerifyRequest{Key: key}); err != nil {
		t.Fatal(err)
	}
}

// TestGRPCThreePoliciesAndOneLimiter: a key with two limits and an owner
// with one shows the three policies on the Check's OK answer
// (response_headers_to_add, for the client) and on its 429; the Check
// and /v1/auth spend from the same counters.
func TestGRPCThreePoliciesAndOneLimiter(t *testing.T) {
	e := newEnv(t, envOptions{})
	iss := keyWithThreeLimits(t, e)
	c := call{headers: bearer(iss.Secret)}
	const policy = `"key";q=50;w=60, "burst";q=2;w=1, "owner.daily";q=100;w=86400`

	resp := e.check(t, c)
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("first check: %v", resp)
	}
	client := http.Header{}
	for _, o := range ok.GetResponseHeadersToAdd() {
		client.Add(o.GetHeader().GetKey(), o.GetHeader().GetValue())
	}
	if got := client.Get("RateLimit-Policy"); got != policy {
		t.Errorf("RateLimit-Policy for the client %q, want %q", got, policy)
	}
	if got := client.Get("RateLimit"); got != `"burst";r=1;t=1` {
		t.Errorf("RateLimit for the client %q, want the burst limit with 1 left", got)
	}
	for _, o := range ok.GetHeaders() {
		if strings.HasPrefix(o.GetHeader().GetKey(), "ratelimit") {
			t.Errorf("rate-limit header %s sent to the upstream; it is for the client", o.GetHeader().GetKey())
		}
	}

	// /v1/auth spends the burst's second unit: the Check sees it spent.
	if a := e.viaHTTP(t, c); a.status != 200 || a.header.Get("RateLimit") != `"burst";r=0;t=1` {
		t.Fatalf("/v1/auth after one check: %d, RateLimit %q", a.status, a.header.Get("RateLimit"))
	}
	a := e.viaGRPC(t, c)
	if a.status != 429 || a.header.Get("Retry-After") != "1" || a.header.Get("RateLimit-Policy") != policy {
		t.Errorf("check after the burst: %d, Retry-After %q, RateLimit-Policy %q; want 429, 1, the three policies",
			a.status, a.header.Get("Retry-After"), a.header.Get("RateLimit-Policy"))
	}
}

// TestGRPCUpstreamHeaders: the OK answer overwrites the X-Keyward-*
// headers a client may have sent (an empty owner included), and lists the
// key's effective scopes, its roles' too.
func TestGRPCUpstreamHeaders(t *testing.T) {
	e := newEnv(t, envOptions{})
	if _, _, err := e.svc.PutRole(context.Background(), "billing", keyward.RoleParams{Scopes: []string{"billing:*"}}); err != nil {
		t.Fatal(err)
	}
	iss := e.create(t, keyward.CreateParams{Scopes: []string{"invoices:read"}, Roles: []string{"billing"}})
	resp := e.check(t, call{headers: map[string]string{"authorization": "Bearer " + iss.Secret, "x-keyward-owner": "forged"}})
	want := map[string]string{"x-keyward-key-id": iss.Key.ID, "x-keyward-owner": "", "x-keyward-scopes": "invoices:read billing:*"}
	got := resp.GetOkResponse().GetHeaders()
	if len(got) != len(want) {
		t.Fatalf("%d upstream headers, want %d: %v", len(got), len(want), got)
	}
	for _, o := range got {
		k := o.GetHeader().GetKey()
		if w, ok := want[k]; !ok || o.GetHeader().GetValue() != w {
			t.Errorf("upstream header %s: %q, want %q", k, o.GetHeader().GetValue(), w)
		}
		if o.GetAppendAction().String() != "OVERWRITE_IF_EXISTS_OR_ADD" || !o.GetKeepEmptyValue() {
			t.Errorf("upstream header %s: action %v, keep empty %v; want overwrite, kept even when empty", k, o.GetAppendAction(), o.GetKeepEmptyValue())
		}
	}
}

// TestGRPCScopeQuery: scope_query from the context extensions holds as on
// every face: the first name not granted is reported; granted through a
// role, it passes.
func TestGRPCScopeQuery(t *testing.T) {
	e := newEnv(t, envOptions{})
	if _, _, err := e.svc.PutRole(context.Background(), "billing", keyward.RoleParams{Scopes: []string{"billing:*"}}); err != nil {
		t.Fatal(err)
	}
	reader := e.create(t, keyward.CreateParams{Scopes: []string{"invoices:read"}})
	biller := e.create(t, keyward.CreateParams{Scopes: []string{"invoices:read"}, Roles: []string{"billing"}})
	ext := map[string]string{"scope_query": "invoices:read and (invoices:write or billing:admin)"}

	a := e.viaGRPC(t, call{headers: bearer(reader.Secret), ext: ext})
	if a.status != 403 || a.header.Get("Www-Authenticate") != `Bearer realm="keyward", error="insufficient_scope", scope="invoices:write"` {
		t.Errorf("reader: %d, WWW-Authenticate %q; want 403 naming invoices:write", a.status, a.header.Get("Www-Authenticate"))
	}
	if a := e.viaGRPC(t, call{headers: bearer(biller.Secret), ext: ext}); a.status != 200 {
		t.Errorf("key with the billing role: %d %s, want 200", a.status, a.body)
	}
}

// TestGRPCBadContextExtensions: a route whose context extensions break a
// rule is answered 422 VALIDATION_FAILED naming the extension, as /v1/auth
// answers a bad query parameter, and is logged; a request without a key is
// still 401 MISSING first, as on /v1/auth.
func TestGRPCBadContextExtensions(t *testing.T) {
	var logs strings.Builder
	e := newEnv(t, envOptions{authz: &extauthz.Options{Logger: newLogger(&logs)}})
	iss := e.create(t, keyward.CreateParams{})
	for _, tc := range []struct {
		ext      map[string]string
		location string
		message  string
	}{
		{ext: map[string]string{"cost": "-1"}, location: "context_extensions.cost", message: "must be an integer of at least 0"},
		{ext: map[string]string{"cost": "one"}, location: "context_extensions.cost", message: "must be an integer of at least 0"},
		{ext: map[string]string{"scope_query": "a and (b or"}, location: "context_extensions.scope_query", message: "at position"},
	} {
		a := e.viaGRPC(t, call{headers: bearer(iss.Secret), ext: tc.ext})
		if a.status != 422 || a.header.Get("X-Keyward-Code") != "VALIDATION_FAILED" || a.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%v: %d, code %q, type %q; want 422 VALIDATION_FAILED problem+json", tc.ext, a.status, a.header.Get("X-Keyward-Code"), a.header.Get("Content-Type"))
		}
		if !strings.Contains(a.body, `"location":"`+tc.location+`"`) || !strings.Contains(a.body, tc.message) {
			t.Errorf("%v: body %s does not name %s: %s", tc.ext, a.body, tc.location, tc.message)
		}
		if !strings.Contains(logs.String(), tc.location) {
			t.Errorf("%v: not logged: %s", tc.ext, logs.String())
		}
		if a := e.viaGRPC(t, call{ext: tc.ext}); a.status != 401 || a.header.Get("X-Keyward-Code") != "MISSING" {
			t.Errorf("%v without a key: %d %q, want 401 MISSING", tc.ext, a.status, a.header.Get("X-Keyward-Code"))
		}
	}
	if strings.Contains(logs.String(), iss.Secret) {
		t.Error("the log holds the key")
	}
}
