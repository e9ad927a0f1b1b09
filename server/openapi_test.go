package server_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestOpenAPIDocument checks that the served document lists every path of
// the contract and that it matches the golden file (go test ./server -run
// OpenAPI -update to accept a change). test/contract, a module of its own,
// validates the same document against the OpenAPI 3.1 schema.
func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /openapi.json: %d", rec.Code)
	}
	raw, _ := io.ReadAll(rec.Body)

	var parsed struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	json.Unmarshal(raw, &parsed)
	want := map[string][]string{
		"/v1/keys":                {"get", "post"},
		"/v1/keys/{id}":           {"delete", "get", "patch"},
		"/v1/keys/{id}/revoke":    {"post"},
		"/v1/keys/{id}/rotate":    {"post"},
		"/v1/keys/{id}/usage":     {"get"},
		"/v1/audit":               {"get"},
		"/v1/policy":              {"get"},
		"/v1/stats/hygiene":       {"get"},
		"/v1/keys/verify":         {"post"},
		"/v1/owners":              {"get"},
		"/v1/owners/{name}":       {"delete", "get", "patch", "put"},
		"/v1/owners/{name}/usage": {"get"},
		"/v1/roles":               {"get"},
		"/v1/roles/{name}":        {"delete", "get", "put"},
		"/v1/auth":                {"get"},
		"/healthz":                {"get"},
		"/readyz":                 {"get"},
		"/metrics":                {"get"},
		"/openapi.json":           {"get"},
		"/docs":                   {"get"},
		"/":                       {"get"},
	}
	for path, methods := range want {
		ops, ok := parsed.Paths[path]
		if !ok {
			t.Errorf("path %s missing", path)
			continue
		}
		for _, m := range methods {
			if _, ok := ops[m]; !ok {
				t.Errorf("%s %s missing", m, path)
			}
		}
	}

	var pretty bytes.Buffer
	json.Indent(&pretty, raw, "", "  ")
	golden := filepath.Join("testdata", "openapi.json")
	if *update {
		os.WriteFile(golden, pretty.Bytes(), 0o644)
	}
	old, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("golden file: %v (run with -update to create it)", err)
	}
	if !bytes.Equal(old, pretty.Bytes()) {
		t.Errorf("the OpenAPI document changed; review it and run go test ./server -run OpenAPI -update")
	}
}
