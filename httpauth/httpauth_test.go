package httpauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/store/memory"
)

const problemType = "application/problem+json"

// checkProblem checks an RFC 9457 body: exactly the members type, title,
// status, detail and code, with the values the contract gives.
func checkProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string, secrets ...string) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != problemType {
		t.Errorf("Content-Type %q, want %q", ct, problemType)
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	if got, want := slices.Sorted(maps.Keys(doc)), []string{"code", "detail", "status", "title", "type"}; !slices.Equal(got, want) {
		t.Errorf("body members %v, want %v", got, want)
	}
	if doc["type"] != "about:blank" || doc["title"] != http.StatusText(status) ||
		doc["status"] != float64(status) || doc["code"] != code {
		t.Errorf("body %s, want type about:blank, title %q, status %d, code %s", rec.Body, http.StatusText(status), status, code)
	}
	if d, _ := doc["detail"].(string); d == "" {
		t.Errorf("detail %q, want a sentence", doc["detail"])
	}
	noSecrets(t, rec, secrets...)
}

// noSecrets fails if any of secrets appears in the response.
func noSecrets(t *testing.T, rec *httptest.ResponseRecorder, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(rec.Body.String(), s) {
			t.Errorf("the body contains a secret: %s", rec.Body)
		}
		for name, vs := range rec.Header() {
			for _, v := range vs {
				if strings.Contains(v, s) {
					t.Errorf("header %s contains a secret: %q", name, v)
				}
			}
		}
	}
}

// failingStore is a store that cannot be reached.
type failingStore struct{ keyward.Store }

func (failingStore) Get(context.Context, string) (*keyward.Key, error) {
	return nil, fmt.Errorf("dial tcp 10.0.0.5:5432: connection refused: %w", keyward.ErrUnavailable)
}

// A rejectionSetup runs on a fresh env, with the clock at base, and returns
// the request to send and the secret it holds ("" for none).
type rejectionSetup func(t *testing.T, e *env) (req *http.Request, secret string)

// rejectionCase is a request that the middleware must reject, and the
// response it must get.
type rejectionCase struct {
	name   string
	opts   *httpauth.Options
	req    rejectionSetup
	status int
	header http.Header // every header of the response, exactly
}

// withKey is the setup that creates a key with p, runs before (when not nil)
// and presents the key's secret.
func withKey(p keyward.CreateParams, before func(t *testing.T, e *env, iss keyward.Issued)) rejectionSetup {
	return func(t *testing.T, e *env) (*http.Request, string) {
		iss := e.create(t, p)
		if before != nil {
			before(t, e, iss)
		}
		return bearerRequest(iss.Secret), iss.Secret
	}
}

const invalidToken = `Bearer realm="keyward", error="invalid_token"`

