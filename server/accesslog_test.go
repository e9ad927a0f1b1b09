package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/server"
)

// TestAccessLogModes sends the same requests under each access log mode
// and checks which get a line: by default every admin request and every
// rejection, not successful verifications nor health, metrics or docs; with
// all, every one; with off, none. No line ever holds a key.
func TestAccessLogModes(t *testing.T) {
	type req struct {
		name, method, target, body string
		header                     []string
		logged                     bool // by default
	}
	for _, mode := range []server.AccessLog{"", server.AccessLogDefault, server.AccessLogAll, server.AccessLogOff} {
		t.Run(fmt.Sprintf("mode %q", mode), func(t *testing.T) {
			e := newEnvWith(t, func(c *server.Config) {
				c.AccessLog = mode
				c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("keyward_up 1\n")) })
			})
			key := e.create(t, keyward.CreateParams{Scopes: []string{"read"}}).Secret
			adminKey := e.create(t, keyward.CreateParams{Scopes: []string{keyward.ScopeAdmin}})
			tok, _ := keyward.Parse(key)
			tok.Secret = strings.Repeat("A", keyward.SecretLength) // a wrong secret, a right checksum
			wrong := tok.String()
			admin := []string{"Authorization", "Bearer " + adminToken, "Content-Type", "application/json"}
			reqs := []req{
				{"health", "GET", "/healthz", "", nil, false},
				{"readiness", "GET", "/readyz", "", nil, false},
				{"metrics", "GET", "/metrics", "", nil, false},
				{"docs", "GET", "/docs", "", nil, false},
				{"a valid key at /v1/auth", "GET", "/v1/auth?scopes=read", "", []string{"X-API-Key", key}, false},
				{"no key at /v1/auth", "GET", "/v1/auth", "", nil, true},
				{"a wrong key at /v1/auth", "GET", "/v1/auth", "", []string{"Authorization", "Bearer " + wrong}, true},
				{"a missing scope at /v1/auth", "GET", "/v1/auth?scopes=write", "", []string{"X-API-Key", key}, true},
				{"verify VALID", "POST", "/v1/keys/verify", `{"key":"` + key + `"}`, admin, false},
				{"verify NOT_FOUND", "POST", "/v1/keys/verify", `{"key":"` + wrong + `"}`, admin, true},
				{"create", "POST", "/v1/keys", `{"name":"logged"}`, admin, true},
				{"list with an admin key", "GET", "/v1/keys", "", []string{"Authorization", "Bearer " + adminKey.Secret}, true},
				{"list without a credential", "GET", "/v1/keys", "", nil, true},
				{"an unknown route", "GET", "/nope", "", nil, true},
				{"a key in a path", "GET", "/v1/keys/" + key, "", admin, true},
			}
			for _, r := range reqs {
				e.log.Reset()
				rec := e.do(t, r.method, r.target, r.body, r.header...)
				lines := logLines(t, e.log.String(), "request")
				want := map[server.AccessLog]bool{"": r.logged, server.AccessLogDefault: r.logged, server.AccessLogAll: true}[mode]
				if got := len(lines) == 1; got != want || len(lines) > 1 {
					t.Errorf("%s (%d): %d lines, want logged=%v:\n%s", r.name, rec.Code, len(lines), want, e.log.String())
				}
				if keys := findKeys([]byte(e.log.String())); len(keys) > 0 {
					t.Errorf("%s: the log holds a key:\n%s", r.name, e.log.String())
				}
				if len(lines) == 1 && int(lines[0]["status"].(float64)) != rec.Code {
					t.Errorf("%s: logged status %v, answered %d", r.name, lines[0]["status"], rec.Code)
				}
				if len(lines) == 1 && strings.HasPrefix(r.name, "list with an admin key") && lines[0]["actor"] != adminKey.Key.ID {
					t.Errorf("%s: actor %v, want %s", r.name, lines[0]["actor"], adminKey.Key.ID)
				}
				if len(lines) == 1 && r.name == "verify NOT_FOUND" && lines[0]["code"] != "NOT_FOUND" {
					t.Errorf("%s: code %v, want NOT_FOUND", r.name, lines[0]["code"])
				}
			}
		})
	}
}

func TestParseAccessLog(t *testing.T) {
	for _, s := range []string{"all", "default", "off"} {
		if a, err := server.ParseAccessLog(s); err != nil || string(a) != s {
			t.Errorf("ParseAccessLog(%q) = %q, %v", s, a, err)
		}
	}
	if _, err := server.ParseAccessLog("some"); err == nil {
		t.Error(`ParseAccessLog("some"): no error`)
	}
	if _, err := server.New(server.Config{Service: newEnv(t).svc, AccessLog: "loud"}); err == nil {
		t.Error("New accepted AccessLog \"loud\"")
	}
}
