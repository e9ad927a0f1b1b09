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

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/memory"
)

// TestHumaInternalErrorLogsItsCause: a 500 that huma builds (a handler
// error it does not know) is answered generically and logged with its
// cause.
func TestHumaInternalErrorLogsItsCause(t *testing.T) {
	p, _ := keyhash.NewPepper([]byte("server test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(memory.New(), h, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	var logs bytes.Buffer
	s, err := New(Config{Service: svc, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
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
