package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward"
)

// panicServer is a server with two extra operations: /panic panics with a
// message that quotes a key, /abort with http.ErrAbortHandler.
func panicServer(t *testing.T, logs *bytes.Buffer) *Server {
	t.Helper()
	s, _ := internalServer(t, Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	huma.Register(s.api, huma.Operation{OperationID: "panic", Method: http.MethodGet, Path: "/panic"},
		func(context.Context, *struct{}) (*struct{}, error) {
			panic("no flux capacitor for " + testKey)
		})
	huma.Register(s.api, huma.Operation{OperationID: "abort", Method: http.MethodGet, Path: "/abort"},
		func(context.Context, *struct{}) (*struct{}, error) { panic(http.ErrAbortHandler) })
	return s
}

// testKey is a keyward key, checksum included, so that the log's redaction
// knows it.
var testKey = func() string {
	tok, err := keyward.NewToken("kw")
	if err != nil {
		panic(err)
	}
	return tok.String()
}()

// TestPanicIsA500AndOneLogLine: a handler that panics gets a 500 INTERNAL
// answer, not a closed connection, and one error line that says where,
// without a stack trace.
func TestPanicIsA500AndOneLogLine(t *testing.T) {
	var logs bytes.Buffer
	s := panicServer(t, &logs)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/panic", nil))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("X-Keyward-Code") != "INTERNAL" ||
		rec.Header().Get("Content-Type") != "application/problem+json" || strings.Contains(rec.Body.String(), "flux") {
		t.Fatalf("%d %v %s, want a 500 INTERNAL problem that says nothing of the cause", rec.Code, rec.Header(), rec.Body)
	}
	line := strings.TrimSpace(logs.String())
	if strings.Count(line, "\n") != 0 || !strings.Contains(line, `"level":"ERROR"`) || !strings.Contains(line, "no flux capacitor for") ||
		!strings.Contains(line, "recover_internal_test.go:") {
		t.Errorf("want one error line naming the panic and its line:\n%s", line)
	}
	if strings.Contains(line, "goroutine ") || strings.Contains(line, `\n`) {
		t.Errorf("the log line holds a stack trace:\n%s", line)
	}
	if strings.Contains(line, testKey) {
		t.Errorf("the log line holds the key the panic quoted:\n%s", line)
	}
}

// TestAbortHandlerPassesThrough: http.ErrAbortHandler is net/http's way to
// abort a response; it is not answered or logged as a failure.
func TestAbortHandlerPassesThrough(t *testing.T) {
	var logs bytes.Buffer
	s := panicServer(t, &logs)
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler to go on up", v)
		}
		if logs.Len() != 0 {
			t.Errorf("logged: %s", logs.String())
		}
	}()
	s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/abort", nil))
}
