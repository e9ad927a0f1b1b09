// Package security attacks a real keyward serve: every admin endpoint
// against every wrong credential, key data seen by non-admins, secrets and
// hashes in responses and logs, timing of rejections, oversized input.
package security

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testserver"
)

const adminToken = "security-test-admin-token-of-32-characters"

type issued struct {
	Key struct {
		ID string `json:"id"`
	} `json:"key"`
	Secret string `json:"secret"`
}

func start(t *testing.T) *testserver.Server {
	t.Helper()
	return testserver.Start(t, nil, "--database-url", "sqlite:"+filepath.Join(t.TempDir(), "k.db"), "--admin-token", adminToken)
}

func create(t *testing.T, s *testserver.Server, body map[string]any) issued {
	t.Helper()
	var k issued
	r := s.Do(t, "POST", "/v1/keys", adminToken, body)
	if r.Status != 201 {
		t.Fatalf("create %v: %d %s", body, r.Status, r.Body)
	}
	r.JSON(t, &k)
	return k
}

// TestAdminEndpointsRefuseWrongCredentials tries every admin endpoint with
// every credential that must not work.
func TestAdminEndpointsRefuseWrongCredentials(t *testing.T) {
	s := start(t)
	target := create(t, s, map[string]any{"name": "target", "owner": "alice"})
	admin := create(t, s, map[string]any{"name": "admin key", "scopes": []string{keyward.ScopeAdmin}})
	revokedAdmin := create(t, s, map[string]any{"name": "revoked admin", "scopes": []string{keyward.ScopeAdmin}})
	s.Do(t, "POST", "/v1/keys/"+revokedAdmin.Key.ID+"/revoke", adminToken, nil)
	plain := create(t, s, map[string]any{"name": "plain", "owner": "alice"})
	verifier := create(t, s, map[string]any{"name": "verifier", "scopes": []string{keyward.ScopeVerify}})
	star := create(t, s, map[string]any{"name": "star", "scopes": []string{"*"}})
	starNS := create(t, s, map[string]any{"name": "namespace star", "scopes": []string{"keyward:*"}})

	id := target.Key.ID
	endpoints := []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/keys", map[string]any{"name": "x"}},
		{"GET", "/v1/keys", nil},
		{"GET", "/v1/keys?owner=alice", nil},
		{"GET", "/v1/keys/" + id, nil},
		{"PATCH", "/v1/keys/" + id, map[string]any{"name": "hijacked"}},
		{"DELETE", "/v1/keys/" + id, nil},
		{"POST", "/v1/keys/" + id + "/revoke", nil},
		{"POST", "/v1/keys/" + id + "/rotate", map[string]any{}},
		{"GET", "/v1/keys/" + id + "/usage", nil},
		{"GET", "/v1/audit", nil},
		{"GET", "/v1/stats", nil},
		{"POST", "/v1/keys/verify", map[string]any{"key": target.Secret}},
	}
	creds := []struct {
		name   string
		header []string // Authorization value, or none
		query  string
		want   int
	}{
		{"no credential", nil, "", 401},
		{"a non-admin key", []string{"Bearer " + plain.Secret}, "", 403},
		{"a revoked admin key", []string{"Bearer " + revokedAdmin.Secret}, "", 401},
		{"the admin token in the query string", nil, "access_token=" + adminToken + "&api_key=" + adminToken + "&token=" + adminToken, 401},
		{"an admin key in the query string", nil, "api_key=" + admin.Secret, 401},
		{"a keyward:verify key", []string{"Bearer " + verifier.Secret}, "", 403},
		{"a key whose only scope is *", []string{"Bearer " + star.Secret}, "", 403},
		{"a key with keyward:*", []string{"Bearer " + starNS.Secret}, "", 403},
		{"the admin token in X-API-Key", nil, "", 401},
		{"Basic auth with the admin token", []string{"Basic " + adminToken}, "", 401},
		{"the admin token with one character changed", []string{"Bearer " + adminToken[:len(adminToken)-1] + "X"}, "", 401},
	}
	for _, ep := range endpoints {
		for _, c := range creds {
			want := c.want
			if ep.path == "/v1/keys/verify" && c.name == "a keyward:verify key" {
				want = 200 // the one endpoint a verify key may call
			}
			path := ep.path
			if c.query != "" {
				path += map[bool]string{true: "&", false: "?"}[strings.Contains(path, "?")] + c.query
			}
			header := []string{}
			if c.header != nil {
				header = []string{"Authorization", c.header[0]}
			}
			if c.name == "the admin token in X-API-Key" {
				header = []string{"X-API-Key", adminToken}
			}
			r := s.Do(t, ep.method, path, "", ep.body, header...)
			if r.Status != want {
				t.Errorf("%s %s with %s: %d, want %d (%s)", ep.method, ep.path, c.name, r.Status, want, r.Body)
			}
			if want >= 400 && !strings.Contains(r.Header.Get("Content-Type"), "problem+json") {
				t.Errorf("%s %s with %s: %s, want a problem document", ep.method, ep.path, c.name, r.Header.Get("Content-Type"))
			}
		}
	}
	// Nothing happened to the target.
	var k struct {
		Name      string     `json:"name"`
		RevokedAt *time.Time `json:"revoked_at"`
	}
	s.Do(t, "GET", "/v1/keys/"+id, adminToken, nil).JSON(t, &k)
	if k.Name != "target" || k.RevokedAt != nil {
		t.Errorf("the target was changed by a refused request: %+v", k)
	}
	// The right credentials work: the admin token and an admin key.
	for _, cred := range []string{adminToken, admin.Secret} {
		if r := s.Do(t, "GET", "/v1/keys/"+id, cred, nil); r.Status != 200 {
			t.Errorf("an admin credential was refused: %d", r.Status)
		}
	}
}

