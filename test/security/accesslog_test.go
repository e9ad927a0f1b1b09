package security

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testserver"
)

// accessLines returns the access lines (msg "request") of a server's log.
func accessLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// TestAccessLogDefaultAndAll runs the same traffic against keyward serve
// with the default access log and with --access-log all: by default only
// the admin requests and the rejections get a line (none of the many
// successful verifications and health checks), with all every request
// does; neither ever logs a key.
func TestAccessLogDefaultAndAll(t *testing.T) {
	const valid, health = 40, 20
	for _, mode := range []string{"default", "all"} {
		t.Run(mode, func(t *testing.T) {
			s := testserver.Start(t, nil, "--database-url", "sqlite:"+filepath.Join(t.TempDir(), "k.db"),
				"--admin-token", adminToken, "--access-log", mode)
			k := create(t, s, map[string]any{"name": "a", "scopes": []string{"read"}})
			for range valid {
				s.Do(t, "GET", "/v1/auth?scopes=read", "", nil, "X-API-Key", k.Secret)
			}
			for range health {
				s.Do(t, "GET", "/healthz", "", nil)
			}
			s.Do(t, "POST", "/v1/keys/verify", adminToken, map[string]any{"key": k.Secret})
			rejections := []testserver.Response{
				s.Do(t, "GET", "/v1/auth", "", nil),
				s.Do(t, "GET", "/v1/auth?scopes=write", "", nil, "X-API-Key", k.Secret),
				s.Do(t, "GET", "/v1/keys", "", nil),
				s.Do(t, "GET", "/v1/keys/"+k.Secret, adminToken, nil),
			}
			s.Stop()
			log := s.Log()
			lines := accessLines(t, log)
			count := map[string]int{}
			for _, l := range lines {
				count[l["method"].(string)+" "+l["path"].(string)]++
			}
			// By default: the create (an admin request), the rejections; not
			// the verify, whose outcome is VALID.
			want := map[string]int{"POST /v1/keys": 1, "GET /v1/auth": 2, "GET /v1/keys": 1}
			if mode == "all" {
				want["GET /v1/auth"] = valid + 2
				want["GET /healthz"] = health
				want["POST /v1/keys/verify"] = 1
			}
			for path, n := range want {
				if count[path] != n {
					t.Errorf("%d lines for %s, want %d; all lines: %v", count[path], path, n, count)
				}
			}
			redacted := 0
			for p, n := range count {
				if strings.HasPrefix(p, "GET /v1/keys/") && strings.HasSuffix(p, "_[redacted]") {
					redacted += n
				}
			}
			if redacted != 1 {
				t.Errorf("%d lines for GET /v1/keys/<key>, logged redacted; want 1: %v", redacted, count)
			}
			for _, r := range rejections {
				if r.Status < 400 {
					t.Errorf("a rejection answered %d", r.Status)
				}
			}
			var found []string
			keyward.FindKeys([]byte(log), func(start, end int) { found = append(found, log[start:end]) })
			if len(found) > 0 {
				t.Errorf("the log holds %d key(s)", len(found))
			}
			if mode == "default" && (count["GET /healthz"] != 0 || count["POST /v1/keys/verify"] != 0) {
				t.Errorf("default logged health checks or a VALID verification: %v", count)
			}
		})
	}
}
