package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

// rawRequest writes raw to a new connection to ts, half-closes it (the
// client sends nothing more) and reads the response.
func rawRequest(t *testing.T, ts *httptest.Server, raw string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

// TestBrokenBodyIsInvalidRequest: a body shorter than its Content-Length,
// or with broken chunked encoding, is the client's fault: 400
// INVALID_REQUEST, not 500.
func TestBrokenBodyIsInvalidRequest(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(e.srv.Handler())
	defer ts.Close()
	head := "POST /v1/keys HTTP/1.1\r\nHost: keyward\r\nAuthorization: Bearer " + adminToken + "\r\nContent-Type: application/json\r\n"
	for _, tc := range []struct{ name, raw string }{
		{"shorter than Content-Length", head + "Content-Length: 100\r\n\r\n{\"name\":\"x\""},
		{"bad chunk size", head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{\"name\":\"x\"}\r\n0\r\n\r\n"},
		{"chunk longer than announced", head + "Transfer-Encoding: chunked\r\n\r\n3\r\n{\"name\":\"x\"}\r\n0\r\n\r\n"},
		{"chunked body cut off", head + "Transfer-Encoding: chunked\r\n\r\n20\r\n{\"name\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawRequest(t, ts, tc.raw)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" ||
				resp.Header.Get("X-Keyward-Code") != api.CodeInvalidRequest || !strings.Contains(string(body), `"code":"INVALID_REQUEST"`) {
				t.Errorf("%d %s %s, want 400 INVALID_REQUEST", resp.StatusCode, resp.Header, body)
			}
		})
	}
}

// TestBodyOfAnotherMediaTypeIsInvalidRequest: the contract answers a body
// that is not JSON with 400 INVALID_REQUEST; one sent as another media type
// than JSON (or curl's form encoding, read as JSON) is that too, not 415.
func TestBodyOfAnotherMediaTypeIsInvalidRequest(t *testing.T) {
	e := newEnv(t)
	for _, ct := range []string{"text/plain", "application/xml", "multipart/form-data; boundary=x"} {
		rec := e.do(t, "POST", "/v1/keys", `{"name":"typed"}`, "Authorization", "Bearer "+adminToken, "Content-Type", ct)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("X-Keyward-Code") != api.CodeInvalidRequest ||
			!strings.Contains(rec.Body.String(), "Content-Type: application/json") {
			t.Errorf("%s: %d %v %s, want 400 INVALID_REQUEST naming the media type", ct, rec.Code, rec.Header(), rec.Body)
		}
	}
	if rec := e.do(t, "POST", "/v1/keys", `{"name":"form"}`, "Authorization", "Bearer "+adminToken, "Content-Type", "application/x-www-form-urlencoded"); rec.Code != http.StatusCreated {
		t.Errorf("curl's default media type: %d %s, want 201", rec.Code, rec.Body)
	}
}

// brokenStore fails every read with an error the server cannot classify.
type brokenStore struct{ keyward.Store }

var errDiskOnFire = errors.New("disk on fire")

func (brokenStore) List(context.Context, keyward.ListFilter) ([]*keyward.Key, error) {
	return nil, errDiskOnFire
}

// TestInternalErrorLogsItsCause: a 500 says nothing to the client but logs
// why.
func TestInternalErrorLogsItsCause(t *testing.T) {
	p, _ := keyhash.NewPepper([]byte("server test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(brokenStore{memory.New()}, h, &keyward.Options{Limiter: ratelimit.NewLocal(), UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	e := newEnvWith(t, func(c *server.Config) { c.Service = svc })
	rec := e.admin(t, "GET", "/v1/keys", "")
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "fire") {
		t.Fatalf("%d %s, want a 500 that says nothing", rec.Code, rec.Body)
	}
	if log := e.log.String(); !strings.Contains(log, `"level":"ERROR"`) || !strings.Contains(log, "disk on fire") {
		t.Errorf("the log does not say why:\n%s", log)
	}
}

// ctxStore fails every List with its context's error, as a database driver
// does when the request is canceled.
type ctxStore struct{ keyward.Store }

func (s ctxStore) List(ctx context.Context, f keyward.ListFilter) ([]*keyward.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: listing: %w", err)
	}
	return s.Store.List(ctx, f)
}

// TestClientGoneIsNotAnInternalError: when the client goes away (net/http
// cancels the request's context, as it does when the client closes or
// half-closes the connection), the store's context error is not a 500 nor
// an error in the log: 499 CLIENT_CLOSED_REQUEST, which only the log sees.
func TestClientGoneIsNotAnInternalError(t *testing.T) {
	p, _ := keyhash.NewPepper([]byte("server test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(ctxStore{memory.New()}, h, &keyward.Options{Limiter: ratelimit.NewLocal(), UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	e := newEnvWith(t, func(c *server.Config) { c.Service = svc })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/v1/keys", nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	if rec.Code != 499 || rec.Header().Get("X-Keyward-Code") != "CLIENT_CLOSED_REQUEST" {
		t.Errorf("%d %v %s, want 499 CLIENT_CLOSED_REQUEST", rec.Code, rec.Header(), rec.Body)
	}
	if log := e.log.String(); strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("a client that went away is logged as an error:\n%s", log)
	}
}
