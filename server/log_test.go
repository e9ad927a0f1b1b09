package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// TestNoKeyInLog sends keys where a careless client puts them, in paths
// (admin routes, unknown routes, percent-encoded) and queries, and finds no
// key string in the log, while the key's public id is there.
func TestNoKeyInLog(t *testing.T) {
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{})
	key := iss.Secret
	encoded := strings.Replace(key, "_", "%5F", 1)
	for _, target := range []string{
		"/v1/keys/" + key,
		"/v1/keys/" + key + "/usage",
		"/v1/keys/" + encoded,
		"/nope/" + key,
		"/v1/auth/" + key,
		"/v1/auth?api_key=" + key,
		"/docs/" + key + "?x=" + key,
	} {
		e.admin(t, "GET", target, "")
		e.do(t, "GET", target, "")
	}
	log := e.log.String()
	if keys := findKeys([]byte(log)); len(keys) > 0 {
		t.Fatalf("the log holds %d key(s):\n%s", len(keys), log)
	}
	if !strings.Contains(log, iss.Key.ID) {
		t.Errorf("the log does not name the key's public id:\n%s", log)
	}
}

// TestErrorLogRedactsKeys: what http.Server writes to its ErrorLog (a panic
// message, a protocol error) reaches the log without a key.
func TestErrorLogRedactsKeys(t *testing.T) {
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{})
	hs := e.srv.NewHTTPServer("127.0.0.1:0")
	hs.ErrorLog.Printf("http: panic serving 192.0.2.1:1234: bad path /v1/keys/%s", iss.Secret)
	log := e.log.String()
	if keys := findKeys([]byte(log)); len(keys) > 0 || !strings.Contains(log, "panic serving") {
		t.Fatalf("the error log line holds %d key(s), or is missing:\n%s", len(keys), log)
	}
}

// logLines returns the JSON lines of the log whose msg is msg.
func logLines(t *testing.T, log, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestRejectionFloodLogIsBounded: an unauthenticated flood writes a
// bounded number of access lines per code, while the verification metrics
// count every rejection.
func TestRejectionFloodLogIsBounded(t *testing.T) {
	e := newEnv(t)
	const n = 300
	for i := range n {
		e.do(t, "GET", "/v1/auth", "", "X-API-Key", fmt.Sprintf("garbage-%d", i))
		e.do(t, "GET", "/v1/auth", "")
		e.do(t, "GET", "/v1/keys", "")
	}
	perCode := map[any]int{}
	for _, l := range logLines(t, e.log.String(), "request") {
		perCode[l["code"]]++
	}
	for _, code := range []string{"MALFORMED", "MISSING", "UNAUTHORIZED"} {
		if perCode[code] == 0 || perCode[code] > 10 {
			t.Errorf("%d access lines for %s, want 1 to 10: %v", perCode[code], code, perCode)
		}
	}
	if got := e.svc.Stats()[keyward.OutcomeMalformed]; got != n {
		t.Errorf("the metrics count %d MALFORMED, want %d", got, n)
	}
}
