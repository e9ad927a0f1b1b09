package server_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

// clock is a Service clock under the test's control.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// clockEnv is a server on a store, with its Service's clock.
type clockEnv struct {
	t     *testing.T
	store keyward.Store
	svc   *keyward.Service
	srv   *server.Server
	clock *clock
}

// eachStore runs test on a server over each store: memory, SQLite and
// PostgreSQL (skipped with a message unless KEYWARD_TEST_POSTGRES_URL is
// set), its clock at start.
func eachStore(t *testing.T, start time.Time, test func(t *testing.T, e *clockEnv)) {
	ctx := context.Background()
	stores := []struct {
		name string
		open func(t *testing.T) keyward.Store
	}{
		{"memory", func(*testing.T) keyward.Store { return memory.New() }},
		{"sqlite", func(t *testing.T) keyward.Store {
			s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"), &sqlite.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"postgres", func(t *testing.T) keyward.Store {
			s, err := postgres.Open(ctx, testpg.FreshDatabase(t, testpg.URL(t)), &postgres.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			t.Cleanup(func() { store.Close() })
			c := &clock{t: start}
			p, _ := keyhash.NewPepper([]byte("server test pepper, thirty-two bytes"))
			h, _ := keyhash.NewHMAC(p)
			svc, err := keyward.New(store, h, &keyward.Options{Limiter: ratelimit.NewLocal(), UsageFlushInterval: -1, Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close(context.Background()) })
			srv, err := server.New(server.Config{Service: svc, AdminToken: adminToken, Version: "test"})
			if err != nil {
				t.Fatal(err)
			}
			test(t, &clockEnv{t: t, store: store, svc: svc, srv: srv, clock: c})
		})
	}
}

// answer is a response of the API.
type answer struct {
	status int
	body   []byte
}

// do sends a request with the admin token; body, if not "", is JSON.
func (e *clockEnv) do(method, target, body string) answer {
	e.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return answer{rec.Code, rec.Body.Bytes()}
}

// want fails the test unless the answer has that status, and decodes its
// body into v (if not nil).
func (a answer) want(t *testing.T, status int, v any) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d %s, want %d", a.status, a.body, status)
	}
	if v != nil {
		if err := json.Unmarshal(a.body, v); err != nil {
			t.Fatalf("decoding %s: %v", a.body, err)
		}
	}
	return a
}

// problem checks a 422 that names location with a message containing msg.
func (a answer) problem(t *testing.T, location, msg string) {
	t.Helper()
	var p api.Problem
	a.want(t, 422, &p)
	if p.Code != api.CodeValidationFailed {
		t.Errorf("code %q, want %s", p.Code, api.CodeValidationFailed)
	}
	for _, d := range p.Errors {
		if d.Location == location && strings.Contains(d.Message, msg) {
			return
		}
	}
	t.Errorf("problem %s: want one at %s saying %q", a.body, location, msg)
}

// create creates a key from a JSON body and returns it.
func (e *clockEnv) create(body string) api.KeyView {
	e.t.Helper()
	var iss api.IssuedBody
	e.do("POST", "/v1/keys", body).want(e.t, 201, &iss)
	return iss.Key
}

// names lists the keys GET /v1/keys answers for query, by name, sorted.
func (e *clockEnv) names(query string) []string {
	e.t.Helper()
	var page api.PageBody
	e.do("GET", "/v1/keys?limit=1000&"+query, "").want(e.t, 200, &page)
	var out []string
	for _, k := range page.Items {
		out = append(out, k.Name)
	}
	slices.Sort(out)
	return out
}

func expiry(t *testing.T, k api.KeyView) time.Time {
	t.Helper()
	if k.ExpiresAt == nil {
		t.Fatalf("key %s has no expiry", k.Name)
	}
	return *k.ExpiresAt
}