var rejectionCases = []rejectionCase{
	{
		name: "no key",
		req: func(t *testing.T, _ *env) (*http.Request, string) {
			return httptest.NewRequest(http.MethodGet, "/things", nil), ""
		},
		status: 401,
		header: http.Header{"X-Keyward-Code": {"MISSING"}, "Www-Authenticate": {`Bearer realm="keyward"`}},
	},
	{
		name: "malformed",
		req: func(t *testing.T, _ *env) (*http.Request, string) {
			return bearerRequest("kw_not-a-key"), "kw_not-a-key"
		},
		status: 401,
		header: http.Header{"X-Keyward-Code": {"MALFORMED"}, "Www-Authenticate": {invalidToken}},
	},
	{
		name: "unknown id",
		req: func(t *testing.T, _ *env) (*http.Request, string) {
			tok, err := keyward.NewToken("kw")
			if err != nil {
				t.Fatal(err)
			}
			return bearerRequest(tok.String()), tok.String()
		},
		status: 401,
		header: http.Header{"X-Keyward-Code": {"NOT_FOUND"}, "Www-Authenticate": {invalidToken}},
	},
	{
		name: "revoked",
		req: withKey(keyward.CreateParams{}, func(t *testing.T, e *env, iss keyward.Issued) {
			if _, err := e.svc.Revoke(context.Background(), iss.Key.ID); err != nil {
				t.Fatal(err)
			}
		}),
		status: 401,
		header: http.Header{"X-Keyward-Code": {"REVOKED"}, "Www-Authenticate": {invalidToken}},
	},
	{
		name: "expired",
		req: withKey(keyward.CreateParams{ExpiresIn: keyward.Ptr(keyward.Duration(time.Second))}, func(t *testing.T, e *env, _ keyward.Issued) {
			e.clock.Add(2 * time.Second)
		}),
		status: 401,
		header: http.Header{"X-Keyward-Code": {"EXPIRED"}, "Www-Authenticate": {invalidToken}},
	},
	{
		name:   "disabled",
		req:    withKey(keyward.CreateParams{Enabled: keyward.Ptr(false)}, nil),
		status: 401,
		header: http.Header{"X-Keyward-Code": {"DISABLED"}, "Www-Authenticate": {invalidToken}},
	},
	{
		name:   "address outside allowed_cidrs",
		req:    withKey(keyward.CreateParams{AllowedCIDRs: []string{"10.0.0.0/8"}}, nil), // httptest's peer is 192.0.2.1
		status: 403,
		header: http.Header{"X-Keyward-Code": {"FORBIDDEN_ADDRESS"}},
	},
	{
		name:   "scope not granted",
		opts:   &httpauth.Options{Scopes: []string{"invoices:read", "invoices:write"}},
		req:    withKey(keyward.CreateParams{Scopes: []string{"invoices:read"}}, nil),
		status: 403,
		header: http.Header{
			"X-Keyward-Code":   {"INSUFFICIENT_SCOPE"},
			"Www-Authenticate": {`Bearer realm="keyward", error="insufficient_scope", scope="invoices:write"`},
		},
	},
	{
		// Two units spent at base; the third request comes 10.3 s later.
		// Both units were spent at base; they return when they leave the
		// 60 s window, at base+60s: 49.7 s later, rounded up to 50 (never
		// more than the period).
		name: "rate limited",
		req: withKey(keyward.CreateParams{RateLimit: &keyward.RateLimit{Limit: 2, Period: keyward.Duration(time.Minute)}}, func(t *testing.T, e *env, iss keyward.Issued) {
			for range 2 {
				if rec := serve(httpauth.New(e.svc, nil)(okHandler), bearerRequest(iss.Secret)); rec.Code != 200 {
					t.Fatalf("spending the limit: %d", rec.Code)
				}
			}
			e.clock.Add(10*time.Second + 300*time.Millisecond)
		}),
		status: 429,
		header: http.Header{
			"X-Keyward-Code":   {"RATE_LIMITED"},
			"Retry-After":      {"50"},
			"Ratelimit-Policy": {`"key";q=2;w=60`},
			"Ratelimit":        {`"key";r=0;t=50`},
		},
	},
	{
		name:   "credits spent, no refill",
		req:    withKey(keyward.CreateParams{Remaining: keyward.Ptr[int64](0)}, nil),
		status: 429,
		header: http.Header{"X-Keyward-Code": {"USAGE_EXCEEDED"}},
	},
	{
		// The daily refill comes at midnight UTC, 13.5 h after base; the
		// clock is half a second past base: 48599.5 s rounded up.
		name: "credits spent, daily refill",
		req: withKey(keyward.CreateParams{Remaining: keyward.Ptr[int64](0), Refill: &keyward.Refill{Interval: keyward.RefillDaily, Amount: 10}}, func(t *testing.T, e *env, _ keyward.Issued) {
			e.clock.Add(500 * time.Millisecond)
		}),
		status: 429,
		header: http.Header{"X-Keyward-Code": {"USAGE_EXCEEDED"}, "Retry-After": {"48600"}},
	},
	{
		// The rate-limit unit taken before the credit check is given
		// back: the budget is full again (the Service reports the reset
		// time of the unit it took).
		name:   "credits spent on a rate-limited key",
		req:    withKey(keyward.CreateParams{Remaining: keyward.Ptr[int64](0), RateLimit: &keyward.RateLimit{Limit: 10, Period: keyward.Duration(time.Minute)}}, nil),
		status: 429,
		header: http.Header{
			"X-Keyward-Code":   {"USAGE_EXCEEDED"},
			"Ratelimit-Policy": {`"key";q=10;w=60`},
			"Ratelimit":        {`"key";r=10;t=0`},
		},
	},
}

