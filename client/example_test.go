package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/httpauth"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

// startKeyward runs keyward's HTTP server in process, on a memory store,
// with an admin token: what keyward serve is to a real service.
func startKeyward(adminToken string) (*httptest.Server, func()) {
	pepper, err := keyhash.NewPepper([]byte("a server-side secret of at least 32 bytes"))
	if err != nil {
		log.Fatal(err)
	}
	hasher, err := keyhash.NewHMAC(pepper)
	if err != nil {
		log.Fatal(err)
	}
	svc, err := keyward.New(memory.New(), hasher, &keyward.Options{Limiter: ratelimit.NewLocal()})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Config{Service: svc, AdminToken: adminToken})
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	return ts, func() { ts.Close(); svc.Close(context.Background()) }
}

// call sends GET / to h with key (if any) as a bearer token and prints the
// status and the body or keyward's code.
func call(h http.Handler, key string) {
	req := httptest.NewRequest("GET", "/", nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out := rec.Header().Get("X-Keyward-Code")
	if out == "" {
		out = rec.Body.String()
	}
	fmt.Println(rec.Code, out)
}

// An admin creates keys through the API; a service that cannot reach
// keyward's database guards its routes with a Verifier, which asks the
// server and caches its answers for a few seconds.
func Example() {
	ctx := context.Background()
	adminToken := "an-admin-token-of-at-least-32-characters"
	srv, stop := startKeyward(adminToken)
	defer stop()
	keywardURL := srv.URL

	admin, err := client.New(keywardURL, adminToken, nil) // keywardURL: e.g. "https://keyward.internal"
	if err != nil {
		log.Fatal(err)
	}
	issued, err := admin.CreateKey(ctx, keyward.CreateParams{Name: "billing", Scopes: []string{"invoices:read"}})
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := admin.CreateKey(ctx, keyward.CreateParams{Name: "billing's verifier", Scopes: []string{keyward.ScopeVerify}})
	if err != nil {
		log.Fatal(err)
	}
	verifyKey := verifier.Secret

	// In the service:
	mux := http.NewServeMux()
	yourHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := keyward.KeyFromContext(r.Context())
		fmt.Fprint(w, "hello ", key.Name)
	})
	c, err := client.New(keywardURL, verifyKey, nil) // verifyKey: a key with scope keyward:verify
	if err != nil {
		log.Fatal(err)
	}
	v, err := client.NewVerifier(c, &client.VerifierOptions{TTL: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("/", httpauth.New(v, nil)(yourHandler))

	call(mux, issued.Secret)
	call(mux, "")
	if _, err := admin.RevokeKey(ctx, issued.Key.ID); err != nil {
		log.Fatal(err)
	}
	call(mux, issued.Secret) // still VALID from the cache: revocation reaches this service within TTL
	// Output:
	// 200 hello billing
	// 401 MISSING
	// 200 hello billing
}
