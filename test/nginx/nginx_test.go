// Package nginx runs real nginx in front of a tiny upstream, with
// auth_request to keyward's /v1/auth, using the recipe of docs/proxies.md.
package nginx

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testserver"
)

// config is the nginx configuration of docs/proxies.md, with the test's
// ports and paths filled in.
const config = `
{{USER}}
worker_processes 1;
daemon off;
pid {{DIR}}/nginx.pid;
error_log {{DIR}}/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path {{DIR}}/tmp/body;
    proxy_temp_path {{DIR}}/tmp/proxy;
    fastcgi_temp_path {{DIR}}/tmp/fastcgi;
    uwsgi_temp_path {{DIR}}/tmp/uwsgi;
    scgi_temp_path {{DIR}}/tmp/scgi;

    upstream keyward { server {{KEYWARD}}; keepalive 16; }

    server {
        listen 127.0.0.1:{{PORT}};

        # The check: keyward sees the client's key headers, the required scopes and the client address.
        location = /_keyward {
            internal;
            proxy_pass http://keyward/v1/auth?scopes=$keyward_scopes;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-For $remote_addr;
        }

        # nginx passes only 401 and 403 from auth_request; any other status (429) becomes a 500.
        # Map it back with the code keyward puts in X-Keyward-Code.
        location @keyward_error {
            internal;
            if ($keyward_code = RATE_LIMITED) {
                add_header Retry-After $keyward_retry_after always;
                add_header RateLimit $keyward_ratelimit always;
                add_header RateLimit-Policy $keyward_ratelimit_policy always;
                add_header X-Keyward-Code RATE_LIMITED always;
                return 429;
            }
            if ($keyward_code = USAGE_EXCEEDED) {
                add_header X-Keyward-Code USAGE_EXCEEDED always;
                return 429;
            }
            if ($keyward_code = UNAVAILABLE) {
                return 503;
            }
            return 500;
        }

        location /api/ {
            set $keyward_scopes "invoices:read";
            auth_request /_keyward;
            auth_request_set $keyward_key_id $upstream_http_x_keyward_key_id;
            auth_request_set $keyward_owner $upstream_http_x_keyward_owner;
            auth_request_set $keyward_code $upstream_http_x_keyward_code;
            auth_request_set $keyward_retry_after $upstream_http_retry_after;
            auth_request_set $keyward_ratelimit $upstream_http_ratelimit;
            auth_request_set $keyward_ratelimit_policy $upstream_http_ratelimit_policy;
            error_page 500 = @keyward_error;

            proxy_set_header X-Keyward-Key-Id $keyward_key_id;
            proxy_set_header X-Keyward-Owner $keyward_owner;
            proxy_set_header Authorization "";   # the upstream never sees the key
            proxy_set_header X-API-Key "";
            proxy_pass http://{{UPSTREAM}};

            # The key's rate limit state on a success (nginx adds no header whose value is empty).
            add_header RateLimit $keyward_ratelimit;
            add_header RateLimit-Policy $keyward_ratelimit_policy;
        }
    }
}
`

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// issued is a created key and its secret.
type issued struct {
	Key    struct{ ID string } `json:"key"`
	Secret string              `json:"secret"`
}

func TestNginxAuthRequest(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr == nil {
			nginx = "/usr/sbin/nginx"
		} else {
			t.Skip("nginx is not installed: skipping the nginx integration test (apt-get install nginx; .ci/run does)")
		}
	}
	kw := testserver.Start(t, nil, "--database-url", "sqlite:"+filepath.Join(t.TempDir(), "k.db"),
		"--admin-token", "nginx-test-admin-token-of-32-characters")
	admin := "nginx-test-admin-token-of-32-characters"
	base := startNginx(t, nginx, kw)

	var good, limited, other issued
	kw.Do(t, "POST", "/v1/keys", admin, map[string]any{"name": "good", "owner": "team-a", "scopes": []string{"invoices:read"}}).JSON(t, &good)
	kw.Do(t, "POST", "/v1/keys", admin, map[string]any{"name": "limited", "scopes": []string{"invoices:read"}, "rate_limit": map[string]any{"limit": 1, "period": "1h"}}).JSON(t, &limited)
	kw.Do(t, "POST", "/v1/keys", admin, map[string]any{"name": "other scope", "scopes": []string{"reports:read"}}).JSON(t, &other)

	checkMissingOrBadKey(t, base, good.Secret)
	checkValidKey(t, base, good)
	if code, _, _ := get(t, base, "Authorization", "Bearer "+other.Secret); code != 403 {
		t.Errorf("wrong scope: %d, want 403", code)
	}
	checkRateLimit(t, base, limited.Secret)
}

