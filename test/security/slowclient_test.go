package security

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSlowClientCutOff holds a connection open with headers that never end,
// as a slowloris attack does: keyward serve closes it once its 5 s header
// timeout has passed (enforced by a sweep every half second), and goes on
// serving meanwhile.
func TestSlowClientCutOff(t *testing.T) {
	t.Parallel()
	s := start(t)
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	began := time.Now()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: keyward\r\nX-Slow: ")
	if r := s.Do(t, "GET", "/healthz", "", nil); r.Status != 200 {
		t.Fatalf("another client while one is slow: %d", r.Status)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := c.Read(make([]byte, 1))
	took := time.Since(began)
	if n != 0 || err != io.EOF {
		t.Fatalf("slow client: read %d bytes, %v after %v; want the server to close the connection", n, err, took)
	}
	if took < 5*time.Second {
		t.Fatalf("slow client cut off after %v, before the 5 s header timeout", took)
	}
}
