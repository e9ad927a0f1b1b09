package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
)

// TestHumaInternalErrorLogsItsCause: a 500 that huma builds (a handler
// error it does not know) is answered generically and logged with its
// cause.
func TestHumaInternalErrorLogsItsCause(t *testing.T) {
	var logs bytes.Buffer
	s, _ := internalServer(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	huma.Register(s.api, huma.Operation{OperationID: "boom", Method: http.MethodGet, Path: "/boom"},
		func(context.Context, *struct{}) (*struct{}, error) {
			return nil, errors.New("the flux capacitor broke")
		})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "flux") ||
		rec.Header().Get("X-Keyward-Code") != "INTERNAL" {
		t.Fatalf("%d %v %s, want a 500 INTERNAL that says nothing", rec.Code, rec.Header(), rec.Body)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "the flux capacitor broke") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}
}