func TestRejections(t *testing.T) {
	for _, tc := range rejectionCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			req, secret := tc.req(t, e)
			reached := false
			next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true })
			rec := serve(httpauth.New(e.svc, tc.opts)(next), req)
			if reached {
				t.Fatal("the request reached the guarded handler")
			}
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			want := tc.header.Clone()
			want.Set("Content-Type", problemType)
			if got := rec.Header(); !equalHeaders(got, want) {
				t.Errorf("headers\n got %v\nwant %v", got, want)
			}
			checkProblem(t, rec, tc.status, tc.header.Get("X-Keyward-Code"), secret)
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	return maps.EqualFunc(a, b, slices.Equal)
}

func TestUnavailable(t *testing.T) {
	c := testkit.NewClock(base)
	down := newService(t, failingStore{memory.New()}, c.Now)
	tok, err := keyward.NewToken("kw")
	if err != nil {
		t.Fatal(err)
	}
	key := tok.String()
	cases := []struct {
		name string
		v    httpauth.Verifier
	}{
		{"store unreachable", down},
		{"verifier error quoting the key", stubVerifier{err: fmt.Errorf("backend rejected %q (secret %s): %w", key, tok.Secret, keyward.ErrUnavailable)}},
		{"VALID without a key", stubVerifier{res: keyward.Result{Outcome: keyward.OutcomeValid}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			// The key in the query (allowed), and in the path too, as a careless
			// client may put it: the path is logged redacted, the query not at all.
			req := httptest.NewRequest(http.MethodGet, "/things/"+key+"?api_key="+key, nil)
			rec := serve(httpauth.New(tc.v, &httpauth.Options{Logger: log, AllowQueryKey: true})(okHandler), req)
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", rec.Code)
			}
			want := http.Header{"Content-Type": {problemType}, "X-Keyward-Code": {"UNAVAILABLE"}}
			if !equalHeaders(rec.Header(), want) {
				t.Errorf("headers %v, want %v", rec.Header(), want)
			}
			checkProblem(t, rec, http.StatusServiceUnavailable, "UNAVAILABLE", key, tok.Secret)
			out := logs.String()
			if !strings.Contains(out, "cannot verify key") || !strings.Contains(out, tok.ID) {
				t.Errorf("log %q does not report the error with the key id", out)
			}
			if strings.Contains(out, key) || strings.Contains(out, tok.Secret) || strings.Contains(out, tok.Secret[:20]) {
				t.Errorf("the log contains the key: %s", out)
			}
		})
	}
}