// TestPolicyOverHTTP: GET /v1/policy shows the stored policy; the default
// lifetime applies to a key created without expiry; "never" opts out only
// without a maximum; create, update and rotate refuse an expiry beyond the
// maximum (or none) with a 422 naming the policy; keys that were already
// beyond it stay as they are and the filters list them.
func TestPolicyOverHTTP(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	eachStore(t, t0, func(t *testing.T, e *clockEnv) {
		ctx := context.Background()
		if a := e.do("GET", "/v1/policy", "").want(t, 200, nil); strings.TrimSpace(string(a.body)) != `{"default_key_lifetime":null,"max_key_lifetime":null}` {
			t.Errorf("GET /v1/policy with no policy: %s", a.body)
		}
		legacy := e.create(`{"name":"legacy"}`)
		long := e.create(`{"name":"long","expires_in":"2000h"}`)
		if legacy.ExpiresAt != nil {
			t.Fatalf("with no policy a key got an expiry: %v", legacy.ExpiresAt)
		}

		day := 24 * time.Hour
		def, maxLife := 30*day, 60*day
		// Only a default: it applies, and "never" opts out.
		if _, err := e.svc.SetPolicy(ctx, keyward.Policy{DefaultKeyLifetime: &def}); err != nil {
			t.Fatal(err)
		}
		if got := expiry(t, e.create(`{"name":"defaulted"}`)); !got.Equal(t0.Add(def)) {
			t.Errorf("created under a default of 720h at %v: expires %v", t0, got)
		}
		if k := e.create(`{"name":"forever","expires_in":"never"}`); k.ExpiresAt != nil {
			t.Errorf(`"never" without a maximum: expires %v`, k.ExpiresAt)
		}

		if _, err := e.svc.SetPolicy(ctx, keyward.Policy{DefaultKeyLifetime: &def, MaxKeyLifetime: &maxLife}); err != nil {
			t.Fatal(err)
		}
		var pol map[string]any
		e.do("GET", "/v1/policy", "").want(t, 200, &pol)
		if pol["default_key_lifetime"] != "720h0m0s" || pol["max_key_lifetime"] != "1440h0m0s" {
			t.Errorf("GET /v1/policy: %v", pol)
		}
		const beyond = "beyond the maximum key lifetime of 1440h"
		over := t0.Add(maxLife + time.Millisecond).Format(time.RFC3339Nano)
		e.do("POST", "/v1/keys", `{"name":"x","expires_in":"never"}`).problem(t, "body.expires_in", "maximum key lifetime")
		e.do("POST", "/v1/keys", `{"name":"x","expires_in":"1440h0m0.001s"}`).problem(t, "body.expires_in", beyond)
		e.do("POST", "/v1/keys", `{"name":"x","expires_at":"`+over+`"}`).problem(t, "body.expires_at", beyond)
		if got := expiry(t, e.create(`{"name":"at-max","expires_in":"1440h"}`)); !got.Equal(t0.Add(maxLife)) {
			t.Errorf("expires_in at the maximum: expires %v", got)
		}

		for _, body := range []string{`{"expires_in":"1441h"}`, `{"expires_at":"` + over + `"}`} {
			field := "body." + strings.Split(body, `"`)[1]
			e.do("PATCH", "/v1/keys/"+legacy.ID, body).problem(t, field, beyond)
			e.do("POST", "/v1/keys/"+legacy.ID+"/rotate", body).problem(t, field, beyond)
		}
		e.do("PATCH", "/v1/keys/"+legacy.ID, `{"expires_at":null}`).problem(t, "body.expires_at", "maximum key lifetime")
		e.do("PATCH", "/v1/keys/"+legacy.ID, `{"expires_in":"never"}`).problem(t, "body.expires_in", "maximum key lifetime")
		e.do("POST", "/v1/keys/"+legacy.ID+"/rotate", `{"expires_in":"never"}`).problem(t, "body.expires_in", "maximum key lifetime")

		// Keys beyond the maximum are not changed, by the policy or by an
		// update that does not name the expiry; the filters list them.
		var k api.KeyView
		e.do("PATCH", "/v1/keys/"+legacy.ID, `{"description":"kept"}`).want(t, 200, &k)
		if k.ExpiresAt != nil {
			t.Errorf("an update of another field gave a key beyond the maximum an expiry: %v", k.ExpiresAt)
		}
		e.do("GET", "/v1/keys/"+long.ID, "").want(t, 200, &k)
		if !expiry(t, k).Equal(t0.Add(2000 * time.Hour)) {
			t.Errorf("a key beyond the maximum changed: expires %v", k.ExpiresAt)
		}
		if got := e.names("status=active&no_expiry=true"); !slices.Equal(got, []string{"forever", "legacy"}) {
			t.Errorf("no_expiry=true: %v, want forever and legacy", got)
		}
		if got := e.names("expires_within=2000h"); !slices.Contains(got, "long") {
			t.Errorf("expires_within=2000h: %v, want long among them", got)
		}

		// A rotation naming no expiry: the default lifetime, shorter than
		// the old key's remaining time.
		var iss api.IssuedBody
		e.do("POST", "/v1/keys/"+long.ID+"/rotate", "").want(t, 201, &iss)
		if got := expiry(t, iss.Key); !got.Equal(t0.Add(def)) {
			t.Errorf("the successor of a rotation naming no expiry expires %v, want %v", got, t0.Add(def))
		}
	})
}

