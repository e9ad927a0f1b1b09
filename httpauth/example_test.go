package httpauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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

// serveInvoices is the code of the package documentation.
func serveInvoices(ctx context.Context, ln net.Listener, store keyward.Store, hasher keyward.Hasher) error {
	svc, err := keyward.New(store, hasher, &keyward.Options{Limiter: ratelimit.NewLocal()})
	if err != nil {
		return err
	}
	defer svc.Close(ctx)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /invoices", func(w http.ResponseWriter, r *http.Request) {
		key, _ := keyward.KeyFromContext(r.Context()) // always there behind New
		fmt.Fprintln(w, "hello", key.Name)
	})
	guard := httpauth.New(svc, &httpauth.Options{Scopes: []string{"invoices:read"}})
	return http.Serve(ln, guard(mux)) // ln, err := net.Listen("tcp", ":8080")
}

// The code of the package documentation, serving on a loopback port: a key
// with the scope gets through, a request without a key gets 401.
func Example_packageDoc() {
	ctx := context.Background()
	pepper, _ := keyhash.NewPepper([]byte("a server-side secret of at least 32 bytes"))
	hasher, _ := keyhash.NewHMAC(pepper)
	store := memory.New()
	admin, _ := keyward.New(store, hasher, nil) // issues the key the client presents
	defer admin.Close(ctx)
	issued, _ := admin.Create(ctx, keyward.CreateParams{Name: "reporting", Scopes: []string{"invoices:read"}})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- serveInvoices(ctx, ln, store, hasher) }()

	for _, key := range []string{issued.Secret, ""} {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/invoices", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if code := resp.Header.Get("X-Keyward-Code"); code != "" {
			body = []byte(code + "\n")
		}
		fmt.Printf("%d %s", resp.StatusCode, body)
	}
	ln.Close()
	fmt.Println("stopped:", errors.Is(<-served, net.ErrClosed))
	// Output:
	// 200 hello reporting
	// 401 MISSING
	// stopped: true
}
