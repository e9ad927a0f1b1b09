package httpauth_test

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/httpauth"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/store/memory"
)

// The guarded benchmarks are compared with BenchmarkHandlerBare: the same
// trivial handler and the same request (built once, carrying the key), a
// fresh httptest.ResponseRecorder per iteration. The Service is set up as
// keyward serve sets it up: a store behind package cache (here the memory
// store), the HMAC hasher, ratelimit.Local.
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

// newBenchEnv is newEnv with the memory store behind the cache.
func newBenchEnv(b *testing.B) *env {
	b.Helper()
	c, err := cache.New(memory.New(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() }) // registered first, so it runs after the Service's Close
	clk := testkit.NewClock(base)
	return &env{svc: newService(b, c, clk.Now), clock: clk}
}

// The three setups every harness below runs: a handler and the key its
// requests carry.

// bare is the trivial handler alone (the key is carried but not read).
func bare(b *testing.B) (http.Handler, string) {
	e := newBenchEnv(b)
	return trivial, e.create(b, keyward.CreateParams{}).Secret
}

// guarded is the trivial handler behind httpauth, with a valid key without a
// rate limit: a cache hit.
func guarded(b *testing.B) (http.Handler, string) {
	e := newBenchEnv(b)
	return httpauth.New(e.svc, nil)(trivial), e.create(b, keyward.CreateParams{}).Secret
}

// guardedRateLimited is guarded with a key that has a rate limit (never
// reached), through ratelimit.Local; the RateLimit headers are written.
func guardedRateLimited(b *testing.B) (http.Handler, string) {
	e := newBenchEnv(b)
	limit := &keyward.RateLimit{Limit: 1 << 60, Period: keyward.Duration(time.Minute)}
	return httpauth.New(e.svc, nil)(trivial), e.create(b, keyward.CreateParams{RateLimit: limit}).Secret
}

// rawRequest is the request the Serve and Server harnesses send.
func rawRequest(key string) []byte {
	return []byte("GET /v1/things HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nAuthorization: Bearer " + key + "\r\n\r\n")
}

func BenchmarkHandlerBare(b *testing.B) {
	h, key := bare(b)
	runHandler(b, h, bearerRequest(key))
}

func BenchmarkHandlerGuarded(b *testing.B) {
	h, key := guarded(b)
	runHandler(b, h, bearerRequest(key))
}

func BenchmarkHandlerGuardedRateLimited(b *testing.B) {
	h, key := guardedRateLimited(b)
	runHandler(b, h, bearerRequest(key))
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
	raw := rawRequest(key)
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
	h, key := bare(b)
	runServe(b, h, key)
}

func BenchmarkServeGuarded(b *testing.B) {
	h, key := guarded(b)
	runServe(b, h, key)
}

func BenchmarkServeGuardedRateLimited(b *testing.B) {
	h, key := guardedRateLimited(b)
	runServe(b, h, key)
}

// The Server benchmarks run the whole of net/http's server side: an
// http.Server serves one keep-alive connection that delivers the same request
// b.N times, and drops the responses after checking their status line. It is
// the per-request work of a real server (request parsing, the response
// writer, the connection loop, flushing) without the network and without a
// client, so the ratio of Guarded to Bare is the share of a trivial request's
// server-side cost that the middleware adds.
//
//	go test -run '^$' -bench 'BenchmarkServer' -benchmem -count 5 ./httpauth/

func runServer(b *testing.B, h http.Handler, key string) {
	b.Helper()
	raw := rawRequest(key)
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	run := func(n int) (ok, bad int) {
		c := &replayConn{req: raw, off: len(raw), left: n, closed: make(chan struct{})}
		ln := &oneConnListener{conn: c, done: make(chan struct{})}
		go srv.Serve(ln)
		<-c.closed
		close(ln.done)
		return c.ok, c.bad
	}
	if ok, bad := run(2); ok < 1 || bad > 0 {
		b.Fatalf("warm-up: %d responses 200, %d others", ok, bad)
	}
	b.ReportAllocs()
	b.ResetTimer()
	ok, bad := run(b.N)
	b.StopTimer()
	if bad > 0 || ok != b.N {
		b.Fatalf("%d responses 200, %d others, for %d requests", ok, bad, b.N)
	}
}

func BenchmarkServerBare(b *testing.B) {
	h, key := bare(b)
	runServer(b, h, key)
}

func BenchmarkServerGuarded(b *testing.B) {
	h, key := guarded(b)
	runServer(b, h, key)
}

func BenchmarkServerGuardedRateLimited(b *testing.B) {
	h, key := guardedRateLimited(b)
	runServer(b, h, key)
}

// replayConn is a connection whose peer sends req left times, then closes.
// The responses are counted by their status line and dropped.
type replayConn struct {
	mu      sync.Mutex
	req     []byte
	off     int
	left    int
	ok, bad int
	once    sync.Once
	closed  chan struct{}
}

var status200 = []byte("HTTP/1.1 200 ")

func (c *replayConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off == len(c.req) { // start the next request, if any
		if c.left == 0 {
			return 0, io.EOF
		}
		c.left--
		c.off = 0
	}
	n := copy(p, c.req[c.off:])
	c.off += n
	return n, nil
}

func (c *replayConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if bytes.HasPrefix(p, status200) {
		c.ok++
	} else {
		c.bad++
	}
	c.mu.Unlock()
	return len(p), nil
}

func (c *replayConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *replayConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
}
func (c *replayConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// oneConnListener accepts its connection once, then blocks until done.
type oneConnListener struct {
	conn net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }
