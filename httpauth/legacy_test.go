package httpauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

// TestMiddlewareAcceptsImportedKeyStrings: a key imported from
// fastapi_simple_security (a UUID, not a native key string) passes the
// middleware in either header once its format is recorded; another UUID
// is NOT_FOUND and a string in no recorded format MALFORMED, as for native
// keys.
func TestMiddlewareAcceptsImportedKeyStrings(t *testing.T) {
	ctx := context.Background()
	h := testkit.HMAC(t, "httpauth legacy tests")
	svc := testkit.NewService(t, memory.New(), h, &keyward.Options{Limiter: ratelimit.NewLocal()})
	legacy := "755700d9-c33e-4e3b-9cb4-b5cf31608bb8"
	hash, err := h.Hash(legacy)
	if err != nil {
		t.Fatal(err)
	}
	k := &keyward.Key{ID: keyward.SimpleSecurityID(legacy), Prefix: "kw", Name: "imported", Enabled: true, Hash: hash}
	if err := svc.ValidateImport(k); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ImportLegacy(ctx, keyward.LegacyFormat{Kind: keyward.LegacySimpleSecurity}, []*keyward.Key{k}); err != nil {
		t.Fatal(err)
	}
	mw := httpauth.New(svc, nil)(okHandler)

	for _, c := range []struct {
		name, header, key string
		status            int
		code              string
	}{
		{"imported key, Bearer", "Authorization", "Bearer " + legacy, http.StatusOK, ""},
		{"imported key, X-API-Key", "X-API-Key", legacy, http.StatusOK, ""},
		{"unknown UUID", "X-API-Key", "755700d9-c33e-4e3b-9cb4-b5cf31608bb9", http.StatusUnauthorized, "NOT_FOUND"},
		{"no recorded format", "X-API-Key", "ak_v1-02664fa94dc64da3-SMBD6m4NHxG93wiHJOhaNh8gcct1", http.StatusUnauthorized, "MALFORMED"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/things", nil)
		req.Header.Set(c.header, c.key)
		rec := serve(mw, req)
		if rec.Code != c.status || rec.Header().Get("X-Keyward-Code") != c.code {
			t.Errorf("%s: %d %q, want %d %q", c.name, rec.Code, rec.Header().Get("X-Keyward-Code"), c.status, c.code)
		}
		if c.status == http.StatusOK && rec.Body.String() != "ok imported" {
			t.Errorf("%s: body %q, want the imported key on the context", c.name, rec.Body.String())
		}
	}
}
