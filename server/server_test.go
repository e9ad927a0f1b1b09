package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

const adminToken = "an-admin-token-for-tests-of-32-characters-or-more"

type env struct {
	svc *keyward.Service
	srv *server.Server
	log *syncBuffer // everything the server logged, as JSON lines
}

func newEnv(tb testing.TB) *env { return newEnvWith(tb, nil) }

// newEnvWith is newEnv with the Config changed by edit (nil: unchanged); the
// server logs JSON lines at debug level into env.log unless edit sets another
// logger.
func newEnvWith(tb testing.TB, edit func(*server.Config)) *env {
	tb.Helper()
	p, _ := keyhash.NewPepper([]byte("server test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(memory.New(), h, &keyward.Options{Limiter: ratelimit.NewLocal(), UsageFlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	buf := &syncBuffer{}
	cfg := server.Config{Service: svc, AdminToken: adminToken, Version: "test",
		Logger: slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &env{svc: svc, srv: srv, log: buf}
}

// do sends a request to the handler; body may be "" for none. Headers come
// in name, value pairs.
func (e *env) do(tb testing.TB, method, target, body string, header ...string) *httptest.ResponseRecorder {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// admin sends a request with the admin token.
func (e *env) admin(tb testing.TB, method, target, body string) *httptest.ResponseRecorder {
	tb.Helper()
	return e.do(tb, method, target, body, "Authorization", "Bearer "+adminToken, "Content-Type", "application/json")
}

// create issues a key with params and returns its secret.
func (e *env) create(tb testing.TB, params keyward.CreateParams) keyward.Issued {
	tb.Helper()
	if params.Name == "" {
		params.Name = "test"
	}
	iss, err := e.svc.Create(context.Background(), params)
	if err != nil {
		tb.Fatal(err)
	}
	return iss
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset empties the buffer.
func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// findKeys returns the key strings in b.
func findKeys(b []byte) []string {
	var keys []string
	keyward.FindKeys(b, func(start, end int) { keys = append(keys, string(b[start:end])) })
	return keys
}

// isProblem reports whether rec is an application/problem+json answer.
func isProblem(rec *httptest.ResponseRecorder) bool {
	return rec.Header().Get("Content-Type") == "application/problem+json"
}
