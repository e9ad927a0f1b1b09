package httpauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
)

// The guarded benchmarks are compared with BenchmarkHandlerBare: the same
// trivial handler and the same request (built once, carrying the key), a
// fresh httptest.ResponseRecorder per iteration.
//
//	go test -run '^$' -bench BenchmarkHandler -benchmem -benchtime 1s -count 3 ./httpauth/

var okBody = []byte("ok")

var trivial = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(okBody) })

func runHandler(b *testing.B, h http.Handler, req *http.Request) {
	b.Helper()
	if rec := serve(h, req); rec.Code != http.StatusOK {
		b.Fatalf("status %d (%s)", rec.Code, rec.Header().Get("X-Keyward-Code"))
	}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func BenchmarkHandlerBare(b *testing.B) {
	e := newEnv(b)
	runHandler(b, trivial, bearerRequest(e.create(b, keyward.CreateParams{}).Secret))
}

// BenchmarkHandlerGuarded: a valid key without a rate limit, verified by a
// Service on the memory store with the HMAC hasher.
func BenchmarkHandlerGuarded(b *testing.B) {
	e := newEnv(b)
	req := bearerRequest(e.create(b, keyward.CreateParams{}).Secret)
	runHandler(b, httpauth.New(e.svc, nil)(trivial), req)
}

// BenchmarkHandlerGuardedRateLimited: a key with a rate limit (never
// reached), through ratelimit.Local; the RateLimit headers are formatted.
func BenchmarkHandlerGuardedRateLimited(b *testing.B) {
	e := newEnv(b)
	req := bearerRequest(e.create(b, keyward.CreateParams{
		RateLimit: &keyward.RateLimit{Limit: 1 << 60, Period: keyward.Duration(time.Minute)},
	}).Secret)
	runHandler(b, httpauth.New(e.svc, nil)(trivial), req)
}

// BenchmarkHandlerGuardedStub isolates the middleware's own cost: the
// Verifier returns a ready VALID result without any work.
func BenchmarkHandlerGuardedStub(b *testing.B) {
	v := stubVerifier{res: keyward.Result{Outcome: keyward.OutcomeValid, Key: &keyward.Key{}, Remaining: -1}}
	runHandler(b, httpauth.New(v, nil)(trivial), bearerRequest("kw_any"))
}
