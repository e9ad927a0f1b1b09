package server_test

import (
	"testing"

	"github.com/keyward/keyward"
)

// TestSecretsAreNotCached: the answers that carry a secret (create, rotate)
// tell every cache not to keep them; the others do not need to.
func TestSecretsAreNotCached(t *testing.T) {
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{})
	for _, tc := range []struct{ name, method, target, body string }{
		{"create", "POST", "/v1/keys", `{"name":"x"}`},
		{"rotate", "POST", "/v1/keys/" + iss.Key.ID + "/rotate", `{}`},
	} {
		rec := e.admin(t, tc.method, tc.target, tc.body)
		if rec.Code != 201 {
			t.Fatalf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
		if cc, p := rec.Header().Get("Cache-Control"), rec.Header().Get("Pragma"); cc != "no-store" || p != "no-cache" {
			t.Errorf("%s: Cache-Control %q, Pragma %q; want no-store and no-cache", tc.name, cc, p)
		}
	}
}
