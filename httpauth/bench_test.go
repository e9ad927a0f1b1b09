package httpauth_test

import (
	"bufio"
	"bytes"
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

// The Serve benchmarks rebuild the request from its bytes on every
// iteration, as net/http does for every request before any handler runs, so
// the comparison includes the work a real server does per request (the
// Handler benchmarks above reuse one parsed request and so leave it out).
//
//	go test -run '^$' -bench 'BenchmarkServe' -benchmem -count 5 ./httpauth/

func runServe(b *testing.B, h http.Handler, key string) {
	b.Helper()
	raw := []byte("GET /v1/things HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nAuthorization: Bearer " + key + "\r\n\r\n")
	rd := bytes.NewReader(raw)
	br := bufio.NewReader(rd)
	parse := func() *http.Request {
		rd.Reset(raw)
		br.Reset(rd)
		req, err := http.ReadRequest(br)
		if err != nil {
			b.Fatal(err)
		}
		req.RemoteAddr = "127.0.0.1:50000"
		return req
	}
	if rec := serve(h, parse()); rec.Code != http.StatusOK {
		b.Fatalf("status %d (%s)", rec.Code, rec.Header().Get("X-Keyward-Code"))
	}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), parse())
	}
}

func BenchmarkServeBare(b *testing.B) {
	e := newEnv(b)
	runServe(b, trivial, e.create(b, keyward.CreateParams{}).Secret)
}

func BenchmarkServeGuarded(b *testing.B) {
	e := newEnv(b)
	runServe(b, httpauth.New(e.svc, nil)(trivial), e.create(b, keyward.CreateParams{}).Secret)
}

func BenchmarkServeGuardedRateLimited(b *testing.B) {
	e := newEnv(b)
	key := e.create(b, keyward.CreateParams{RateLimit: &keyward.RateLimit{Limit: 1 << 60, Period: keyward.Duration(time.Minute)}}).Secret
	runServe(b, httpauth.New(e.svc, nil)(trivial), key)
}
