package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

// TestVerifierAsksTheServerForLegacyKeys imports a fastapi_simple_security
// key (a UUID string, not a native key) and checks that the caching
// Verifier asks the server about it, which alone knows the recorded legacy
// formats, while a mistyped native key and strings that cannot be keys are
// still rejected locally.
func TestVerifierAsksTheServerForLegacyKeys(t *testing.T) {
	p, _ := keyhash.NewPepper([]byte("client test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(memory.New(), h, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	ctx := context.Background()
	legacy := "755700d9-c33e-4e3b-9cb4-b5cf31608bb8"
	hash, _ := h.Hash(legacy)
	k := &keyward.Key{ID: keyward.SimpleSecurityID(legacy), Prefix: "kw", Name: "imported", Enabled: true, Hash: hash}
	if err := svc.ValidateImport(k); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ImportLegacy(ctx, keyward.LegacyFormat{Kind: keyward.LegacySimpleSecurity}, []*keyward.Key{k}); err != nil {
		t.Fatal(err)
	}
	native, err := svc.Create(ctx, keyward.CreateParams{Name: "native"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Service: svc, AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		srv.Handler().ServeHTTP(w, r)
	}))
	defer hs.Close()
	c, err := client.New(hs.URL, adminToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := client.NewVerifier(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One character of the secret replaced by another base62 character: a
	// typo that keeps the key's form, which the checksum catches. (Flipping a
	// bit could make a character outside base62, and then the string has no
	// native form and the server alone can say it is no key.)
	typo := []byte(native.Secret)
	if i := len(typo) - 8; typo[i] == 'a' {
		typo[i] = 'b'
	} else {
		typo[i] = 'a'
	}
	for _, tc := range []struct {
		name, key string
		want      keyward.Outcome
		requests  int64
	}{
		{"legacy key", legacy, keyward.OutcomeValid, 1},
		{"legacy key again (cached)", legacy, keyward.OutcomeValid, 0},
		{"native key", native.Secret, keyward.OutcomeValid, 1},
		{"mistyped native key", string(typo), keyward.OutcomeMalformed, 0},
		{"empty", "", keyward.OutcomeMalformed, 0},
		{"with a space", "not a key", keyward.OutcomeMalformed, 0},
		{"unknown form", "hello", keyward.OutcomeMalformed, 1},
		{"unknown form again (cached)", "hello", keyward.OutcomeMalformed, 0},
	} {
		before := requests.Load()
		res, err := v.Verify(ctx, keyward.VerifyRequest{Key: tc.key})
		if err != nil || res.Outcome != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, res.Outcome, err, tc.want)
		}
		if n := requests.Load() - before; n != tc.requests {
			t.Errorf("%s: %d requests to the server, want %d", tc.name, n, tc.requests)
		}
	}
}
