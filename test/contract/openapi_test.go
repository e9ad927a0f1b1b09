// Package contract checks keyward's published contract with tools that the
// library itself must not depend on. It is its own module, so that they never
// enter the go.mod of keyward's users.
//
// TestOpenAPIDocumentValid validates the OpenAPI document that server
// serves against the OpenAPI 3.1 schema (libopenapi-validator); server's own
// test compares the same document with its golden file.
package contract

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

// newServer builds keyward's HTTP server in-process, on the memory store.
func newServer(tb testing.TB) *server.Server {
	tb.Helper()
	p, err := keyhash.NewPepper([]byte("contract test pepper, thirty-two bytes"))
	if err != nil {
		tb.Fatal(err)
	}
	h, err := keyhash.NewHMAC(p)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := keyward.New(memory.New(), h, &keyward.Options{Limiter: ratelimit.NewLocal(), UsageFlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	srv, err := server.New(server.Config{Service: svc, AdminToken: "contract-test-admin-token-0123456789", Version: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

// TestOpenAPIDocumentValid checks that the served document is OpenAPI 3.1.0
// and validates against the OpenAPI 3.1 schema.
func TestOpenAPIDocumentValid(t *testing.T) {
	rec := httptest.NewRecorder()
	newServer(t).Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /openapi.json: %d", rec.Code)
	}
	raw, _ := io.ReadAll(rec.Body)

	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	if doc.GetVersion() != "3.1.0" {
		t.Errorf("OpenAPI version %q, want 3.1.0", doc.GetVersion())
	}
	valid, errs := schema_validation.ValidateOpenAPIDocument(doc)
	for _, e := range errs {
		t.Errorf("invalid OpenAPI 3.1: %s: %s", e.Message, e.Reason)
		for _, v := range e.SchemaValidationErrors {
			t.Errorf("  %s at %s", v.Reason, v.FieldPath)
		}
	}
	if !valid {
		t.Fatal("the document does not validate as OpenAPI 3.1")
	}
}
