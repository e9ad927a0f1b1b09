package httpauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

// exampleService wires a Service as a program would, on a fixed clock so
// that the rate-limit figures in the output do not vary.
func exampleService() *keyward.Service {
	pepper, err := keyhash.NewPepper([]byte("a server-side secret of at least 32 bytes"))
	if err != nil {
		panic(err)
	}
	hasher, err := keyhash.NewHMAC(pepper)
	if err != nil {
		panic(err)
	}
	svc, err := keyward.New(memory.New(), hasher, &keyward.Options{
		Limiter: ratelimit.NewLocal(),
		Now:     func() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	return svc
}

// show sends a request with key (if any) in the Authorization header and
// prints the status, the keyward code or body, and the RateLimit header.
func show(h http.Handler, method, path, key string) {
	req := httptest.NewRequest(method, path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out := rec.Header().Get("X-Keyward-Code")
	if out == "" {
		out = rec.Body.String()
	}
	if rl := rec.Header().Get("RateLimit"); rl != "" {
		out += " RateLimit: " + rl
	}
	fmt.Println(method, path, rec.Code, out)
}

// Guard a whole http.ServeMux: every route needs a key granting
// invoices:read, and each request spends one unit of the key's rate limit.
func Example() {
	ctx := context.Background()
	svc := exampleService()
	defer svc.Close(ctx)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /invoices", func(w http.ResponseWriter, r *http.Request) {
		key, _ := keyward.KeyFromContext(r.Context())
		fmt.Fprintf(w, "invoices of %s", key.Owner)
	})
	guard := httpauth.New(svc, &httpauth.Options{Scopes: []string{"invoices:read"}})
	handler := guard(mux) // http.ListenAndServe(addr, handler)

	reader, _ := svc.Create(ctx, keyward.CreateParams{
		Name: "reporting", Owner: "team-finance", Scopes: []string{"invoices:read"},
		RateLimit: &keyward.RateLimit{Limit: 2, Period: keyward.Duration(time.Minute)},
	})
	other, _ := svc.Create(ctx, keyward.CreateParams{Name: "deploy bot"})

	show(handler, "GET", "/invoices", reader.Secret)
	show(handler, "GET", "/invoices", reader.Secret)
	show(handler, "GET", "/invoices", reader.Secret)
	show(handler, "GET", "/invoices", other.Secret)
	show(handler, "GET", "/invoices", "")
	// Output:
	// GET /invoices 200 invoices of team-finance RateLimit: "key";r=1;t=60
	// GET /invoices 200 invoices of team-finance RateLimit: "key";r=0;t=60
	// GET /invoices 429 RATE_LIMITED RateLimit: "key";r=0;t=60
	// GET /invoices 403 INSUFFICIENT_SCOPE
	// GET /invoices 401 MISSING
}

// With chi: New for the whole router checks the key once, and RequireScopes
// adds each route's scopes.
func Example_chi() {
	ctx := context.Background()
	svc := exampleService()
	defer svc.Close(ctx)

	r := chi.NewRouter()
	r.Use(httpauth.New(svc, nil))
	r.Get("/invoices", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "list")
	})
	r.With(httpauth.RequireScopes("invoices:write")).Post("/invoices", func(w http.ResponseWriter, r *http.Request) {
		key, _ := keyward.KeyFromContext(r.Context())
		fmt.Fprintf(w, "created by %s", key.Name)
	})

	reader, _ := svc.Create(ctx, keyward.CreateParams{Name: "reporting", Scopes: []string{"invoices:read"}})
	writer, _ := svc.Create(ctx, keyward.CreateParams{Name: "billing", Scopes: []string{"invoices:*"}})

	show(r, "GET", "/invoices", reader.Secret)
	show(r, "POST", "/invoices", reader.Secret)
	show(r, "POST", "/invoices", writer.Secret)
	show(r, "POST", "/invoices", "kw_typo")
	// Output:
	// GET /invoices 200 list
	// POST /invoices 403 INSUFFICIENT_SCOPE
	// POST /invoices 200 created by billing
	// POST /invoices 401 MALFORMED
}
