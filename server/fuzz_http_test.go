package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/sqlite"
)

// The HTTP layer under arbitrary input: methods, paths, query strings,
// headers and bodies, sent to the real handler (server.New on a Service on
// SQLite in a temp dir). Whatever comes in: never a 5xx, never a panic,
// every error answered in problem+json with a code, no key string echoed in
// an error answer, and none ever logged.

// keyScanner fails a fuzz run that logs a key: it is the server's log.
type keyScanner struct{ found atomic.Pointer[string] }

func (k *keyScanner) Write(p []byte) (int, error) {
	if keys := findKeys(p); len(keys) > 0 && k.found.Load() == nil {
		line := string(p)
		k.found.Store(&line)
	}
	return len(p), nil
}

// httpFuzzEnv is a server on SQLite with a few keys, for a whole fuzz run.
type httpFuzzEnv struct {
	srv  *server.Server
	keys []string // valid, admin, revoked, rate-limited
	log  *keyScanner
}

func newHTTPFuzzEnv(f *testing.F) *httpFuzzEnv {
	f.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		f.Fatal(err)
	}
	p, _ := keyhash.NewPepper([]byte("server fuzz pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(st, h, &keyward.Options{Limiter: ratelimit.NewLocal(), UsageFlushInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close(ctx); st.Close() })
	e := &httpFuzzEnv{log: &keyScanner{}}
	e.srv, err = server.New(server.Config{Service: svc, AdminToken: adminToken, Version: "fuzz",
		Logger: slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		f.Fatal(err)
	}
	for _, cp := range []keyward.CreateParams{
		{Name: "plain", Scopes: []string{"read", "docs:*"}, Owner: "acme"},
		{Name: "admin", Scopes: []string{keyward.ScopeAdmin}},
		{Name: "revoked"},
		{Name: "limited", RateLimit: &keyward.RateLimit{Limit: 1, Period: keyward.Duration(60e9)}},
	} {
		iss, err := svc.Create(ctx, cp)
		if err != nil {
			f.Fatal(err)
		}
		e.keys = append(e.keys, iss.Secret)
		if cp.Name == "revoked" {
			svc.Revoke(ctx, iss.Key.ID)
		}
	}
	return e
}

// validMethod reports whether m is an HTTP token, as net/http accepts.
func validMethod(m string) bool {
	return m != "" && !strings.ContainsFunc(m, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	})
}

// parseHeaders reads "Name: value" lines, keeping only what can travel on
// the wire (a token name, a value without CR, LF or NUL).
func parseHeaders(blob string) http.Header {
	h := http.Header{}
	for _, line := range strings.Split(blob, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validMethod(name) || strings.ContainsAny(value, "\r\x00") {
			continue
		}
		h.Add(name, strings.Trim(value, " \t"))
	}
	return h
}

// expand replaces $ADMIN and $KEY0..$KEY3 in s, so that seeds can name
// credentials the fuzzer could never guess.
func (e *httpFuzzEnv) expand(s string) string {
	s = strings.ReplaceAll(s, "$ADMIN", adminToken)
	for i, k := range e.keys {
		s = strings.ReplaceAll(s, "$KEY"+string(rune('0'+i)), k)
	}
	return s
}

func FuzzHandler(f *testing.F) {
	e := newHTTPFuzzEnv(f)
	admin, key := "Authorization: Bearer $ADMIN\nContent-Type: application/json", "X-API-Key: $KEY0"
	for _, s := range []struct{ method, path, query, header, body string }{
		{"GET", "/healthz", "", "", ""},
		{"GET", "/v1/auth", "scopes=read&cost=0", key, ""},
		{"POST", "/v1/auth", "scope_query=read%20and%20(docs:x%20or%20y)", "Authorization: bearer $KEY0", ""},
		{"GET", "/v1/auth", "", "Authorization: Bearer $KEY0\nX-API-Key: $KEY1", ""},
		{"GET", "/v1/auth", "cost=-1&scopes=,,", "X-API-Key: $KEY2", ""},
		{"GET", "/v1/auth", "", "X-API-Key: $KEY3\nX-Forwarded-For: 10.0.0.1, nope", ""},
		{"POST", "/v1/keys", "", admin, `{"name":"x","scopes":["a"],"rate_limit":{"limit":5,"period":"1m"}}`},
		{"POST", "/v1/keys", "", admin, "{\"name\":\"a\xffb\",\"allowed_cidrs\":[\"$KEY0\"]}"},
		{"PATCH", "/v1/keys/0123456789abcdef", "", admin, `{"name":null,"remaining":1e30}`},
		{"GET", "/v1/keys", "limit=1001&status=zombie&cursor=!!", admin, ""},
		{"GET", "/v1/keys/$KEY0", "", admin, ""},
		{"POST", "/v1/keys/verify", "", admin, `{"key":"$KEY0","scopes":["read"],"cost":0,"client_ip":"10.0.0.1"}`},
		{"POST", "/v1/keys/verify", "", "Authorization: Bearer $KEY1", `{"key":"$KEY2"}`},
		{"PUT", "/v1/owners/acme", "", admin, `{"remaining":5,"refill":{"interval":"daily","amount":5}}`},
		{"PUT", "/v1/roles/reader", "", admin, `{"scopes":["docs:read"]}`},
		{"GET", "/v1/keys/abc/usage", "from=2020-01-01T00:00:00Z&bucket=minute", admin, ""},
		{"DELETE", "/v1/keys", "", admin, ""},
		{"OPTIONS", "/nope/$KEY0", "api_key=$KEY0", "", ""},
		{"GET", "/ui/../../etc/passwd", "", "", ""},
		{"POST", "/v1/keys/x/rotate", "", admin, `{"grace_period":"99999999999999h"}`},
	} {
		f.Add(s.method, s.path, s.query, s.header, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, query, header string, body []byte) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") {
			t.Skip("not a request net/http would pass on")
		}
		path, query, header = e.expand(path), e.expand(query), e.expand(header)
		body = []byte(e.expand(string(body)))
		req := &http.Request{
			Method: method, URL: &url.URL{Path: path, RawQuery: query}, RequestURI: path,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: "keyward.test",
			Header: parseHeaders(header), Body: io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)), RemoteAddr: "192.0.2.1:1234",
		}
		req = req.WithContext(context.Background())
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		checkHTTPAnswer(t, rec)
		if line := e.log.found.Load(); line != nil {
			t.Fatalf("the server logged a key: %s", *line)
		}
	})
}

