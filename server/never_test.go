package server_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// TestExpiresInNever: "never" passes the schema of create, update and
// rotate and reaches the Service as keyward.Never (no expiry, despite a
// default key lifetime).
func TestExpiresInNever(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	day := 24 * time.Hour
	if _, err := e.svc.SetPolicy(ctx, keyward.Policy{DefaultKeyLifetime: &day}); err != nil {
		t.Fatal(err)
	}
	do := func(method, target, body string, want int) api.KeyView {
		t.Helper()
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, target, rec.Code, rec.Body.Bytes(), want)
		}
		var out struct {
			api.KeyView
			Key *api.KeyView `json:"key"`
		}
		json.Unmarshal(rec.Body.Bytes(), &out)
		if out.Key != nil {
			return *out.Key
		}
		return out.KeyView
	}
	k := do("POST", "/v1/keys", `{"name":"forever","expires_in":"never"}`, 201)
	if k.ExpiresAt != nil {
		t.Errorf(`created with "never": expires_at %v`, k.ExpiresAt)
	}
	k = do("POST", "/v1/keys", `{"name":"default"}`, 201)
	if k.ExpiresAt == nil {
		t.Fatal("created without expiry under a default: no expiry")
	}
	if u := do("PATCH", "/v1/keys/"+k.ID, `{"expires_in":"never"}`, 200); u.ExpiresAt != nil {
		t.Errorf(`updated with "never": expires_at %v`, u.ExpiresAt)
	}
	if r := do("POST", "/v1/keys/"+k.ID+"/rotate", `{"expires_in":"never"}`, 201); r.ExpiresAt != nil {
		t.Errorf(`rotated with "never": expires_at %v`, r.ExpiresAt)
	}
}
