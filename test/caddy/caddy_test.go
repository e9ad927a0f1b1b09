// Package caddy runs Debian's caddy in front of a tiny upstream, checking
// each request with keyward's /v1/auth, using the recipe of docs/proxies.md:
// the test reads the Caddyfile from that page, so the page shows what CI ran.
package caddy

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testserver"
)

const adminToken = "caddy-test-admin-token-of-32-characters"

// global keeps caddy to itself: no admin endpoint, no certificates, TCP only
// (HTTP/3 would also listen on UDP).
const global = `{
	admin off
	auto_https off
	servers {
		protocols h1 h2
	}
}
`

// recipe returns the Caddyfile block of docs/proxies.md's Caddy section.
func recipe(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	page, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "docs", "proxies.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(page), "\n## Caddy")
	if !ok {
		t.Fatal("docs/proxies.md has no Caddy section")
	}
	_, block, ok := strings.Cut(section, "```caddyfile\n")
	if !ok {
		t.Fatal("docs/proxies.md's Caddy section has no caddyfile block")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal("docs/proxies.md's caddyfile block does not end")
	}
	return block
}

// config fills the recipe in with the test's addresses: the site listens on
// 127.0.0.1:port only, over plain HTTP.
func config(t *testing.T, port int, keyward, upstream string) string {
	t.Helper()
	block := recipe(t)
	for _, name := range []string{"api.example.com {", "keyward:8080", "invoices:9000"} {
		if strings.Count(block, name) != 1 {
			t.Fatalf("the recipe in docs/proxies.md should name %q once; it changed, update this test:\n%s", name, block)
		}
	}
	return global + strings.NewReplacer(
		"api.example.com {", fmt.Sprintf("http://127.0.0.1:%d {\n\tbind 127.0.0.1", port),
		"keyward:8080", keyward,
		"invoices:9000", upstream,
	).Replace(block)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// seen is what the upstream received.
type seen struct {
	Method, KeyID, Owner, Scopes, Authorization, APIKey, Body string
}

// upstream echoes what caddy passed on, as JSON, and counts its requests.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		json.NewEncoder(w).Encode(seen{
			Method: r.Method, KeyID: r.Header.Get("X-Keyward-Key-Id"), Owner: r.Header.Get("X-Keyward-Owner"),
			Scopes: r.Header.Get("X-Keyward-Scopes"), Authorization: r.Header.Get("Authorization"),
			APIKey: r.Header.Get("X-API-Key"), Body: string(body),
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// startCaddy runs `caddy run` on the configuration, with its config and data
// directories in dir, and waits until it listens on port.
func startCaddy(t *testing.T, caddy, dir, conf string, port int) {
	t.Helper()
	confPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", confPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("caddy exited before listening:\n%s\nconfiguration:\n%s", log.String(), conf)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not listen within 10s:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond) // waiting for a process to start
	}
}

// lockedBuffer collects a process's output while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type issued struct {
	Key    struct{ ID string } `json:"key"`
	Secret string              `json:"secret"`
}

// recipeRun is keyward behind caddy, configured by the recipe, with the
// upstream's request counter and the keys the steps use.
type recipeRun struct {
	kw                           *testserver.Server
	hits                         *atomic.Int64
	base                         string // the guarded URL, through caddy
	good, limited, other, office issued
}

func TestCaddyRecipe(t *testing.T) {
	caddy, err := exec.LookPath("caddy")
	if err != nil {
		t.Skip("caddy is not installed: skipping the Caddy integration test (apt-get install caddy; .ci/run does)")
	}
	r := startRecipe(t, caddy)
	t.Run("valid key reaches the upstream", func(t *testing.T) { checkValidKey(t, r) })
	t.Run("missing or invalid key", func(t *testing.T) { checkRejectedKeys(t, r) })
	t.Run("rate limit", func(t *testing.T) { checkRateLimit(t, r) })
	t.Run("client address", func(t *testing.T) { checkClientAddress(t, r) })
	r.kw.Stop() // here: Stop fails the test that started keyward
	t.Run("keyward unreachable", func(t *testing.T) { checkKeywardUnreachable(t, r) })
}

