package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

// The per-request cost of keyward serve's handler, outside net/http: the
// server as serve builds it (a Service on the memory store behind package
// cache, the HMAC hasher, the in-process limiter, JSON logs written to
// io.Discard so that formatting is paid), one request built once, a
// response writer reused. docs/benchmarks.md lists the figures.
//
//	go test -run '^$' -bench BenchmarkServe -benchmem -count 5 ./server/

// benchWriter is a reusable http.ResponseWriter that keeps nothing.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(s int)           { w.status = s }

// benchServer returns the handler and a key it verifies (cached after the
// first request).
func benchServer(b *testing.B, edit func(*server.Config)) (http.Handler, string) {
	b.Helper()
	c, err := cache.New(memory.New(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	p, _ := keyhash.NewPepper([]byte("server bench pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(c, h, &keyward.Options{Limiter: ratelimit.NewLocal(), LookupTime: c.LookupTime})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close(context.Background()) })
	iss, err := svc.Create(context.Background(), keyward.CreateParams{Name: "bench", Scopes: []string{"read"}})
	if err != nil {
		b.Fatal(err)
	}
	cfg := server.Config{Service: svc, AdminToken: adminToken, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return srv.Handler(), iss.Secret
}

func runServe(b *testing.B, h http.Handler, req *http.Request, want int) {
	b.Helper()
	w := &benchWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.status != want && !(want == 200 && w.status == 0) {
		b.Fatalf("status %d, want %d", w.status, want)
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

func BenchmarkServeHealthz(b *testing.B) {
	h, _ := benchServer(b, nil)
	runServe(b, h, httptest.NewRequest("GET", "/healthz", nil), 200)
}

func BenchmarkServeAuthValid(b *testing.B) {
	h, key := benchServer(b, nil)
	req := httptest.NewRequest("GET", "/v1/auth", nil)
	req.Header.Set("X-API-Key", key)
	runServe(b, h, req, 200)
}

func BenchmarkServeAuthValidScopes(b *testing.B) {
	h, key := benchServer(b, nil)
	req := httptest.NewRequest("GET", "/v1/auth?scopes=read", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	runServe(b, h, req, 200)
}

func BenchmarkServeAuthMissing(b *testing.B) {
	h, _ := benchServer(b, nil)
	runServe(b, h, httptest.NewRequest("GET", "/v1/auth", nil), 401)
}