func TestSuccess(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		params keyward.CreateParams
		opts   *httpauth.Options
		header http.Header // headers the middleware adds, exactly
	}{
		{name: "no rate limit", header: http.Header{}},
		{
			// One unit taken at base, on a bucket boundary: it leaves the
			// window (11 buckets of 6 s) 66 s later.
			name:   "rate limit",
			params: keyward.CreateParams{RateLimit: &keyward.RateLimit{Limit: 5, Period: keyward.Duration(time.Minute)}},
			header: http.Header{"Ratelimit-Policy": {`"key";q=5;w=60`}, "Ratelimit": {`"key";r=4;t=60`}},
		},
		{
			name:   "rate limit with a cost",
			params: keyward.CreateParams{RateLimit: &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Hour)}},
			opts:   &httpauth.Options{Cost: keyward.Ptr[int64](7)},
			header: http.Header{"Ratelimit-Policy": {`"key";q=100;w=3600`}, "Ratelimit": {`"key";r=93;t=3600`}},
		},
		{
			name:   "scopes granted by a wildcard",
			params: keyward.CreateParams{Scopes: []string{"invoices:*"}},
			opts:   &httpauth.Options{Scopes: []string{"invoices:read", "invoices:write"}},
			header: http.Header{},
		},
		{
			name:   "credits",
			params: keyward.CreateParams{Remaining: keyward.Ptr[int64](3)},
			header: http.Header{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			iss := e.create(t, tc.params)
			var seen *keyward.Key
			var atNext http.Header
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen, _ = keyward.KeyFromContext(r.Context())
				atNext = w.Header().Clone()
				w.Write([]byte("ok"))
			})
			rec := serve(httpauth.New(e.svc, tc.opts)(next), bearerRequest(iss.Secret))
			if rec.Code != 200 || rec.Body.String() != "ok" {
				t.Fatalf("status %d body %q, want 200 ok", rec.Code, rec.Body)
			}
			if seen == nil || seen.ID != iss.Key.ID {
				t.Fatalf("key on the context %v, want %s", seen, iss.Key.ID)
			}
			if !equalHeaders(atNext, tc.header) {
				t.Errorf("headers set before the handler\n got %v\nwant %v", atNext, tc.header)
			}
			noSecrets(t, rec, iss.Secret)
		})
	}
}

func TestOptionsReachTheVerifier(t *testing.T) {
	v := &recordingVerifier{}
	scopes := []string{"a", "b"}
	cost := int64(3)
	h := httpauth.New(v, &httpauth.Options{
		Scopes:   scopes,
		Cost:     &cost,
		ClientIP: func(*http.Request) netip.Addr { return netip.MustParseAddr("198.51.100.7") },
	})(okHandler)
	scopes[0], cost = "changed", 99 // New copied them
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-API-Key", "the-key")
	if rec := serve(h, req); rec.Code != 200 || rec.Body.String() != "ok stub" {
		t.Fatalf("status %d body %q", rec.Code, rec.Body)
	}
	got, _ := v.Last()
	if got.Key != "the-key" || !slices.Equal(got.Scopes, []string{"a", "b"}) || got.Cost == nil || *got.Cost != 3 || got.ClientIP.String() != "198.51.100.7" {
		t.Errorf("verify request %+v (cost %v)", got, got.Cost)
	}

	h = httpauth.New(v, nil)(okHandler)
	serve(h, req)
	if got, _ := v.Last(); got.Cost != nil || got.Scopes != nil || got.ClientIP.String() != "192.0.2.1" {
		t.Errorf("defaults: verify request %+v, want nil cost and scopes, the peer address", got)
	}
}

func TestNewPanicsOnNegativeCost(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	httpauth.New(&recordingVerifier{}, &httpauth.Options{Cost: keyward.Ptr[int64](-1)})
}

func TestRequireScopes(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	mux.Handle("GET /invoices", httpauth.RequireScopes("invoices:read")(okHandler))
	mux.Handle("POST /invoices", httpauth.RequireScopes("invoices:read", "invoices:write")(okHandler))
	mux.Handle("GET /health", okHandler)
	guarded := httpauth.New(e.svc, nil)(mux)

	reader := e.create(t, keyward.CreateParams{Name: "reader", Scopes: []string{"invoices:read"},
		RateLimit: &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)}}).Secret
	writer := e.create(t, keyward.CreateParams{Name: "writer", Scopes: []string{"invoices:*"}}).Secret

	cases := []struct {
		name    string
		handler http.Handler
		method  string
		path    string
		key     string
		status  int
		header  http.Header // checked exactly for rejections
	}{
		{name: "scope granted", handler: guarded, method: "GET", path: "/invoices", key: reader, status: 200},
		{name: "wildcard grants both", handler: guarded, method: "POST", path: "/invoices", key: writer, status: 200},
		{name: "no scope needed", handler: guarded, method: "GET", path: "/health", key: reader, status: 200},
		{
			// New set the RateLimit headers of the reader's key before the
			// route rejected it: they belong on 2xx and 429 only.
			name: "second scope missing", handler: guarded, method: "POST", path: "/invoices", key: reader, status: 403,
			header: http.Header{
				"Content-Type":     {problemType},
				"X-Keyward-Code":   {"INSUFFICIENT_SCOPE"},
				"Www-Authenticate": {`Bearer realm="keyward", error="insufficient_scope", scope="invoices:write"`},
			},
		},
		{
			name: "without New", handler: mux, method: "GET", path: "/invoices", key: reader, status: 401,
			header: http.Header{
				"Content-Type":     {problemType},
				"X-Keyward-Code":   {"MISSING"},
				"Www-Authenticate": {`Bearer realm="keyward"`},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+tc.key)
			rec := serve(tc.handler, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Header().Get("X-Keyward-Code"), tc.status)
			}
			if tc.header == nil {
				return
			}
			if !equalHeaders(rec.Header(), tc.header) {
				t.Errorf("headers\n got %v\nwant %v", rec.Header(), tc.header)
			}
			checkProblem(t, rec, tc.status, tc.header.Get("X-Keyward-Code"), tc.key)
		})
	}
}

