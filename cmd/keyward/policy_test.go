package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/internal/testserver"
	"github.com/keyward/keyward/keyhash"
)

// pgCLI is a migrated PostgreSQL database (KEYWARD_TEST_POSTGRES_URL; the
// test is skipped without it) and the environment of a CLI user.
func pgCLI(t *testing.T) *cliEnv {
	t.Helper()
	db := testpg.FreshDatabase(t, testpg.URL(t))
	c := &cliEnv{t: t, db: db, env: map[string]string{"KEYWARD_PEPPER": testPepper, "KEYWARD_DATABASE_URL": db}}
	c.mustRun("migrate")
	return c
}

// eachDatabase runs test with a CLI on SQLite and on PostgreSQL.
func eachDatabase(t *testing.T, test func(t *testing.T, c *cliEnv)) {
	t.Run("sqlite", func(t *testing.T) { test(t, newCLI(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, pgCLI(t)) })
}

// store opens the CLI's database.
func (c *cliEnv) store() keyward.Store {
	c.t.Helper()
	u, err := parseDatabaseURL(c.db)
	if err != nil {
		c.t.Fatal(err)
	}
	s, err := openStore(context.Background(), u, openOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { s.Close() })
	return s
}

// keyJSON is what keys create, update and rotate -o json print.
type keyJSON struct {
	Key struct {
		ID        string     `json:"id"`
		Name      string     `json:"name"`
		ExpiresAt *time.Time `json:"expires_at"`
	} `json:"key"`
}

// created creates a key with the CLI and returns it as printed.
func (c *cliEnv) created(args ...string) keyJSON {
	c.t.Helper()
	var k keyJSON
	c.mustJSON(&k, append([]string{"keys", "create"}, args...)...)
	return k
}

// refused runs a command that must be refused as bad usage (exit 2) with a
// message containing msg.
func (c *cliEnv) refused(msg string, args ...string) {
	c.t.Helper()
	code, out, stderr := c.run(args...)
	if code != 2 || !strings.Contains(stderr, msg) {
		c.t.Errorf("keyward %s: exit %d, %s%s; want 2 saying %q", strings.Join(args, " "), code, out, stderr, msg)
	}
}

// listed lists the keys keys list selects with args, by name, sorted.
func (c *cliEnv) listed(args ...string) []string {
	c.t.Helper()
	var page struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	c.mustJSON(&page, append([]string{"keys", "list", "--all"}, args...)...)
	var out []string
	for _, k := range page.Items {
		out = append(out, k.Name)
	}
	slices.Sort(out)
	return out
}

// expiresAround fails unless k expires d from a time between before and
// after.
func expiresAround(t *testing.T, k keyJSON, before, after time.Time, d time.Duration) {
	t.Helper()
	e := k.Key.ExpiresAt
	if e == nil || e.Before(before.Add(d).Truncate(time.Second)) || e.After(after.Add(d)) {
		t.Errorf("key %s expires %v, want %v from its creation (between %v and %v)", k.Key.Name, e, d, before, after)
	}
}

// TestPolicyThroughCLI: policy set and show; the default applies to keys
// create; "never" opts out only without a maximum; create, update, rotate
// and import refuse an expiry beyond the maximum, or none; keys already
// beyond it are listed by the filters, not changed; each change of the
// policy is one audit entry policy.update.
func TestPolicyThroughCLI(t *testing.T) {
	eachDatabase(t, func(t *testing.T, c *cliEnv) {
		if out := c.mustRun("policy", "show", "-o", "json"); compactJSON(t, out) != `{"default_key_lifetime":null,"max_key_lifetime":null}` {
			t.Errorf("policy show with no policy: %s", out)
		}
		legacy := c.created("legacy")
		c.created("long", "--expires-in", "2000h")
		exported := filepath.Join(t.TempDir(), "keys.jsonl")
		if err := os.WriteFile(exported, []byte(c.mustRun("keys", "export", "--with-hashes")), 0o600); err != nil {
			t.Fatal(err)
		}

		before := time.Now()
		c.mustRun("policy", "set", "--default-key-lifetime", "720h")
		defaulted := c.created("defaulted")
		expiresAround(t, defaulted, before, time.Now(), 720*time.Hour)
		if k := c.created("forever", "--expires-in", "never"); k.Key.ExpiresAt != nil {
			t.Errorf(`--expires-in never without a maximum: expires %v`, k.Key.ExpiresAt)
		}

		c.mustRun("policy", "set", "--default-key-lifetime", "720h", "--max-key-lifetime", "1440h")
		if out := c.mustRun("policy", "show", "-o", "json"); compactJSON(t, out) != `{"default_key_lifetime":"720h0m0s","max_key_lifetime":"1440h0m0s"}` {
			t.Errorf("policy show: %s", out)
		}
		if out := c.mustRun("policy", "show"); !strings.Contains(out, "max key lifetime") || !strings.Contains(out, "1440h (60 days)") {
			t.Errorf("policy show as a table:\n%s", out)
		}
		const beyond = "beyond the maximum key lifetime of 1440h"
		over := time.Now().Add(1441 * time.Hour).UTC().Format(time.RFC3339)
		c.refused("maximum key lifetime", "keys", "create", "x", "--expires-in", "never")
		c.refused(beyond, "keys", "create", "x", "--expires-in", "1441h")
		c.refused(beyond, "keys", "create", "x", "--expires-at", over)
		for _, verb := range []string{"update", "rotate"} {
			c.refused(beyond, "keys", verb, legacy.Key.ID, "--expires-in", "1441h")
			c.refused(beyond, "keys", verb, legacy.Key.ID, "--expires-at", over)
			c.refused("maximum key lifetime", "keys", verb, legacy.Key.ID, "--expires-in", "never")
		}
		c.refused("maximum key lifetime", "keys", "update", legacy.Key.ID, "--no-expiry")
		c.refused("maximum key lifetime", "keys", "import", exported)
		before = time.Now()
		atMax := c.created("at-max", "--expires-in", "1440h")
		expiresAround(t, atMax, before, time.Now(), 1440*time.Hour)

		// Keys beyond the maximum stay as they are, through an update that
		// does not name the expiry too; the filters list them.
		var k keyJSON
		c.mustJSON(&k.Key, "keys", "update", legacy.Key.ID, "--description", "kept")
		if k.Key.ExpiresAt != nil {
			t.Errorf("an update of another field gave a key beyond the maximum an expiry: %v", k.Key.ExpiresAt)
		}
		if got := c.listed("--status", "active", "--no-expiry"); !slices.Equal(got, []string{"forever", "legacy"}) {
			t.Errorf("keys list --no-expiry: %v, want forever and legacy", got)
		}
		if got := c.listed("--expires-within", "2001h"); !slices.Contains(got, "long") {
			t.Errorf("keys list --expires-within 2001h: %v, want long among them", got)
		}

		entries, err := c.store().ListAudit(context.Background(), keyward.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Action == keyward.ActionPolicyUpdate {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d audit entries policy.update, want 2 (one a change)", n)
		}
		c.mustRun("policy", "set", "--default-key-lifetime", "720h", "--max-key-lifetime", "1440h")
		c.mustRun("policy", "set")
		if out := c.mustRun("policy", "show", "-o", "json"); compactJSON(t, out) != `{"default_key_lifetime":null,"max_key_lifetime":null}` {
			t.Errorf("policy show after policy set alone: %s", out)
		}
	})
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestKeysListHygieneFilters: --unused-for, --expires-within, --never-used
// and --no-expiry select the keys the Service's filters select, together
// and with the other filters (their boundaries to the millisecond are tested
// in the server's tests, under a clock of the test's).
func TestKeysListHygieneFilters(t *testing.T) {
	eachDatabase(t, func(t *testing.T, c *cliEnv) {
		// The keys are created 200 days ago, by a Service with that clock.
		now := time.Now()
		store := c.store()
		pepper, _ := keyhash.NewPepper([]byte(testPepper))
		hasher, _ := keyhash.NewHMAC(pepper)
		svc, err := keyward.New(store, hasher, &keyward.Options{UsageFlushInterval: -1, Now: func() time.Time { return now.Add(-200 * 24 * time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close(context.Background())
		ids := map[string]string{}
		for name, exp := range map[string]time.Duration{
			"used-long-ago": 0, "used-lately": 0, "never-used": 0, "expires-soon": 200*24*time.Hour + 100*time.Hour, "expires-later": 200*24*time.Hour + 200*time.Hour,
		} {
			p := keyward.CreateParams{Name: name}
			if exp != 0 {
				p.ExpiresIn = keyward.Ptr(keyward.Duration(exp))
			}
			iss, err := svc.Create(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			ids[name] = iss.Key.ID
		}
		err = store.RecordUsage(context.Background(), keyward.UsageBatch{LastUsed: map[string]time.Time{
			ids["used-long-ago"]: now.Add(-100 * 24 * time.Hour), ids["used-lately"]: now.Add(-time.Hour),
			ids["expires-soon"]: now, ids["expires-later"]: now,
		}})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			args []string
			want []string
		}{
			{[]string{"--unused-for", "30m"}, []string{"never-used", "used-lately", "used-long-ago"}},
			{[]string{"--expires-within", "168h"}, []string{"expires-soon"}},
			{[]string{"--never-used"}, []string{"never-used"}},
			{[]string{"--no-expiry"}, []string{"never-used", "used-lately", "used-long-ago"}},
			{[]string{"--unused-for", "2160h"}, []string{"never-used", "used-long-ago"}},
			{[]string{"--no-expiry", "--unused-for", "2160h", "--status", "active", "-q", "used-"}, []string{"used-long-ago"}},
		} {
			if got := c.listed(tc.args...); !slices.Equal(got, tc.want) {
				t.Errorf("keys list %s: %v, want %v", strings.Join(tc.args, " "), got, tc.want)
			}
		}
		c.refused("--unused-for must be a positive duration", "keys", "list", "--unused-for", "0s")
		c.refused("--expires-within must be a positive duration", "keys", "list", "--expires-within", "-1h")
		c.refused("--unused-for", "keys", "list", "--unused-for", "90d")
	})
}

// TestPolicyBadUsage: a lifetime that is not a positive Go duration, or a
// default longer than the maximum, is bad usage; policy set writes nothing
// then, and serve creates nothing, whether the value comes from a flag or
// from the environment.
func TestPolicyBadUsage(t *testing.T) {
	c := newCLI(t)
	c.refused("--max-key-lifetime must be a positive duration", "policy", "set", "--max-key-lifetime", "0s")
	c.refused("--max-key-lifetime", "policy", "set", "--max-key-lifetime", "90d")
	c.refused("must not be longer than --max-key-lifetime", "policy", "set", "--default-key-lifetime", "100h", "--max-key-lifetime", "10h")
	c.refused(`unknown command "clear"`, "policy", "clear")
	if out := c.mustRun("policy", "show", "-o", "json"); compactJSON(t, out) != `{"default_key_lifetime":null,"max_key_lifetime":null}` {
		t.Errorf("policy show after refused sets: %s", out)
	}

	dir := t.TempDir()
	db := "sqlite:" + dir + "/k.db"
	code, out, stderr := runCLI(t, map[string]string{"KEYWARD_MAX_KEY_LIFETIME": "soon"}, "serve", "--addr", "127.0.0.1:0",
		"--database-url", db, "--default-key-lifetime", "-1h")
	if code != 2 || strings.Count(stderr, "invalid configuration") != 1 {
		t.Fatalf("serve with bad lifetimes: exit %d, %s; want 2, one invalid configuration", code, stderr)
	}
	for _, want := range []string{`KEYWARD_MAX_KEY_LIFETIME: "soon"`, "--default-key-lifetime must be a positive duration"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("serve does not say %q:\n%s", want, stderr)
		}
	}
	if secretRe.MatchString(out+stderr) || strings.Contains(stderr, "listening") {
		t.Errorf("serve printed a key or said it listens before failing on its lifetimes:\n%s%s", out, stderr)
	}
	code, _, stderr = runCLI(t, nil, "serve", "--addr", "127.0.0.1:0", "--database-url", db,
		"--default-key-lifetime", "100h", "--max-key-lifetime", "10h")
	if code != 2 || !strings.Contains(stderr, "--default-key-lifetime (100h0m0s) must not be longer than --max-key-lifetime (10h0m0s)") {
		t.Errorf("serve with a default longer than the maximum: exit %d, %s", code, stderr)
	}
	if files, err := os.ReadDir(dir); err != nil || len(files) != 0 {
		t.Errorf("serve created %v before failing on its configuration (%v)", files, err)
	}
}

// TestServeRecordsThePolicy: keyward serve records its lifetimes at start
// (GET /v1/policy and policy show agree); its first admin key gets the
// maximum when no default is set; a restart with other flags changes the
// policy, and one with the same flags writes nothing.
func TestServeRecordsThePolicy(t *testing.T) {
	c := newCLI(t)
	env := []string{"KEYWARD_PEPPER=" + testPepper, "KEYWARD_MAX_KEY_LIFETIME=2160h"}
	before := time.Now()
	srv := testserver.Start(t, env, "--database-url", c.db)
	if srv.AdminKey == "" {
		t.Fatalf("no admin key printed on first start:\n%s", srv.Log())
	}
	if !strings.Contains(srv.Log(), "It expires at") {
		t.Errorf("the first start does not say when its admin key expires:\n%s", srv.Log())
	}
	var pol map[string]any
	srv.Do(t, "GET", "/v1/policy", srv.AdminKey, nil).JSON(t, &pol)
	if pol["default_key_lifetime"] != nil || pol["max_key_lifetime"] != "2160h0m0s" {
		t.Errorf("GET /v1/policy: %v", pol)
	}
	var admin struct {
		Items []struct {
			ExpiresAt *time.Time `json:"expires_at"`
		} `json:"items"`
	}
	srv.Do(t, "GET", "/v1/keys", srv.AdminKey, nil).JSON(t, &admin)
	if len(admin.Items) != 1 || admin.Items[0].ExpiresAt == nil || admin.Items[0].ExpiresAt.After(time.Now().Add(2160*time.Hour)) ||
		admin.Items[0].ExpiresAt.Before(before.Add(2160*time.Hour).Truncate(time.Second)) {
		t.Errorf("the first admin key under a maximum of 2160h: %+v", admin.Items)
	}
	// The CLI applies the stored policy.
	c.refused("maximum key lifetime", "keys", "create", "x", "--expires-in", "never")
	srv.Stop()

	srv = testserver.Start(t, []string{"KEYWARD_PEPPER=" + testPepper}, "--database-url", c.db, "--default-key-lifetime", "24h",
		"--admin-token", "policy-test-admin-token-of-32-characters")
	if out := c.mustRun("policy", "show", "-o", "json"); compactJSON(t, out) != `{"default_key_lifetime":"24h0m0s","max_key_lifetime":null}` {
		t.Errorf("policy show after a restart with --default-key-lifetime 24h alone: %s", out)
	}
	srv.Stop()
	testserver.Start(t, []string{"KEYWARD_PEPPER=" + testPepper}, "--database-url", c.db, "--default-key-lifetime", "24h",
		"--admin-token", "policy-test-admin-token-of-32-characters").Stop()
	entries, err := c.store().ListAudit(context.Background(), keyward.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, e := range entries {
		if e.Action == keyward.ActionPolicyUpdate {
			actors = append(actors, e.Actor)
		}
	}
	if !slices.Equal(actors, []string{"serve", "serve"}) {
		t.Errorf("audit entries policy.update by %v, want two by serve (the third start changed nothing)", actors)
	}
}
