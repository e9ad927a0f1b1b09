package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/server/web"
)

// TestUnroutedAnswersAreProblems: an unknown route, a method a route does
// not take and a missing web asset are answered in problem+json, with the
// X-Keyward-Code header.
func TestUnroutedAnswersAreProblems(t *testing.T) {
	e := newEnvWith(t, func(c *server.Config) { c.WebUI = web.Handler() })
	for _, tc := range []struct {
		name, method, target string
		status               int
		code, allow          string
	}{
		{"unknown path", "GET", "/nope", 404, "NOT_FOUND", ""},
		{"unknown path under /v1", "POST", "/v1/keys/abc/frobnicate", 404, "NOT_FOUND", ""},
		{"unknown web asset", "GET", "/ui/nope.js", 404, "NOT_FOUND", ""},
		{"wrong method on /healthz", "PUT", "/healthz", 405, "INVALID_REQUEST", "GET, HEAD"},
		{"wrong method on /v1/keys", "DELETE", "/v1/keys", 405, "INVALID_REQUEST", "GET, HEAD, POST"},
		{"wrong method on a key", "POST", "/v1/keys/abc", 405, "INVALID_REQUEST", "DELETE, GET, HEAD, PATCH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(t, tc.method, tc.target, "")
			var p struct {
				Status int    `json:"status"`
				Code   string `json:"code"`
			}
			json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != tc.status || !isProblem(rec) || p.Status != tc.status || p.Code != tc.code ||
				rec.Header().Get("X-Keyward-Code") != tc.code {
				t.Errorf("%d %v %s, want %d %s in problem+json", rec.Code, rec.Header(), rec.Body, tc.status, tc.code)
			}
			if got := rec.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
	// The routes themselves still answer.
	for _, target := range []string{"/healthz", "/", "/ui/app.js", "/docs"} {
		if rec := e.do(t, "GET", target, ""); rec.Code != 200 {
			t.Errorf("GET %s: %d", target, rec.Code)
		}
	}
}

// TestGoErrorsAreProblems: the answers net/http writes itself, before any
// handler runs (a request that is not HTTP, headers over the limit, a
// transfer encoding it does not know), are problem+json too on a listener
// wrapped by server.ProblemListener.
func TestGoErrorsAreProblems(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := e.srv.NewHTTPServer(ln.Addr().String())
	go hs.Serve(server.ProblemListener(ln))
	defer hs.Close()
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"not HTTP", "HELLO\r\n\r\n", 400},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400},
		{"headers over 64 KiB", "GET /healthz HTTP/1.1\r\nHost: k\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n", 431},
		{"unknown transfer encoding", "POST /v1/keys HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: rot13\r\n\r\n", 501},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, tc.raw)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			var p struct {
				Status int    `json:"status"`
				Code   string `json:"code"`
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" ||
				json.Unmarshal(body, &p) != nil || p.Status != tc.status || p.Code != "INVALID_REQUEST" ||
				resp.Header.Get("X-Keyward-Code") != "INVALID_REQUEST" {
				t.Errorf("%d %v %q, want %d INVALID_REQUEST in problem+json", resp.StatusCode, resp.Header, body, tc.status)
			}
		})
	}
	// The listener serves ordinary requests as before, on kept-alive
	// connections.
	c := &http.Client{}
	for range 3 {
		resp, err := c.Get("http://" + ln.Addr().String() + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /healthz through the listener: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