// TestWriteResult covers the writer on its own, as the /v1/auth endpoint
// uses it, with results the Service does not produce from a fixed clock.
func TestWriteResult(t *testing.T) {
	rl := keyward.RateDecision{Limit: 10, Period: 1500 * time.Millisecond, Remaining: 0, Reset: 200 * time.Millisecond, RetryAfter: 200 * time.Millisecond}
	cases := []struct {
		name   string
		res    keyward.Result
		passed bool
		status int
		header http.Header
	}{
		{
			name: "valid without rate limit", res: keyward.Result{Outcome: keyward.OutcomeValid, Key: &keyward.Key{}},
			passed: true, status: 200, header: http.Header{},
		},
		{
			name: "valid with rate limit, fractions round up", passed: true, status: 200,
			res:    keyward.Result{Outcome: keyward.OutcomeValid, Key: &keyward.Key{}, RateLimit: keyward.RateDecision{Allowed: true, Limit: 10, Period: 1500 * time.Millisecond, Remaining: 3, Reset: 1001 * time.Millisecond}},
			header: http.Header{"Ratelimit-Policy": {`"key";q=10;w=2`}, "Ratelimit": {`"key";r=3;t=2`}},
		},
		{
			name: "rate limited, 0.2 s is 1 s", status: 429,
			res: keyward.Result{Outcome: keyward.OutcomeRateLimited, RateLimit: rl, RetryAfter: rl.RetryAfter},
			header: http.Header{"Content-Type": {problemType}, "X-Keyward-Code": {"RATE_LIMITED"}, "Retry-After": {"1"},
				"Ratelimit-Policy": {`"key";q=10;w=2`}, "Ratelimit": {`"key";r=0;t=1`}},
		},
		{
			name: "usage exceeded without refill", status: 429,
			res:    keyward.Result{Outcome: keyward.OutcomeUsageExceeded, Remaining: 0},
			header: http.Header{"Content-Type": {problemType}, "X-Keyward-Code": {"USAGE_EXCEEDED"}},
		},
		{
			name: "usage exceeded, refill in 2 s exactly", status: 429,
			res:    keyward.Result{Outcome: keyward.OutcomeUsageExceeded, RetryAfter: 2 * time.Second},
			header: http.Header{"Content-Type": {problemType}, "X-Keyward-Code": {"USAGE_EXCEEDED"}, "Retry-After": {"2"}},
		},
		{
			name: "scope quoted", status: 403,
			res: keyward.Result{Outcome: keyward.OutcomeInsufficientScope, MissingScope: `a"b\c`},
			header: http.Header{"Content-Type": {problemType}, "X-Keyward-Code": {"INSUFFICIENT_SCOPE"},
				"Www-Authenticate": {`Bearer realm="keyward", error="insufficient_scope", scope="a\"b\\c"`}},
		},
		{
			name: "missing", status: 401,
			res:    keyward.Result{Outcome: keyward.OutcomeMissing},
			header: http.Header{"Content-Type": {problemType}, "X-Keyward-Code": {"MISSING"}, "Www-Authenticate": {`Bearer realm="keyward"`}},
		},
		{
			name: "unknown outcome", status: 503,
			res:    keyward.Result{Outcome: keyward.Outcome(200)},
			header: http.Header{"Content-Type": {problemType}, "X-Keyward-Code": {"UNAVAILABLE"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if passed := httpauth.WriteResult(rec, tc.res); passed != tc.passed {
				t.Fatalf("passed = %v, want %v", passed, tc.passed)
			}
			if tc.passed {
				if rec.Body.Len() != 0 || rec.Flushed {
					t.Errorf("WriteResult wrote %q for a valid result", rec.Body)
				}
			}
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			if !equalHeaders(rec.Header(), tc.header) {
				t.Errorf("headers\n got %v\nwant %v", rec.Header(), tc.header)
			}
			if !tc.passed {
				checkProblem(t, rec, tc.status, tc.header.Get("X-Keyward-Code"))
			}
		})
	}
}

func TestEveryOutcomeHasAResponse(t *testing.T) {
	for _, o := range keyward.Outcomes() {
		rec := httptest.NewRecorder()
		passed := httpauth.WriteResult(rec, keyward.Result{Outcome: o, Key: &keyward.Key{}, MissingScope: "s"})
		if passed != (o == keyward.OutcomeValid) {
			t.Errorf("%v: passed = %v", o, passed)
		}
		if !passed {
			checkProblem(t, rec, rec.Code, o.String())
		}
	}
}

func TestSetRateLimitHeadersZero(t *testing.T) {
	h := http.Header{}
	httpauth.SetRateLimitHeaders(h, keyward.RateDecision{})
	if len(h) != 0 {
		t.Errorf("zero decision set %v", h)
	}
}

func TestProblemBodiesRevealNothing(t *testing.T) {
	// NOT_FOUND must read the same whether the id exists or not.
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{})
	tok, _ := keyward.Parse(iss.Secret)
	other, _ := keyward.NewToken("kw")
	wrongSecret := keyward.Token{Prefix: tok.Prefix, ID: tok.ID, Secret: other.Secret}.String()
	h := httpauth.New(e.svc, nil)(okHandler)
	a := serve(h, bearerRequest(wrongSecret))
	b := serve(h, bearerRequest(other.String()))
	if a.Code != 401 || a.Body.String() != b.Body.String() || !equalHeaders(a.Header(), b.Header()) {
		t.Errorf("wrong secret and unknown id differ:\n%d %v %s\n%d %v %s", a.Code, a.Header(), a.Body, b.Code, b.Header(), b.Body)
	}
	if strings.Contains(a.Body.String(), tok.ID) {
		t.Errorf("body names the key id: %s", a.Body)
	}
}