// startNginx starts the upstream, which echoes what nginx passed on, and
// nginx with config in front of it and keyward, once `nginx -t` accepts the
// configuration; it waits until nginx listens and returns its base URL.
func startNginx(t *testing.T, nginx string, kw *testserver.Server) string {
	t.Helper()
	// The upstream echoes what nginx passed on.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "key=%s owner=%s auth=%q", r.Header.Get("X-Keyward-Key-Id"), r.Header.Get("X-Keyward-Owner"), r.Header.Get("Authorization"))
	}))
	t.Cleanup(upstream.Close)

	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
	port := freePort(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := strings.NewReplacer("{{DIR}}", dir, "{{PORT}}", fmt.Sprint(port), "{{USER}}", user,
		"{{KEYWARD}}", strings.TrimPrefix(kw.URL, "http://"), "{{UPSTREAM}}", strings.TrimPrefix(upstream.URL, "http://")).Replace(config)
	confPath := filepath.Join(dir, "nginx.conf")
	os.WriteFile(confPath, []byte(conf), 0o644)
	if out, err := exec.Command(nginx, "-t", "-p", dir, "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not listen:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond) // waiting for a process to start
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// get sends GET /api/invoices through nginx at base, with the header name,
// value pairs, and returns the answer.
func get(t *testing.T, base string, header ...string) (int, http.Header, string) {
	t.Helper()
	res := testserver.Send(t, "GET", base+"/api/invoices", "", header...)
	return res.Status, res.Header, string(res.Body)
}

// checkMissingOrBadKey checks that a request without a key gets 401 with
// keyward's WWW-Authenticate, and one with the secret changed by a
// character gets 401.
func checkMissingOrBadKey(t *testing.T, base, secret string) {
	t.Helper()
	bad := secret[:len(secret)-1] + "x" // one character changed: never the key itself
	if bad == secret {
		bad = secret[:len(secret)-1] + "y"
	}

	if code, h, _ := get(t, base); code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `realm="keyward"`) {
		t.Errorf("no key: %d %v", code, h)
	}
	if code, _, _ := get(t, base, "Authorization", "Bearer "+bad); code != 401 {
		t.Errorf("bad key: %d", code)
	}
}

// checkValidKey checks that the key good (owner team-a, no rate limit), in
// Authorization or X-API-Key, reaches the upstream with its id and owner but
// not the key, and that the answer has no RateLimit field.
func checkValidKey(t *testing.T, base string, good issued) {
	t.Helper()
	code, h, body := get(t, base, "Authorization", "Bearer "+good.Secret)
	if code != 200 || !strings.Contains(body, "key="+good.Key.ID) || !strings.Contains(body, "owner=team-a") || !strings.Contains(body, `auth=""`) {
		t.Errorf("valid key: %d %q (want the key id and owner passed upstream, and no key)", code, body)
	}
	if _, ok := h["Ratelimit"]; ok {
		t.Errorf("valid key without a rate limit: RateLimit %q", h["Ratelimit"])
	}
	if code, _, body := get(t, base, "X-API-Key", good.Secret); code != 200 || !strings.Contains(body, good.Key.ID) {
		t.Errorf("valid key in X-API-Key: %d %q", code, body)
	}
}

// checkRateLimit checks that the key limited to 1 per hour passes once with
// keyward's RateLimit fields, then gets 429 (mapped back from nginx's 500)
// with Retry-After, X-Keyward-Code and the RateLimit fields.
func checkRateLimit(t *testing.T, base, secret string) {
	t.Helper()
	code, h, _ := get(t, base, "Authorization", "Bearer "+secret)
	if code != 200 || h.Get("RateLimit-Policy") != `"key";q=1;w=3600` || !strings.HasPrefix(h.Get("RateLimit"), `"key";r=0;t=`) {
		t.Errorf("rate-limited key, first request: %d %v; want 200 with keyward's RateLimit fields", code, h)
	}
	code, h, _ = get(t, base, "Authorization", "Bearer "+secret)
	if code != 429 || h.Get("Retry-After") == "" || h.Get("X-Keyward-Code") != "RATE_LIMITED" {
		t.Errorf("over the limit: %d %v; want 429 with Retry-After", code, h)
	}
	if h.Get("RateLimit-Policy") != `"key";q=1;w=3600` || !strings.HasPrefix(h.Get("RateLimit"), `"key";r=0;t=`) {
		t.Errorf("over the limit: %v; want keyward's RateLimit fields", h)
	}
}
