package server_test

import (
	"testing"

	"github.com/keyward/keyward"
)

// TestAuthRefusesSeveralKeys: /v1/auth, like the middleware, answers 400
// INVALID_REQUEST to a request that presents more than one key (RFC 6750:
// one method per request), the same key twice included; so do the admin
// endpoints to two Authorization headers.
func TestAuthRefusesSeveralKeys(t *testing.T) {
	e := newEnvWith(t, nil)
	a := e.create(t, keyward.CreateParams{}).Secret
	b := e.create(t, keyward.CreateParams{}).Secret
	for _, tc := range []struct {
		name, target string
		header       []string
	}{
		{"Bearer and X-API-Key", "/v1/auth", []string{"Authorization", "Bearer " + a, "X-API-Key", b}},
		{"the same key in both", "/v1/auth", []string{"Authorization", "Bearer " + a, "X-API-Key", a}},
		{"two Authorization headers", "/v1/auth", []string{"Authorization", "Bearer " + a, "Authorization", "Bearer " + b}},
		{"two X-API-Key headers", "/v1/auth", []string{"X-API-Key", a, "X-API-Key", b}},
		{"two admin credentials", "/v1/keys", []string{"Authorization", "Bearer " + adminToken, "Authorization", "Bearer " + a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(t, "GET", tc.target, "", tc.header...)
			if rec.Code != 400 || !isProblem(rec) || rec.Header().Get("X-Keyward-Code") != "INVALID_REQUEST" {
				t.Errorf("%d %v %s, want 400 INVALID_REQUEST", rec.Code, rec.Header(), rec.Body)
			}
			if keys := findKeys(rec.Body.Bytes()); len(keys) > 0 {
				t.Errorf("the answer echoes a key: %s", rec.Body)
			}
		})
	}
	if rec := e.do(t, "GET", "/v1/auth", "", "X-API-Key", a); rec.Code != 200 {
		t.Errorf("one key: %d, want 200", rec.Code)
	}
}