// TestRateLimitHeadersOnlyOn2xxAnd429: the handler behind the middleware
// decides its status; the RateLimit headers the middleware set for a key
// with a rate limit stay on its 2xx and 429 answers and go from any other
// (a 404, a 500 of its own), as they go only on 2xx and 429 responses.
// Flush still reaches the connection's writer.
func TestRateLimitHeadersOnlyOn2xxAnd429(t *testing.T) {
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{RateLimit: &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)}})
	for _, tc := range []struct {
		status int
		keep   bool
	}{{200, true}, {201, true}, {204, true}, {429, true}, {301, false}, {404, false}, {405, false}, {500, false}} {
		next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.status == 200 {
				w.(http.Flusher).Flush() // an implicit 200
				io.Copy(w, strings.NewReader("ok"))
				return
			}
			w.WriteHeader(tc.status)
		})
		rec := serve(httpauth.New(e.svc, nil)(next), bearerRequest(iss.Secret))
		_, has := rec.Header()["Ratelimit"]
		_, hasPolicy := rec.Header()["Ratelimit-Policy"]
		if rec.Code != tc.status || has != tc.keep || hasPolicy != tc.keep {
			t.Errorf("handler status %d: got %d with RateLimit %v, RateLimit-Policy %v; want both %v", tc.status, rec.Code, has, hasPolicy, tc.keep)
		}
	}
}