// TestListFilterBoundaries: unused_for and expires_within list exactly the
// keys on the right side of their boundaries, at the server's clock, and
// the hygiene counts agree; a millisecond later the boundaries move.
func TestListFilterBoundaries(t *testing.T) {
	const unusedFor, within = 90 * 24 * time.Hour, 7 * 24 * time.Hour
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	since, by := now.Add(-unusedFor), now.Add(within)
	ms := time.Millisecond
	eachStore(t, now.Add(-200*24*time.Hour), func(t *testing.T, e *clockEnv) {
		ctx := context.Background()
		ids := map[string]string{}
		at := func(t time.Time, name, body string) {
			e.clock.Set(t)
			ids[name] = e.create(`{"name":"` + name + `"` + body + `}`).ID
		}
		// Used keys, created long ago.
		for _, name := range []string{"used-before", "used-at", "used-after"} {
			at(now.Add(-200*24*time.Hour), name, "")
		}
		// Never used, created around the boundary of unused_for.
		at(since.Add(-ms), "never-before", "")
		at(since, "never-at", "")
		// Expiring around the boundaries of expires_within; one expires now.
		stamp := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
		e.clock.Set(now.Add(-time.Hour))
		for name, exp := range map[string]time.Time{"exp-now": now, "exp-soon": now.Add(ms), "exp-at": by, "exp-after": by.Add(ms)} {
			at(now.Add(-time.Hour), name, `,"expires_at":"`+stamp(exp)+`"`)
		}
		err := e.store.RecordUsage(ctx, keyward.UsageBatch{LastUsed: map[string]time.Time{
			ids["used-before"]: since.Add(-ms), ids["used-at"]: since, ids["used-after"]: now.Add(-time.Hour),
		}})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Set(now)

		noExpiry := []string{"never-at", "never-before", "used-after", "used-at", "used-before"}
		neverUsed := []string{"exp-after", "exp-at", "exp-now", "exp-soon", "never-at", "never-before"}
		cases := []struct {
			query string
			want  []string
		}{
			{"unused_for=2160h", []string{"never-before", "used-before"}},
			{"expires_within=168h", []string{"exp-at", "exp-soon"}},
			{"never_used=true", neverUsed},
			{"no_expiry=true", noExpiry},
			{"status=active&never_used=true", slices.DeleteFunc(slices.Clone(neverUsed), func(s string) bool { return s == "exp-now" })},
			{"unused_for=2160h&no_expiry=true&q=used", []string{"used-before"}},
		}
		for _, c := range cases {
			if got := e.names(c.query); !slices.Equal(got, c.want) {
				t.Errorf("at %v, %s: %v, want %v", now, c.query, got, c.want)
			}
		}
		var h api.HygieneBody
		e.do("GET", "/v1/stats/hygiene", "").want(t, 200, &h)
		want := api.HygieneBody{NeverUsed: 5, Unused: 2, UnusedFor: keyward.Duration(unusedFor), Expiring: 2, ExpiresWithin: keyward.Duration(within), NoExpiry: 5}
		if h != want {
			t.Errorf("hygiene at %v: %+v, want %+v", now, h, want)
		}

		e.clock.Set(now.Add(ms))
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"unused_for=2160h", []string{"never-at", "never-before", "used-at", "used-before"}},
			{"expires_within=168h", []string{"exp-after", "exp-at"}},
		} {
			if got := e.names(c.query); !slices.Equal(got, c.want) {
				t.Errorf("a millisecond later, %s: %v, want %v", c.query, got, c.want)
			}
		}
	})
}

// TestListFilterProblems: a bad duration or boolean is a 422 at its query
// parameter.
func TestListFilterProblems(t *testing.T) {
	e := newEnv(t)
	ce := &clockEnv{t: t, srv: e.srv, svc: e.svc}
	for _, c := range []struct{ query, location, msg string }{
		{"unused_for=90d", "query.unused_for", "not a Go duration"},
		{"unused_for=0s", "query.unused_for", "must be a positive duration"},
		{"expires_within=-1h", "query.expires_within", "must be a positive duration"},
		{"expires_within=soon", "query.expires_within", "not a Go duration"},
		{"never_used=maybe", "query.never_used", ""},
		{"no_expiry=2", "query.no_expiry", ""},
	} {
		t.Run(c.query, func(t *testing.T) {
			ce.t = t
			ce.do("GET", "/v1/keys?"+c.query, "").problem(t, c.location, c.msg)
		})
	}
}
