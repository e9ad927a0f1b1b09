package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/httpauth"
	"github.com/keyward/keyward/internal/testserver"
)

const adminToken = "client-test-admin-token-of-32-characters"

func start(t *testing.T) (*testserver.Server, *client.Client) {
	t.Helper()
	srv := testserver.Start(t, nil, "--database-url", "sqlite:"+filepath.Join(t.TempDir(), "k.db"), "--admin-token", adminToken)
	c, err := client.New(srv.URL, adminToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestAdminCalls(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	iss, err := c.CreateKey(ctx, keyward.CreateParams{Name: "from the client", Owner: "o", Scopes: []string{"a"}, RateLimit: &keyward.RateLimit{Limit: 5, Period: keyward.Duration(time.Minute)}})
	if err != nil || iss.Secret == "" || iss.Key.Name != "from the client" {
		t.Fatalf("CreateKey: %+v %v", iss, err)
	}
	k, err := c.UpdateKey(ctx, iss.Key.ID, keyward.UpdateParams{Name: keyward.Ptr("renamed"), RateLimit: keyward.Clear[keyward.RateLimit](), Remaining: keyward.SetTo[int64](3)})
	if err != nil || k.Name != "renamed" || k.RateLimit != nil || *k.Remaining != 3 {
		t.Fatalf("UpdateKey: %+v %v", k, err)
	}
	page, err := c.ListKeys(ctx, keyward.ListParams{Owner: "o"})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("ListKeys: %+v %v", page, err)
	}
	res, err := c.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{"a"}})
	if err != nil || !res.Valid() || res.Remaining != 2 {
		t.Fatalf("Verify: %+v %v", res, err)
	}
	rot, err := c.RotateKey(ctx, iss.Key.ID, keyward.RotateParams{GracePeriod: keyward.Ptr(keyward.Duration(0))})
	if err != nil || rot.Key.Replaces == nil {
		t.Fatalf("RotateKey: %+v %v", rot, err)
	}
	if _, err := c.RotateKey(ctx, iss.Key.ID, keyward.RotateParams{}); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("rotating twice: %v, want ErrConflict", err)
	}
	if _, err := c.RevokeKey(ctx, rot.Key.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteKey(ctx, rot.Key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetKey(ctx, rot.Key.ID); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("GetKey of a deleted key: %v, want ErrNotFound", err)
	}
	if _, err := c.CreateKey(ctx, keyward.CreateParams{Name: ""}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("CreateKey without name: %v, want ErrInvalid", err)
	}
	audit, err := c.Audit(ctx, keyward.AuditParams{KeyID: iss.Key.ID})
	if err != nil || len(audit.Items) != 3 {
		t.Errorf("Audit: %d entries, %v; want create, update, rotate", len(audit.Items), err)
	}
	bad, _ := client.New(c.BaseURL(), "not-the-token-but-long-enough-to-look-like-it", nil)
	if _, err := bad.ListKeys(ctx, keyward.ListParams{}); err == nil {
		t.Error("a wrong credential listed keys")
	}
}

// TestVerifierGuardsAHandler protects a handler with httpauth and the
// remote verifier against a real keyward serve.
func TestVerifierGuardsAHandler(t *testing.T) {
	srv, admin := start(t)
	ctx := context.Background()
	verifyKey, err := admin.CreateKey(ctx, keyward.CreateParams{Name: "billing's verifier", Scopes: []string{keyward.ScopeVerify}})
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := client.New(srv.URL, verifyKey.Secret, nil)
	v, err := client.NewVerifier(vc, &client.VerifierOptions{TTL: 300 * time.Millisecond, StaleTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	app := httptest.NewServer(httpauth.New(v, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := keyward.KeyFromContext(r.Context())
		w.Write([]byte(k.Name))
	})))
	defer app.Close()
	call := func(key string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", app.URL, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good, _ := admin.CreateKey(ctx, keyward.CreateParams{Name: "good"})
	doomed, _ := admin.CreateKey(ctx, keyward.CreateParams{Name: "doomed"})
	unknown, _ := admin.CreateKey(ctx, keyward.CreateParams{Name: "never used before the outage"})
	if code := call(good.Secret); code != 200 {
		t.Fatalf("valid key: %d", code)
	}
	if code := call(doomed.Secret); code != 200 {
		t.Fatalf("valid key: %d", code)
	}
	if _, err := admin.RevokeKey(ctx, doomed.Key.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for call(doomed.Secret) != 401 {
		if time.Since(start) > 2*time.Second {
			t.Fatal("a revoked key still passes after twice the client's TTL (plus the server's)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revoked key rejected by the client after %v (client TTL 300ms)", time.Since(start).Round(time.Millisecond))

	srv.Kill()
	if code := call(good.Secret); code != 200 {
		t.Errorf("cached key with the server down: %d, want 200 within the stale bound", code)
	}
	if code := call(unknown.Secret); code != 503 {
		t.Errorf("uncached key with the server down: %d, want 503", code)
	}
}
