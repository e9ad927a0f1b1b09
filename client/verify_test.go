package client_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

// inProcess serves a server.Server on the memory store through httptest and
// returns the Service and a client with the admin token.
func inProcess(t *testing.T) (*keyward.Service, *client.Client) {
	t.Helper()
	svc, c, _ := inProcessAt(t, nil)
	return svc, c
}

// inProcessAt is inProcess on the clock now (nil: the wall clock), and
// returns the test server too.
func inProcessAt(t *testing.T, now func() time.Time) (*keyward.Service, *client.Client, *httptest.Server) {
	t.Helper()
	p, _ := keyhash.NewPepper([]byte("client test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(memory.New(), h, &keyward.Options{Limiter: ratelimit.NewLocal(), UsageFlushInterval: -1, Now: now})
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
	return svc, c, hs
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

// TestVerifierDoesNotServeAValidAnswerPastTheKeysExpiry: a cached VALID
// answer is not served again once the key's expires_at has passed: the
// Verifier asks the server (EXPIRED), and while the server is unreachable
// it answers the error rather than VALID.
func TestVerifierDoesNotServeAValidAnswerPastTheKeysExpiry(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	svc, c, hs := inProcessAt(t, clock.Now)
	ctx := context.Background()
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "short-lived", ExpiresIn: keyward.Ptr(keyward.Duration(5 * time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	req := keyward.VerifyRequest{Key: iss.Secret}
	var vs [2]*client.Verifier // one asks the server again, the other finds it gone
	for i := range vs {
		if vs[i], err = client.NewVerifier(c, &client.VerifierOptions{Now: clock.Now}); err != nil { // TTL 10 s, longer than the key lives
			t.Fatal(err)
		}
		if r, err := vs[i].Verify(ctx, req); err != nil || !r.Valid() {
			t.Fatalf("before the expiry: %v %v", r.Outcome, err)
		}
	}
	clock.Add(6 * time.Second)
	if r, err := vs[0].Verify(ctx, req); err != nil || r.Outcome != keyward.OutcomeExpired {
		t.Errorf("past the expiry, within the TTL: %v %v, want EXPIRED from the server", r.Outcome, err)
	}
	hs.Close()
	if r, err := vs[1].Verify(ctx, req); err == nil {
		t.Errorf("past the expiry, the server unreachable: %v, want the error", r.Outcome)
	}
}

// TestVerifierMalformedAnswersLikeTheServer: a string the Verifier rejects
// without asking (a wrong checksum) has the server's answer: MALFORMED, no
// credits of key or owner (-1 both).
func TestVerifierMalformedAnswersLikeTheServer(t *testing.T) {
	_, c := inProcess(t)
	v, err := client.NewVerifier(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := keyward.NewToken("kw")
	key := tok.String()
	last := "x"
	if key[len(key)-1] == 'x' {
		last = "y"
	}
	bad := key[:len(key)-1] + last // another checksum character: a wrong checksum
	local, err := v.Verify(context.Background(), keyward.VerifyRequest{Key: bad})
	remote, err2 := c.Verify(context.Background(), keyward.VerifyRequest{Key: bad})
	if err != nil || err2 != nil || local.Outcome != keyward.OutcomeMalformed || local.Remaining != remote.Remaining || local.OwnerRemaining != remote.OwnerRemaining {
		t.Errorf("Verifier %+v (%v), server %+v (%v); want the same MALFORMED", local, err, remote, err2)
	}
}
