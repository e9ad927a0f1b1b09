package httpauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
)

// TestSeveralKeysAreRefused: RFC 6750 allows one method per request. A
// request that presents two keys (two headers, one header twice, a header
// and the query) is refused with 400 INVALID_REQUEST, whichever keys they
// are, and reaches neither the Verifier nor the next handler.
func TestSeveralKeysAreRefused(t *testing.T) {
	e := newEnv(t)
	a := e.create(t, keyward.CreateParams{Name: "a"}).Secret
	b := e.create(t, keyward.CreateParams{Name: "b"}).Secret
	h := httpauth.New(e.svc, &httpauth.Options{AllowQueryKey: true})(okHandler)
	for _, tc := range []struct {
		name   string
		query  string
		header http.Header
	}{
		{"Bearer and X-API-Key, different keys", "", http.Header{"Authorization": {"Bearer " + a}, "X-Api-Key": {b}}},
		{"Bearer and X-API-Key, the same key", "", http.Header{"Authorization": {"Bearer " + a}, "X-Api-Key": {a}}},
		{"two Authorization headers", "", http.Header{"Authorization": {"Bearer " + a, "Bearer " + b}}},
		{"two X-API-Key headers", "", http.Header{"X-Api-Key": {a, b}}},
		{"a header and the query", "?api_key=" + b, http.Header{"X-Api-Key": {a}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/things"+tc.query, nil)
			req.Header = tc.header
			rec := serve(h, req)
			if rec.Code != http.StatusBadRequest || rec.Header().Get("X-Keyward-Code") != "INVALID_REQUEST" ||
				rec.Header().Get("Www-Authenticate") != `Bearer realm="keyward", error="invalid_request"` {
				t.Errorf("%d %v %s, want 400 INVALID_REQUEST", rec.Code, rec.Header(), rec.Body)
			}
			checkProblem(t, rec, http.StatusBadRequest, "INVALID_REQUEST", a, b)
			if _, err := httpauth.RequestKey(req, true); err != httpauth.ErrSeveralKeys {
				t.Errorf("RequestKey: %v, want ErrSeveralKeys", err)
			}
		})
	}
	// One key, with something that carries none beside it, passes.
	for _, header := range []http.Header{
		{"Authorization": {"Basic dXNlcjpwYXNz"}, "X-Api-Key": {a}},
		{"Authorization": {"Bearer " + a}, "X-Api-Key": {""}},
		{"Authorization": {"Bearer "}, "X-Api-Key": {a}},
	} {
		req := httptest.NewRequest("GET", "/things", nil)
		req.Header = header
		if rec := serve(h, req); rec.Code != http.StatusOK {
			t.Errorf("%v: %d %s, want 200", header, rec.Code, rec.Body)
		}
	}
}