// startRecipe starts keyward, the upstream and caddy with the recipe, and
// creates the keys: good (owner team-a), limited (1 per hour), other
// (another scope) and office (10.0.0.0/8 only).
func startRecipe(t *testing.T, caddy string) *recipeRun {
	t.Helper()
	// As docs/proxies.md says: keyward believes X-Forwarded-For from caddy only.
	kw := testserver.Start(t, nil, "--database-url", "sqlite:"+filepath.Join(t.TempDir(), "k.db"),
		"--admin-token", adminToken, "--trusted-proxies", "127.0.0.1")
	up, hits := upstream(t)
	port := freePort(t)
	startCaddy(t, caddy, t.TempDir(), config(t, port, strings.TrimPrefix(kw.URL, "http://"), strings.TrimPrefix(up.URL, "http://")), port)

	create := func(body map[string]any) issued {
		t.Helper()
		var k issued
		r := kw.Do(t, "POST", "/v1/keys", adminToken, body)
		if r.Status != 201 {
			t.Fatalf("create %v: %d %s", body, r.Status, r.Body)
		}
		r.JSON(t, &k)
		return k
	}
	return &recipeRun{
		kw:      kw,
		hits:    hits,
		base:    fmt.Sprintf("http://127.0.0.1:%d/api/invoices", port),
		good:    create(map[string]any{"name": "good", "owner": "team-a", "scopes": []string{"invoices:read"}}),
		limited: create(map[string]any{"name": "limited", "scopes": []string{"invoices:read"}, "rate_limit": map[string]any{"limit": 1, "period": "1h"}}),
		other:   create(map[string]any{"name": "other scope", "scopes": []string{"reports:read"}}),
		office:  create(map[string]any{"name": "office only", "scopes": []string{"invoices:read"}, "allowed_cidrs": []string{"10.0.0.0/8"}}),
	}
}

// do sends a request with the body and the header name, value pairs to the
// guarded URL through caddy, and returns the answer.
func (r *recipeRun) do(t *testing.T, method, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	res := testserver.Send(t, method, r.base, body, header...)
	return res.Status, res.Header, string(res.Body)
}

// passed decodes what the upstream says it received.
func passed(t *testing.T, what, body string) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("%s: the upstream's answer %q: %v", what, body, err)
	}
	return s
}

// checkValidKey checks that a valid key, in Authorization or X-API-Key,
// reaches the upstream with its id, owner and scopes but not the key (nor a
// forged X-Keyward-Key-Id), without RateLimit fields or unfilled
// placeholders, and that a POST keeps its body.
func checkValidKey(t *testing.T, r *recipeRun) {
	t.Helper()
	code, h, body := r.do(t, "GET", "", "Authorization", "Bearer "+r.good.Secret, "X-Keyward-Key-Id", "forged")
	if code != 200 {
		t.Fatalf("valid key: %d %v %s", code, h, body)
	}
	s := passed(t, "valid key", body)
	if s.KeyID != r.good.Key.ID || s.Owner != "team-a" || s.Scopes != "invoices:read" || s.Authorization != "" {
		t.Errorf("valid key: the upstream saw %+v; want the key id, owner and scopes, and no key", s)
	}
	// The key has no rate limit: no RateLimit fields, and no unfilled placeholder anywhere.
	if h.Get("RateLimit") != "" || h.Get("RateLimit-Policy") != "" {
		t.Errorf("valid key without a rate limit: RateLimit fields %v", h)
	}
	for name, vals := range h {
		if strings.Contains(strings.Join(vals, ","), "{") {
			t.Errorf("header %s: %q", name, vals)
		}
	}
	code, _, body = r.do(t, "GET", "", "X-API-Key", r.good.Secret)
	if s := passed(t, "X-API-Key", body); code != 200 || s.KeyID != r.good.Key.ID || s.APIKey != "" {
		t.Errorf("valid key in X-API-Key: %d, the upstream saw %+v", code, s)
	}
	code, _, body = r.do(t, "POST", `{"amount": 42}`, "Authorization", "Bearer "+r.good.Secret, "Content-Type", "application/json")
	if s := passed(t, "POST", body); code != 200 || s.Method != "POST" || s.Body != `{"amount": 42}` {
		t.Errorf("POST with a body: %d, the upstream saw %+v", code, s)
	}
}