// checkHTTPAnswer fails for a 5xx, for an error that is not a problem
// with a code (in the body and in X-Keyward-Code), and for an error that
// holds a key string.
func checkHTTPAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if rec.Code < 400 {
		return
	}
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil ||
		p.Status != rec.Code || p.Code == "" || rec.Header().Get("X-Keyward-Code") != p.Code {
		t.Fatalf("status %d, %s, X-Keyward-Code %q: %q, want a problem with a code", rec.Code, ct, rec.Header().Get("X-Keyward-Code"), rec.Body)
	}
	var headers strings.Builder
	rec.Header().Write(&headers)
	if keys := findKeys(append(rec.Body.Bytes(), headers.String()...)); len(keys) > 0 {
		t.Fatalf("status %d echoes a key: %s\n%s", rec.Code, rec.Body, headers.String())
	}
}

// FuzzWire sends raw bytes to keyward's http.Server on a loopback listener
// wrapped by server.ProblemListener: net/http's parser, its own answers and
// the handler, together. Every answer must parse, none may be a 500, and
// every error must be a problem (but a HEAD's, which has no body, and Go's
// empty 417 for an Expect it does not know, which docs/security.md lists).
func FuzzWire(f *testing.F) {
	e := newHTTPFuzzEnv(f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	hs := e.srv.NewHTTPServer(ln.Addr().String())
	go hs.Serve(server.ProblemListener(ln))
	f.Cleanup(func() { hs.Close() })
	for _, s := range []string{
		"GET /healthz HTTP/1.1\r\nHost: k\r\n\r\n",
		"GET /v1/auth?scopes=read HTTP/1.1\r\nHost: k\r\nX-API-Key: $KEY0\r\n\r\nGET /v1/auth HTTP/1.1\r\nHost: k\r\n\r\n",
		"POST /v1/keys HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer $ADMIN\r\nContent-Length: 12\r\n\r\n{\"name\":\"x\"}",
		"POST /v1/keys HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer $ADMIN\r\nTransfer-Encoding: chunked\r\n\r\nc\r\n{\"name\":\"x\"}\r\n0\r\n\r\n",
		"POST /v1/keys HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer $ADMIN\r\nContent-Length: 99\r\n\r\n{\"name\"",
		"GET /nope/$KEY0 HTTP/1.1\r\nHost: k\r\n\r\n",
		"HELLO\r\n\r\n", "GET / HTTP/9.9\r\nHost: k\r\n\r\n", "GET / HTTP/1.1\r\n\r\n",
		"POST /v1/keys HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: gzip\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: k\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HEAD /v1/keys HTTP/1.1\r\nHost: k\r\n\r\n", "GET /healthz HTTP/1.0\r\n\r\n",
		"HEAD /v1/keys HTTP/1.1\r\nHost: k\r\n\r\nGET /nope HTTP/1.1\r\nHost: k\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = []byte(e.expand(string(raw)))
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A generous deadline: a shared host under load can stall a SQLite
		// write for seconds, and the fuzz engine runs inputs back to back.
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		conn.Write(raw)
		conn.(*net.TCPConn).CloseWrite()
		checkWireAnswers(t, bufio.NewReader(conn), requestMethods(raw))
	})
}

// checkWireAnswers reads the answers on a connection to its end and checks
// each; methods are those of the requests sent, in order.
func checkWireAnswers(t *testing.T, rd *bufio.Reader, methods []string) {
	for i := 0; ; {
		// The request each answer is for: an answer to a HEAD has headers
		// (Content-Length too) and no body.
		var req *http.Request
		if i < len(methods) {
			req = &http.Request{Method: methods[i]}
		}
		resp, err := http.ReadResponse(rd, req)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
				return // the server closed the connection: no (more) answers
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("no answer within 30 s: %v", err)
			}
			t.Fatalf("an answer that does not parse: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusInternalServerError {
			t.Fatalf("500: %s", body)
		}
		head := req != nil && req.Method == http.MethodHead
		if resp.StatusCode >= 400 && resp.StatusCode != http.StatusExpectationFailed && !head {
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" && len(body) > 0 {
				t.Fatalf("%d %s: %q, want a problem", resp.StatusCode, ct, body)
			}
			if keys := findKeys(body); len(keys) > 0 {
				t.Fatalf("%d echoes a key: %s", resp.StatusCode, body)
			}
		}
		if resp.Close {
			// The last answer: net/http's own answers (to a request it
			// refused before any handler, which may be a HEAD it did not
			// take as one) carry a body and close the connection.
			return
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			i++ // not an interim answer (100 Continue): the next is for the next request
		}
	}
}

// requestMethods reads the requests in raw as net/http's server reads them
// and returns their methods in order, up to the first that does not parse.
func requestMethods(raw []byte) []string {
	br := bufio.NewReader(bytes.NewReader(raw))
	var methods []string
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return methods
		}
		methods = append(methods, req.Method)
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return methods
		}
	}
}
