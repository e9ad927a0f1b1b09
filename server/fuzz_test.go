package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward/server"
)

// fuzzEnv is one server for a whole fuzz run (the memory store fills up,
// which is fine); it logs nothing, so that the log does not fill memory.
func fuzzEnv(f *testing.F) *env {
	f.Helper()
	return newEnvWith(f, func(c *server.Config) { c.Logger = nil })
}

// checkAnswer fails for a 5xx, for a status outside allowed, and for a body
// that is not JSON.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	ok := false
	for _, s := range allowed {
		ok = ok || rec.Code == s
	}
	if !ok {
		t.Fatalf("status %d, want one of %v; body %s", rec.Code, allowed, rec.Body.Bytes())
	}
	if rec.Code != http.StatusNoContent && !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body.Bytes())
	}
}

func FuzzCreateKeyBody(f *testing.F) {
	e := fuzzEnv(f)
	for _, s := range []string{
		`{"name":"x"}`, `{"name":"x","scopes":["a","b:*"],"rate_limit":{"limit":5,"period":"1m"}}`,
		`{"name":"x","expires_in":"720h","remaining":3,"refill":{"interval":"daily","amount":3}}`,
		`{"name":"x","metadata":{"a":[1,{"b":null}]},"allowed_cidrs":["10.0.0.0/8","::1"]}`,
		`{"name":"","bogus":1}`, `{"name":"x","expires_at":"2000-01-01T00:00:00Z"}`, `[]`, `null`, `{`, ``,
		`{"name":"x","rate_limit":{"limit":1e300,"period":"-1s"}}`, `{"name":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/keys", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		checkAnswer(t, rec, 201, 400, 413, 422)
	})
}

func FuzzVerifyBody(f *testing.F) {
	e := fuzzEnv(f)
	for _, s := range []string{
		`{"key":"kw_0123456789abcdef_0123456789012345678901234567890123456789abcdef"}`,
		`{"key":"x","scopes":["a"],"cost":0,"client_ip":"10.0.0.1"}`, `{"key":"x","cost":-1}`,
		`{"key":"x","client_ip":"nope"}`, `{}`, `{"key":1}`, `not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/keys/verify", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		checkAnswer(t, rec, 200, 400, 413, 422)
	})
}

func FuzzListQuery(f *testing.F) {
	e := fuzzEnv(f)
	for _, s := range []string{
		"", "limit=10", "limit=0", "limit=1001", "limit=-5", "limit=abc", "status=active&owner=x&q=y",
		"status=zombie", "cursor=!!", "cursor=MTcwMDAwMDAwMDAwMC4wMTIzNDU2Nzg5YWJjZGVm", "q=%00%ff", "limit=1&limit=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest("GET", "/v1/keys", nil)
		req.URL.RawQuery = rawQuery
		req.Header.Set("Authorization", "Bearer "+adminToken)
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		checkAnswer(t, rec, 200, 400, 422)
	})
}