// TestPlainKeySeesNothing: a key, even one whose owner matches, reads no key
// data at all.
func TestPlainKeySeesNothing(t *testing.T) {
	s := start(t)
	own := create(t, s, map[string]any{"name": "mine", "owner": "alice", "metadata": map[string]any{"secret-ish": "plan details"}})
	for _, path := range []string{"/v1/keys?owner=alice", "/v1/keys/" + own.Key.ID, "/v1/keys/" + own.Key.ID + "/usage", "/v1/audit?key_id=" + own.Key.ID, "/v1/stats"} {
		r := s.Do(t, "GET", path, own.Secret, nil)
		if r.Status != 403 || strings.Contains(string(r.Body), "plan details") || strings.Contains(string(r.Body), "mine") {
			t.Errorf("GET %s with the key itself: %d %s", path, r.Status, r.Body)
		}
	}
}

// TestNoSecretOrHashInResponsesOrLogs runs a full session and searches every
// response and the whole log for secrets and hash strings.
func TestNoSecretOrHashInResponsesOrLogs(t *testing.T) {
	s := start(t)
	var secrets []string
	var bodies []string
	record := func(r testserver.Response) testserver.Response {
		bodies = append(bodies, string(r.Body))
		for k, vs := range r.Header {
			bodies = append(bodies, k+": "+strings.Join(vs, ","))
		}
		return r
	}
	k := create(t, s, map[string]any{"name": "a", "scopes": []string{"read"}, "rate_limit": map[string]any{"limit": 2, "period": "1m"}})
	secrets = append(secrets, k.Secret)
	record(s.Do(t, "GET", "/v1/keys", adminToken, nil))
	record(s.Do(t, "GET", "/v1/keys/"+k.Key.ID, adminToken, nil))
	for range 3 {
		record(s.Do(t, "GET", "/v1/auth?scopes=read", "", nil, "Authorization", "Bearer "+k.Secret))
		record(s.Do(t, "POST", "/v1/keys/verify", adminToken, map[string]any{"key": k.Secret}))
	}
	wrong := k.Secret[:len(k.Secret)-8] + "ZZZZZZZZ"
	record(s.Do(t, "GET", "/v1/auth", "", nil, "X-API-Key", wrong))
	record(s.Do(t, "POST", "/v1/keys/verify", adminToken, `{"key": "`+k.Secret+`", "bogus": `)) // not JSON: must not echo the key
	record(s.Do(t, "POST", "/v1/keys/verify", adminToken, `{"key": "`+k.Secret+`", "bogus": 1}`))
	record(s.Do(t, "GET", "/v1/auth?api_key="+k.Secret, "", nil))
	// A key where it does not belong: in a path (admin route, unknown
	// route), in two headers at once.
	record(s.Do(t, "GET", "/v1/keys/"+k.Secret, adminToken, nil))
	record(s.Do(t, "GET", "/nope/"+k.Secret+"/x", "", nil))
	record(s.Do(t, "GET", "/v1/auth", "", nil, "Authorization", "Bearer "+k.Secret, "X-API-Key", k.Secret))
	record(s.Do(t, "POST", "/v1/keys", adminToken, map[string]any{"name": "x", "allowed_cidrs": []string{k.Secret}}))
	var rot issued
	r := s.Do(t, "POST", "/v1/keys/"+k.Key.ID+"/rotate", adminToken, map[string]any{"grace_period": "0s"})
	r.JSON(t, &rot)
	secrets = append(secrets, rot.Secret)
	record(s.Do(t, "GET", "/v1/keys/"+rot.Key.ID, adminToken, nil))
	record(s.Do(t, "GET", "/v1/audit", adminToken, nil))
	record(s.Do(t, "GET", "/v1/keys/"+k.Key.ID+"/usage", adminToken, nil))
	record(s.Do(t, "GET", "/metrics", "", nil))
	s.Stop()
	log := s.Log()
	for _, sec := range secrets {
		part := sec[len(sec)-46 : len(sec)-6]
		for _, b := range bodies {
			if strings.Contains(b, part) {
				t.Fatalf("a response contains a secret: %.300s", b)
			}
		}
		if strings.Contains(log, part) {
			t.Fatal("the server log contains a secret")
		}
	}
	for _, hash := range []string{"$hmac-sha256$", "$argon2id$", "$bcrypt"} {
		if strings.Contains(log, hash) || slices.ContainsFunc(bodies, func(b string) bool { return strings.Contains(b, hash) }) {
			t.Fatalf("a response or the log contains a hash string (%s)", hash)
		}
	}
	if strings.Contains(log, adminToken) {
		t.Fatal("the server log contains the admin token")
	}
}

func TestOversizedInput(t *testing.T) {
	s := start(t)
	if r := s.Do(t, "GET", "/v1/auth", "", nil, "X-API-Key", strings.Repeat("k", 100<<10)); r.Status != 431 ||
		r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("100 KiB header: %d %s, want 431 in problem+json", r.Status, r.Header.Get("Content-Type"))
	}
	big := `{"name":"x","description":"` + strings.Repeat("d", 2<<20) + `"}`
	if r := s.Do(t, "POST", "/v1/keys", adminToken, big); r.Status != 413 {
		t.Errorf("2 MiB body: %d, want 413", r.Status)
	}
	if r := s.Do(t, "GET", "/v1/auth", "", nil, "X-API-Key", strings.Repeat("k", 4096)); r.Status != 401 {
		t.Errorf("a 4 KiB garbage key: %d, want 401", r.Status)
	}
	if r := s.Do(t, "GET", "/healthz", "", nil); r.Status != 200 {
		t.Errorf("the server is not serving after oversized input: %d", r.Status)
	}
}