// checkRejectedKeys checks that no key and an invalid key get 401 with
// WWW-Authenticate and X-Keyward-Code, a key without the scope gets 403
// INSUFFICIENT_SCOPE, and none of them reaches the upstream.
func checkRejectedKeys(t *testing.T, r *recipeRun) {
	t.Helper()
	before := r.hits.Load()
	bad := r.good.Secret[:len(r.good.Secret)-1] + "x" // one character changed: never the key itself
	if bad == r.good.Secret {
		bad = r.good.Secret[:len(r.good.Secret)-1] + "y"
	}
	for _, c := range []struct {
		name   string
		header []string
	}{
		{"no key", nil},
		{"invalid key", []string{"Authorization", "Bearer " + bad}},
	} {
		code, h, _ := r.do(t, "GET", "", c.header...)
		if code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `realm="keyward"`) || h.Get("X-Keyward-Code") == "" {
			t.Errorf("%s: %d %v; want 401 with WWW-Authenticate and X-Keyward-Code", c.name, code, h)
		}
	}
	if code, h, _ := r.do(t, "GET", "", "Authorization", "Bearer "+r.other.Secret); code != 403 || h.Get("X-Keyward-Code") != "INSUFFICIENT_SCOPE" {
		t.Errorf("wrong scope: %d %v, want 403", code, h)
	}
	if n := r.hits.Load() - before; n != 0 {
		t.Errorf("%d rejected requests reached the upstream", n)
	}
}

// checkRateLimit checks that the key limited to 1 per hour passes once with
// keyward's RateLimit fields, then gets 429 with Retry-After and the
// RateLimit fields without reaching the upstream.
func checkRateLimit(t *testing.T, r *recipeRun) {
	t.Helper()
	code, h, _ := r.do(t, "GET", "", "Authorization", "Bearer "+r.limited.Secret)
	if code != 200 || h.Get("RateLimit-Policy") != `"key";q=1;w=3600` || !strings.HasPrefix(h.Get("RateLimit"), `"key";r=0;t=`) {
		t.Errorf("rate-limited key, first request: %d %v; want 200 with keyward's RateLimit fields", code, h)
	}
	before := r.hits.Load()
	code, h, _ = r.do(t, "GET", "", "Authorization", "Bearer "+r.limited.Secret)
	if code != 429 || h.Get("Retry-After") == "" || h.Get("X-Keyward-Code") != "RATE_LIMITED" ||
		h.Get("RateLimit-Policy") != `"key";q=1;w=3600` || !strings.HasPrefix(h.Get("RateLimit"), `"key";r=0;t=`) {
		t.Errorf("over the limit: %d %v; want 429 with Retry-After and the RateLimit fields", code, h)
	}
	if r.hits.Load() != before {
		t.Error("the request over the limit reached the upstream")
	}
}

// checkClientAddress checks that a client cannot claim an allowed address
// with X-Forwarded-For: the office-only key gets 403 FORBIDDEN_ADDRESS.
func checkClientAddress(t *testing.T, r *recipeRun) {
	t.Helper()
	// caddy replaces the client's X-Forwarded-For with the address it
	// sees (127.0.0.1), so claiming an office address does not help.
	if code, h, _ := r.do(t, "GET", "", "Authorization", "Bearer "+r.office.Secret, "X-Forwarded-For", "10.1.2.3"); code != 403 || h.Get("X-Keyward-Code") != "FORBIDDEN_ADDRESS" {
		t.Errorf("key for 10.0.0.0/8 with a forged X-Forwarded-For: %d %v, want 403 FORBIDDEN_ADDRESS", code, h)
	}
}

// checkKeywardUnreachable checks that with keyward stopped, caddy answers
// 502 and the request does not reach the upstream.
func checkKeywardUnreachable(t *testing.T, r *recipeRun) {
	t.Helper()
	before := r.hits.Load()
	if code, _, _ := r.do(t, "GET", "", "Authorization", "Bearer "+r.good.Secret); code != 502 {
		t.Errorf("keyward stopped: %d, want 502", code)
	}
	if r.hits.Load() != before {
		t.Error("with keyward stopped, a request reached the upstream")
	}
}
