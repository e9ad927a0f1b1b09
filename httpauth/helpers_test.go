package httpauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

// base is on a bucket boundary of every whole-second rate-limit period, so
// that limiter figures are round.
var base = time.Date(2026, 5, 17, 10, 30, 0, 0, time.UTC)

// clock is a time source the test moves by hand.
type clock = testkit.Clock

type env struct {
	svc   *keyward.Service
	clock *clock
}

// newService returns a Service on the memory store with the HMAC hasher and
// the in-process limiter, on a clock the caller controls.
func newService(tb testing.TB, store keyward.Store, now func() time.Time) *keyward.Service {
	tb.Helper()
	return testkit.NewService(tb, store, testkit.HMAC(tb, "httpauth tests"), &keyward.Options{Limiter: ratelimit.NewLocal(), Now: now})
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	c := testkit.NewClock(base)
	return &env{svc: newService(tb, memory.New(), c.Now), clock: c}
}

func (e *env) create(tb testing.TB, p keyward.CreateParams) keyward.Issued {
	tb.Helper()
	if p.Name == "" {
		p.Name = "test key"
	}
	iss, err := e.svc.Create(context.Background(), p)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return iss
}

// okHandler answers 200 with the name of the key on the context, or 500 if
// there is none.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	k, ok := keyward.KeyFromContext(r.Context())
	if !ok {
		http.Error(w, "no key on the context", http.StatusInternalServerError)
		return
	}
	w.Write([]byte("ok " + k.Name))
})

// serve runs one request through h.
func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func bearerRequest(key string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/things", nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return req
}

// stubVerifier returns a fixed result or error.
type stubVerifier struct {
	res keyward.Result
	err error
}

func (s stubVerifier) Verify(context.Context, keyward.VerifyRequest) (keyward.Result, error) {
	return s.res, s.err
}

// recordingVerifier remembers the last request and returns VALID.
type recordingVerifier struct {
	mu   sync.Mutex
	last keyward.VerifyRequest
	n    int
}

func (v *recordingVerifier) Verify(_ context.Context, req keyward.VerifyRequest) (keyward.Result, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last, v.n = req, v.n+1
	return keyward.Result{Outcome: keyward.OutcomeValid, Key: &keyward.Key{Name: "stub"}, Remaining: -1}, nil
}

func (v *recordingVerifier) Last() (keyward.VerifyRequest, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.last, v.n
}
