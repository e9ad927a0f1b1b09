package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DeadlineTick is how often a CoarseDeadlines listener enforces the
// deadlines of its connections: a deadline takes effect up to this much
// after the time it names.
const DeadlineTick = 500 * time.Millisecond

// CoarseDeadlines returns a listener whose connections keep their read and
// write deadlines in memory and enforce them from one goroutine that looks
// at every connection each DeadlineTick, instead of arming a runtime timer
// for each: net/http with timeouts sets five deadlines a request, each a
// timer operation that together cost about a twentieth of a /v1/auth request
// under load (docs/benchmarks.md). http.Server's timeouts keep their
// meaning, at a granularity of DeadlineTick: a client that holds its headers
// past ReadHeaderTimeout is cut off at most DeadlineTick later.
//
// A deadline already in the past when it is set (net/http sets one to wake a
// blocked read) and a zero deadline that clears an enforced one go to the
// connection at once. The enforcing goroutine ends when the listener is
// closed. It works below TLS too: wrap the TCP listener, then hand it to
// ServeTLS.
func CoarseDeadlines(ln net.Listener) net.Listener {
	ticker := time.NewTicker(DeadlineTick)
	return newCoarseListener(ln, time.Now(), ticker.C, ticker.Stop, nil)
}

// coarseListener tracks its open connections for the enforcing goroutine.
type coarseListener struct {
	net.Listener
	now   atomic.Int64 // Unix nanoseconds of the latest tick: earlier deadlines are past
	mu    sync.Mutex
	conns map[*coarseConn]struct{}
	done  chan struct{}
	close sync.Once
	swept func() // tests: called after each sweep
}

// newCoarseListener enforces deadlines at each time ticks sends, the first
// tick being now; it calls stop when it ends and swept (if not nil) after
// each sweep.
func newCoarseListener(ln net.Listener, now time.Time, ticks <-chan time.Time, stop, swept func()) *coarseListener {
	l := &coarseListener{Listener: ln, conns: map[*coarseConn]struct{}{}, done: make(chan struct{}), swept: swept}
	l.now.Store(now.UnixNano())
	go l.enforce(ticks, stop)
	return l
}

func (l *coarseListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &coarseConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[cc] = struct{}{}
	l.mu.Unlock()
	return cc, nil
}

func (l *coarseListener) Close() error {
	l.close.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// enforce sweeps the connections at every tick until the listener closes.
func (l *coarseListener) enforce(ticks <-chan time.Time, stop func()) {
	defer stop()
	for {
		select {
		case <-l.done:
			return
		case t := <-ticks:
			now := t.UnixNano()
			l.now.Store(now)
			l.sweep(now)
			if l.swept != nil {
				l.swept()
			}
		}
	}
}

// sweep arms the real deadline of every connection whose deadline has come.
func (l *coarseListener) sweep(now int64) {
	l.mu.Lock()
	conns := make([]*coarseConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.expire(now)
	}
}

// coarseConn is a connection whose future deadlines wait in memory.
type coarseConn struct {
	net.Conn
	l     *coarseListener
	mu    sync.Mutex // held while the connection's own deadline changes
	read  deadline
	write deadline
}

// deadline is one direction's deadline: when (Unix nanoseconds, 0 for none)
// and whether the connection's own deadline is set (armed), to when or to a
// time in the past.
//
// Setting a future deadline, the most frequent call by far, takes no lock:
// it stores when, then looks at armed. The sweep stores armed, then looks at
// when again. Go's atomics are sequentially consistent, so at least one of
// the two sees the other's store: either the setter sees armed and lifts it
// under the lock, or the sweep sees the new when and lifts what it armed.
type deadline struct {
	when  atomic.Int64
	armed atomic.Bool
}

func (c *coarseConn) SetReadDeadline(t time.Time) error {
	return c.set(&c.read, t, c.Conn.SetReadDeadline)
}

func (c *coarseConn) SetWriteDeadline(t time.Time) error {
	return c.set(&c.write, t, c.Conn.SetWriteDeadline)
}

func (c *coarseConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// set records t for one direction: a past t is set on the connection at
// once; a zero or future one is recorded, and lifts what a sweep or a past
// deadline armed.
func (c *coarseConn) set(d *deadline, t time.Time, real func(time.Time) error) error {
	var when int64
	if !t.IsZero() {
		when = t.UnixNano()
		if when <= c.l.now.Load() {
			c.mu.Lock()
			defer c.mu.Unlock()
			d.when.Store(when)
			d.armed.Store(true)
			return real(t)
		}
	}
	d.when.Store(when)
	if !d.armed.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !d.armed.Load() || d.when.Load() != when {
		return nil // the sweep lifted it, or a later call owns it
	}
	d.armed.Store(false)
	return real(time.Time{})
}

// expire arms each direction whose deadline is at or before now.
func (c *coarseConn) expire(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read.expire(now, c.Conn.SetReadDeadline)
	c.write.expire(now, c.Conn.SetWriteDeadline)
}

// expire arms d if its deadline has come, and lifts it again if a setter
// moved the deadline meanwhile. The caller holds the connection's lock.
func (d *deadline) expire(now int64, real func(time.Time) error) {
	when := d.when.Load()
	if when == 0 || when > now || d.armed.Load() {
		return
	}
	d.armed.Store(true)
	real(time.Unix(0, when))
	if d.when.Load() != when {
		d.armed.Store(false)
		real(time.Time{})
	}
}

func (c *coarseConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
