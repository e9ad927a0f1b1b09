package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// coarsePair is a connection accepted by a coarseListener driven by ticks
// the test sends, and the client's end of it.
type coarsePair struct {
	l      *coarseListener
	server net.Conn
	client net.Conn
	ticks  chan time.Time
	swept  chan struct{}
}

func newCoarsePair(t *testing.T, start time.Time) *coarsePair {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &coarsePair{ticks: make(chan time.Time), swept: make(chan struct{})}
	p.l = newCoarseListener(ln, start, p.ticks, func() {}, func() { p.swept <- struct{}{} })
	t.Cleanup(func() { p.l.Close() })
	if p.client, err = net.Dial("tcp", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.client.Close() })
	if p.server, err = p.l.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.server.Close() })
	return p
}

// tick sweeps at time t and waits for the sweep to end.
func (p *coarsePair) tick(t time.Time) {
	p.ticks <- t
	<-p.swept
}

// read writes b from the client and reads it on the server's end.
func (p *coarsePair) read(t *testing.T, b string) error {
	t.Helper()
	if b != "" {
		if _, err := p.client.Write([]byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, len(b)+1)
	_, err := io.ReadFull(p.server, buf[:max(len(b), 1)])
	return err
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

func TestCoarseDeadlineFiresAtTheFirstSweepAfterIt(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	p := newCoarsePair(t, t0)
	p.server.SetReadDeadline(t0.Add(5 * time.Second))
	p.tick(t0.Add(4 * time.Second))
	if err := p.read(t, "a"); err != nil {
		t.Fatalf("read before the deadline: %v", err)
	}
	p.tick(t0.Add(6 * time.Second))
	if err := p.read(t, ""); !isTimeout(err) {
		t.Fatalf("read after the sweep past the deadline: %v, want a timeout", err)
	}
	// A new future deadline lifts the expired one.
	p.server.SetReadDeadline(t0.Add(100 * time.Second))
	if err := p.read(t, "b"); err != nil {
		t.Fatalf("read after a new deadline: %v", err)
	}
	// A deadline before the latest sweep is past: it holds at once.
	p.server.SetReadDeadline(t0.Add(time.Second))
	if err := p.read(t, ""); !isTimeout(err) {
		t.Fatalf("read after a past deadline: %v, want a timeout", err)
	}
	// Zero clears it.
	p.server.SetReadDeadline(time.Time{})
	if err := p.read(t, "c"); err != nil {
		t.Fatalf("read after clearing the deadline: %v", err)
	}
	// Cleared, no sweep fires it.
	p.tick(t0.Add(1000 * time.Second))
	if err := p.read(t, "d"); err != nil {
		t.Fatalf("read after a sweep with no deadline: %v", err)
	}
}

func TestCoarseDeadlineWakesABlockedRead(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	p := newCoarsePair(t, t0)
	p.server.SetDeadline(t0.Add(30 * time.Second))
	errc := make(chan error, 1)
	go func() { errc <- p.read(t, "") }()
	p.tick(t0.Add(31 * time.Second))
	select {
	case err := <-errc:
		if !isTimeout(err) {
			t.Fatalf("blocked read: %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sweep past the deadline did not wake the blocked read")
	}
}

func TestCoarseWriteDeadline(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	p := newCoarsePair(t, t0)
	p.server.SetWriteDeadline(t0.Add(30 * time.Second))
	if _, err := p.server.Write([]byte("x")); err != nil {
		t.Fatalf("write before the deadline: %v", err)
	}
	p.tick(t0.Add(30 * time.Second))
	if _, err := p.server.Write([]byte("y")); !isTimeout(err) {
		t.Fatalf("write after the sweep at the deadline: %v, want a timeout", err)
	}
	p.server.SetWriteDeadline(time.Time{})
	if _, err := p.server.Write([]byte("z")); err != nil {
		t.Fatalf("write after clearing the deadline: %v", err)
	}
}

func TestCoarseConnLeavesTheSweepWhenClosed(t *testing.T) {
	p := newCoarsePair(t, time.Now())
	p.server.Close()
	p.l.mu.Lock()
	n := len(p.l.conns)
	p.l.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d connections tracked after the only one closed", n)
	}
}

// An http.Server on a coarse listener keeps its timeouts: a client that
// never finishes its headers is cut off after ReadHeaderTimeout, and a
// connection that carries requests across many sweeps is never cut off
// by the deadlines of requests already answered.
func TestHTTPTimeoutsOverCoarseDeadlines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ticker := time.NewTicker(20 * time.Millisecond)
	swept := make(chan struct{}, 1)
	cl := newCoarseListener(ln, time.Now(), ticker.C, ticker.Stop, func() {
		select {
		case swept <- struct{}{}:
		default:
		}
	})
	const headerTimeout = 200 * time.Millisecond
	hs := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ReadHeaderTimeout: headerTimeout, ReadTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: time.Minute,
	}
	go hs.Serve(cl)
	t.Cleanup(func() { hs.Close() })

	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n") // never ends its headers
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := slow.Read(make([]byte, 1))
	elapsed := time.Since(start)
	if n != 0 || err == nil || isTimeout(err) {
		t.Fatalf("slow client: read %d bytes, %v; want the server to close the connection", n, err)
	}
	if elapsed < headerTimeout {
		t.Fatalf("slow client cut off after %v, before ReadHeaderTimeout %v", elapsed, headerTimeout)
	}

	fast, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	rd := bufio.NewReader(fast)
	ask := func(i int) {
		t.Helper()
		io.WriteString(fast, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatalf("request %d on a kept-alive connection: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, body)
		}
	}
	ask(0)
	// Past the header and write deadlines of the first request, which
	// net/http cleared when it answered.
	for range 2 * int(time.Second/(20*time.Millisecond)) {
		<-swept
	}
	ask(1)
}
