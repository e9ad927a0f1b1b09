package client_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

// inProcess serves a server.Server on the memory store through httptest and
// returns the Service and a client with the admin token.
func inProcess(t *testing.T) (*keyward.Service, *client.Client) {
	t.Helper()
	p, _ := keyhash.NewPepper([]byte("client test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(memory.New(), h, &keyward.Options{Limiter: ratelimit.NewLocal(), UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	srv, err := server.New(server.Config{Service: svc, AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	c, err := client.New(hs.URL, adminToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc, c
}

// TestVerifyAnyScope proves that the any-of scopes of a VerifyRequest reach
// the server: a key without any of them is INSUFFICIENT_SCOPE, a key with one
// of them VALID, through the client and through the caching Verifier.
func TestVerifyAnyScope(t *testing.T) {
	_, c := inProcess(t)
	ctx := context.Background()
	reader, err := c.CreateKey(ctx, keyward.CreateParams{Name: "reader", Scopes: []string{"invoices:read"}})
	if err != nil {
		t.Fatal(err)
	}
	writer, err := c.CreateKey(ctx, keyward.CreateParams{Name: "writer", Scopes: []string{"invoices:read", "invoices:write"}})
	if err != nil {
		t.Fatal(err)
	}
	anyOf := []string{"invoices:write", "billing:admin"}
	v, err := client.NewVerifier(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		secret string
		want   keyward.Outcome
	}{
		{"lacks all of them", reader.Secret, keyward.OutcomeInsufficientScope},
		{"has one of them", writer.Secret, keyward.OutcomeValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := keyward.VerifyRequest{Key: tc.secret, Scopes: []string{"invoices:read"}, AnyScope: anyOf}
			res, err := c.Verify(ctx, req)
			if err != nil || res.Outcome != tc.want {
				t.Fatalf("Client.Verify: %v %v, want %v", res.Outcome, err, tc.want)
			}
			if tc.want == keyward.OutcomeInsufficientScope && res.MissingScope != anyOf[0] {
				t.Errorf("missing scope %q, want %q", res.MissingScope, anyOf[0])
			}
			// The Verifier first caches the answer without any-of scopes
			// (VALID for both keys), then must not reuse it for the request
			// with them.
			if res, err := v.Verify(ctx, keyward.VerifyRequest{Key: tc.secret, Scopes: req.Scopes}); err != nil || !res.Valid() {
				t.Fatalf("Verifier.Verify without any-of scopes: %v %v, want VALID", res.Outcome, err)
			}
			if res, err := v.Verify(ctx, req); err != nil || res.Outcome != tc.want {
				t.Errorf("Verifier.Verify: %v %v, want %v", res.Outcome, err, tc.want)
			}
		})
	}
}
