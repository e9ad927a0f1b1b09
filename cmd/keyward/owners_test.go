package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testserver"
)

// mustJSON runs a command that must succeed with -o json and decodes its
// output into v.
func (c *cliEnv) mustJSON(v any, args ...string) {
	c.t.Helper()
	out := c.mustRun(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("keyward %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// createKey creates a key with the flags given and returns its id and secret.
func (c *cliEnv) createKeyWith(name string, flags ...string) (string, string) {
	c.t.Helper()
	var iss struct {
		Key    keyward.Key `json:"key"`
		Secret string      `json:"secret"`
	}
	c.mustJSON(&iss, append([]string{"keys", "create", name}, flags...)...)
	return iss.Key.ID, iss.Secret
}

// TestOwnersTranscript drives every owners and roles verb, and keys with
// several limits and roles, in table and JSON form, and compares the
// transcript with testdata/owners.golden.
func TestOwnersTranscript(t *testing.T) {
	c := newCLI(t)
	tr := newTranscript(c)
	step := tr.step
	step(0, "roles", "put", "reader", "--description", "read-only access", "--scope", "invoices:read", "--scope", "reports:read")
	step(0, "roles", "put", "admin", "--scope", "invoices:*", "-o", "json")
	step(0, "roles", "list")
	step(0, "roles", "get", "reader", "-o", "json")
	step(0, "owners", "put", "acme", "--rate-limit", "daily=1000/24h", "--rate-limit", "burst=10/1s",
		"--remaining", "5000", "--refill", "monthly:5000", "--metadata", `{"plan":"pro"}`)
	out := step(0, "keys", "create", "acme production", "--owner", "acme", "--role", "reader",
		"--rate-limit", "100/1m", "--rate-limit", "burst=10/1s", "-o", "json")
	var iss struct{ Key keyward.Key }
	json.Unmarshal([]byte(out), &iss)
	step(0, "keys", "get", iss.Key.ID)
	step(0, "owners", "get", "acme", "-o", "json")
	step(0, "owners", "list")
	step(0, "owners", "update", "acme", "--remaining", "10000", "--no-refill")
	step(1, "roles", "delete", "reader")
	step(0, "keys", "update", iss.Key.ID, "--no-roles", "--rate-limit", "daily=5000/24h", "-o", "json")
	step(0, "roles", "delete", "reader")
	step(0, "owners", "delete", "acme")
	step(1, "owners", "get", "acme")
	step(0, "owners", "list", "-o", "json")
	tr.check("owners.golden")
}

// TestOwnersRoundTrip puts, reads, lists, updates and deletes owner
// records; key_count counts the keys that carry the owner, and the keys
// keep their owner when the record goes.
func TestOwnersRoundTrip(t *testing.T) {
	c := newCLI(t)
	var o keyward.Owner
	c.mustJSON(&o, "owners", "put", "acme", "--rate-limit", "daily=1000/24h", "--rate-limit", "10/1s", "--remaining", "50", "--metadata", `{"plan":"pro"}`)
	want := []keyward.NamedRateLimit{{Name: "default", Limit: 10, Period: keyward.Duration(time.Second)}, {Name: "daily", Limit: 1000, Period: keyward.Duration(24 * time.Hour)}}
	if o.Name != "acme" || o.KeyCount != 0 || o.Remaining == nil || *o.Remaining != 50 || compact(o.Metadata) != `{"plan":"pro"}` || !equalLimits(o.RateLimits, want) {
		t.Fatalf("owners put: %+v", o)
	}
	id, _ := c.createKeyWith("prod", "--owner", "acme")
	c.createKeyWith("staging", "--owner", "acme")
	c.createKeyWith("other", "--owner", "someone-else")
	c.mustJSON(&o, "owners", "get", "acme")
	if o.KeyCount != 2 {
		t.Errorf("owners get: key_count %d, want 2", o.KeyCount)
	}
	if out := c.mustRun("owners", "get", "acme"); !strings.Contains(out, "keys:          2") || !strings.Contains(out, "rate limits:   default 10/1s, daily 1000/24h0m0s") {
		t.Errorf("owners get, table:\n%s", out)
	}

	c.mustRun("owners", "put", "beta")
	var page struct {
		Items      []keyward.Owner `json:"items"`
		NextCursor string          `json:"next_cursor"`
	}
	code, out, stderr := c.run("owners", "list", "--limit", "1")
	if code != 0 || !strings.Contains(out, "acme") || strings.Contains(out, "beta") || !strings.Contains(stderr, "more owner records follow: --cursor ") {
		t.Errorf("owners list --limit 1: exit %d\n%s%s", code, out, stderr)
	}
	c.mustJSON(&page, "owners", "list", "--limit", "1", "--all")
	if len(page.Items) != 2 || page.Items[0].Name != "acme" || page.Items[1].Name != "beta" || page.NextCursor != "" {
		t.Errorf("owners list --all: %+v", page)
	}
	c.mustJSON(&page, "owners", "list", "-q", "ET")
	if len(page.Items) != 1 || page.Items[0].Name != "beta" {
		t.Errorf("owners list -q ET: %+v", page)
	}

	// update changes only what it is given; put replaces everything.
	c.mustJSON(&o, "owners", "update", "acme", "--remaining", "7", "--refill", "daily:7")
	if *o.Remaining != 7 || o.Refill == nil || o.Refill.Amount != 7 || len(o.RateLimits) != 2 || compact(o.Metadata) != `{"plan":"pro"}` {
		t.Errorf("owners update --remaining --refill: %+v", o)
	}
	c.mustJSON(&o, "owners", "update", "acme", "--no-rate-limits", "--no-refill", "--no-remaining")
	if len(o.RateLimits) != 0 || o.Remaining != nil || o.Refill != nil || o.KeyCount != 2 {
		t.Errorf("owners update --no-...: %+v", o)
	}
	c.mustJSON(&o, "owners", "update", "acme", "--rate-limit", "hourly=60/1h")
	if len(o.RateLimits) != 1 || o.RateLimits[0].Name != "hourly" {
		t.Errorf("owners update --rate-limit: %+v", o.RateLimits)
	}
	code, _, stderr = c.run("owners", "put", "acme")
	c.mustJSON(&o, "owners", "get", "acme")
	if code != 0 || !strings.Contains(stderr, "replaced owner acme") || len(o.RateLimits) != 0 || compact(o.Metadata) != "{}" {
		t.Errorf("owners put over a record: exit %d, %q, %+v; want it replaced with defaults", code, stderr, o)
	}

	if out := c.mustRun("owners", "delete", "acme"); out != "deleted owner acme\n" {
		t.Errorf("owners delete: %q", out)
	}
	for _, args := range [][]string{{"get", "acme"}, {"delete", "acme"}, {"update", "acme", "--remaining", "1"}} {
		if code, _, stderr := c.run(append([]string{"owners"}, args...)...); code != 1 || !strings.Contains(stderr, `no owner named "acme"`) {
			t.Errorf("owners %s of a deleted record: exit %d, %q; want 1 and no owner named", args[0], code, stderr)
		}
	}
	var k keyward.Key
	c.mustJSON(&k, "keys", "get", id)
	if k.Owner != "acme" {
		t.Errorf("a key lost its owner string with the record: %q", k.Owner)
	}
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	json.Compact(&b, raw)
	return b.String()
}

func equalLimits(a, b []keyward.NamedRateLimit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRolesPutListDelete: a key with a role has the role's scopes; the role
// cannot be deleted while a key has it, and can once none has.
func TestRolesPutListDelete(t *testing.T) {
	c := newCLI(t)
	var r keyward.Role
	c.mustJSON(&r, "roles", "put", "reader", "--description", "read-only", "--scope", "invoices:read")
	if r.Name != "reader" || r.Description != "read-only" || len(r.Scopes) != 1 || r.Scopes[0] != "invoices:read" {
		t.Fatalf("roles put: %+v", r)
	}
	c.mustRun("roles", "put", "writer", "--scope", "invoices:write")
	var page struct{ Items []keyward.Role }
	c.mustJSON(&page, "roles", "list")
	if len(page.Items) != 2 || page.Items[0].Name != "reader" || page.Items[1].Name != "writer" {
		t.Errorf("roles list: %+v", page)
	}
	if out := c.mustRun("roles", "list"); !strings.Contains(out, "reader  invoices:read   read-only") {
		t.Errorf("roles list, table:\n%s", out)
	}

	id, secret := c.createKeyWith("reporting", "--role", "reader", "--role", "reader")
	if code, out, _ := c.run("keys", "verify", secret, "--scope", "invoices:read"); code != 0 {
		t.Errorf("a key does not have its role's scope: exit %d, %s", code, out)
	}
	if code, out, _ := c.run("keys", "verify", secret, "--scope", "invoices:write"); code != 1 || !strings.Contains(out, "INSUFFICIENT_SCOPE") {
		t.Errorf("a key has a scope of a role it lacks: exit %d, %s", code, out)
	}
	// Changing the role changes the key.
	c.mustRun("roles", "put", "reader", "--scope", "invoices:read", "--scope", "invoices:write")
	if code, out, _ := c.run("keys", "verify", secret, "--scope", "invoices:write"); code != 0 {
		t.Errorf("a role's new scope does not reach its key: exit %d, %s", code, out)
	}

	code, _, stderr := c.run("roles", "delete", "reader")
	if code != 1 || !strings.Contains(stderr, `role "reader" is not deleted`) || !strings.Contains(stderr, "key "+id) {
		t.Errorf("roles delete while a key has it: exit %d, %q; want 1 naming the key", code, stderr)
	}
	c.mustJSON(&r, "roles", "get", "reader") // still there
	var k keyward.Key
	c.mustJSON(&k, "keys", "update", id, "--role", "writer")
	if len(k.Roles) != 1 || k.Roles[0] != "writer" {
		t.Errorf("keys update --role replaces the roles: %v", k.Roles)
	}
	if out := c.mustRun("roles", "delete", "reader"); out != "deleted role reader\n" {
		t.Errorf("roles delete: %q", out)
	}
	if code, _, stderr := c.run("roles", "get", "reader"); code != 1 || !strings.Contains(stderr, `no role named "reader"`) {
		t.Errorf("roles get of a deleted role: exit %d, %q", code, stderr)
	}
	c.mustJSON(&k, "keys", "update", id, "--no-roles")
	if len(k.Roles) != 0 {
		t.Errorf("keys update --no-roles: %v", k.Roles)
	}
	c.mustRun("roles", "delete", "writer")
}

// TestKeysSeveralRateLimitsAndRoles: --rate-limit without a name is the
// default limit (rate_limit), with a name one more; on update any
// --rate-limit replaces the whole list and --no-rate-limit clears it.
func TestKeysSeveralRateLimitsAndRoles(t *testing.T) {
	c := newCLI(t)
	c.mustRun("roles", "put", "reader", "--scope", "invoices:read")
	var iss struct{ Key keyward.Key }
	c.mustJSON(&iss, "keys", "create", "k", "--rate-limit", "burst=2/1s", "--rate-limit", "100/1m", "--role", "reader")
	k := iss.Key
	want := []keyward.NamedRateLimit{{Name: "default", Limit: 100, Period: keyward.Duration(time.Minute)}, {Name: "burst", Limit: 2, Period: keyward.Duration(time.Second)}}
	if k.RateLimit == nil || k.RateLimit.Limit != 100 || !equalLimits(k.RateLimits, want) || len(k.Roles) != 1 || k.Roles[0] != "reader" {
		t.Fatalf("keys create with two --rate-limit and --role: rate_limit %v, rate_limits %v, roles %v", k.RateLimit, k.RateLimits, k.Roles)
	}
	out := c.mustRun("keys", "get", k.ID)
	if !strings.Contains(out, "rate limits:   default 100/1m0s, burst 2/1s\n") || !strings.Contains(out, "roles:         reader\n") {
		t.Errorf("keys get does not show every limit and the roles:\n%s", out)
	}

	c.mustJSON(&k, "keys", "update", k.ID, "--rate-limit", "daily=10/24h")
	if k.RateLimit != nil || len(k.RateLimits) != 1 || k.RateLimits[0].Name != "daily" {
		t.Errorf("keys update --rate-limit daily=...: rate_limit %v, rate_limits %v; want the list replaced", k.RateLimit, k.RateLimits)
	}
	c.mustJSON(&k, "keys", "update", k.ID, "--rate-limit", "50/1m")
	if k.RateLimit == nil || k.RateLimit.Limit != 50 || len(k.RateLimits) != 1 {
		t.Errorf("keys update --rate-limit 50/1m: rate_limit %v, rate_limits %v", k.RateLimit, k.RateLimits)
	}
	c.mustJSON(&k, "keys", "update", k.ID, "--rate-limit", "50/1m", "--rate-limit", "daily=10/24h")
	c.mustJSON(&k, "keys", "update", k.ID, "--no-rate-limit")
	if k.RateLimit != nil || len(k.RateLimits) != 0 {
		t.Errorf("keys update --no-rate-limit: rate_limit %v, rate_limits %v; want none", k.RateLimit, k.RateLimits)
	}
	c.mustJSON(&k, "keys", "update", k.ID, "--name", "renamed")
	if len(k.Roles) != 1 {
		t.Errorf("keys update without --role changed the roles: %v", k.Roles)
	}
}

// TestVerifySpendsTheOwnersCredits: keys verify of keys whose owner has
// credits spends them; the owner's record shows what is left, and a top-up
// with owners update lets the keys verify again.
func TestVerifySpendsTheOwnersCredits(t *testing.T) {
	c := newCLI(t)
	c.mustRun("owners", "put", "acme", "--remaining", "3")
	_, prod := c.createKeyWith("prod", "--owner", "acme")
	_, staging := c.createKeyWith("staging", "--owner", "acme")
	for i, s := range []string{prod, staging, prod} {
		if code, out, _ := c.run("keys", "verify", s); code != 0 {
			t.Fatalf("verification %d: exit %d, %s", i+1, code, out)
		}
	}
	var o keyward.Owner
	c.mustJSON(&o, "owners", "get", "acme")
	if o.Remaining == nil || *o.Remaining != 0 {
		t.Errorf("after 3 verifications the owner has %v credits left, want 0", o.Remaining)
	}
	if code, out, _ := c.run("keys", "verify", staging); code != 1 || !strings.Contains(out, "USAGE_EXCEEDED") {
		t.Errorf("verification past the owner's credits: exit %d, %s; want 1 and USAGE_EXCEEDED", code, out)
	}
	c.mustRun("owners", "update", "acme", "--remaining", "2")
	if code, out, _ := c.run("keys", "verify", staging, "--cost", "2"); code != 0 {
		t.Errorf("verification after a top-up: exit %d, %s", code, out)
	}
	c.mustJSON(&o, "owners", "get", "acme")
	if o.Remaining == nil || *o.Remaining != 0 {
		t.Errorf("after spending the top-up the owner has %v credits left, want 0", o.Remaining)
	}
}

// TestOwnersAndRolesNeedNoPepper: the owners and roles verbs hash no key,
// so they work on a database whose pepper is not at hand.
func TestOwnersAndRolesNeedNoPepper(t *testing.T) {
	c := newCLI(t)
	delete(c.env, "KEYWARD_PEPPER")
	c.mustRun("owners", "put", "acme", "--remaining", "1")
	c.mustRun("owners", "list")
	c.mustRun("roles", "put", "reader", "--scope", "invoices:read")
	if code, _, stderr := c.run("keys", "list"); code != 1 || !strings.Contains(stderr, "no pepper") {
		t.Errorf("keys list without the pepper: exit %d, %q; want 1 and no pepper", code, stderr)
	}
}

func TestOwnersAndRolesBadUsage(t *testing.T) {
	c := newCLI(t)
	c.mustRun("owners", "put", "acme")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"keys", "create", "x", "--rate-limit", "burst=fast"}, 2, `--rate-limit "burst=fast": want [NAME=]N/PERIOD`},
		{[]string{"keys", "create", "x", "--rate-limit", "=5/1m"}, 2, `--rate-limit "=5/1m": want [NAME=]N/PERIOD`},
		{[]string{"keys", "create", "x", "--rate-limit", "5/1m", "--rate-limit", "default=6/1m"}, 2, `both set the "default" limit`},
		{[]string{"keys", "create", "x", "--rate-limit", "Burst=5/1s"}, 2, `--rate-limit "Burst=5/1s": name must match`},
		{[]string{"keys", "create", "x", "--rate-limit", "a=1/1s", "--rate-limit", "b=0/1s"}, 2, `--rate-limit "b=0/1s": limit must be at least 1`},
		{[]string{"keys", "create", "x", "--rate-limit", "5/10ms"}, 2, `--rate-limit "5/10ms": period must be between 1s`},
		{[]string{"keys", "create", "x", "--role", "nope"}, 2, `--role "nope": no role is named "nope"; create it first (keyward roles put nope)`},
		{[]string{"keys", "create", "x", "--role", "Bad Role"}, 2, `--role "Bad Role": must match`},
		{[]string{"keys", "update", "AAAAAAAAAAAAAAAA", "--role", "nope"}, 2, `--role "nope": no role is named`},
		{[]string{"keys", "update", "AAAAAAAAAAAAAAAA", "--role", "r", "--no-roles"}, 2, "contradict"},
		{[]string{"keys", "update", "AAAAAAAAAAAAAAAA", "--rate-limit", "1/1s", "--no-rate-limit"}, 2, "contradict"},
		{[]string{"keys", "update", "AAAAAAAAAAAAAAAA", "--refill", "monthly:7", "--no-refill"}, 2, "--refill and --no-refill contradict"},
		{[]string{"keys", "update", "AAAAAAAAAAAAAAAA", "--expires-at", "2030-01-01T00:00:00Z", "--no-expiry"}, 2, "--expires-at and --no-expiry contradict"},
		{[]string{"keys", "update", "AAAAAAAAAAAAAAAA", "--expires-in", "never", "--no-expiry"}, 2, "--expires-in and --no-expiry contradict"},
		{[]string{"keys", "update", "AAAAAAAAAAAAAAAA", "--remaining", "3", "--unlimited"}, 2, "--remaining and --unlimited contradict"},
		{[]string{"keys", "update", "AAAAAAAAAAAAAAAA", "--allowed-cidr", "10.0.0.0/8", "--clear-allowed-cidrs"}, 2, "--allowed-cidr and --clear-allowed-cidrs contradict"},
		{[]string{"keys", "update", "AAAAAAAAAAAAAAAA", "--scope", "a", "--clear-scopes"}, 2, "--scope and --clear-scopes contradict"},
		{[]string{"keys", "update", "AAAAAAAAAAAAAAAA", "--enable", "--disable"}, 2, "--enable and --disable contradict"},
		{[]string{"keys", "create", "x", "--allowed-cidr", "10.0.0.0/8", "--allowed-cidr", "nope"}, 2, `--allowed-cidr "nope": not a valid CIDR`},
		{[]string{"owners", "put"}, 2, "expected an owner NAME"},
		{[]string{"owners", "put", "a\x01b"}, 2, `NAME "a\x01b": must be 1-200 characters`},
		{[]string{"owners", "put", "acme", "--rate-limit", "0/1s"}, 2, `--rate-limit "0/1s": limit must be at least 1`},
		{[]string{"owners", "put", "acme", "--metadata", "[1]"}, 2, "--metadata: must be a JSON object"},
		{[]string{"owners", "put", "acme", "--refill", "weekly:5", "--remaining", "5"}, 2, `--refill: interval must be "daily" or "monthly"`},
		{[]string{"owners", "put", "acme", "--refill", "daily:5"}, 2, "--refill: needs remaining"},
		{[]string{"owners", "update", "acme", "--remaining", "-1"}, 2, "--remaining: must be at least 0"},
		{[]string{"owners", "update", "acme", "--remaining", "1", "--no-remaining"}, 2, "--remaining and --no-remaining contradict"},
		{[]string{"owners", "update", "nobody", "--remaining", "1"}, 1, `no owner named "nobody"`},
		{[]string{"owners", "list", "--limit", "1001"}, 2, "--limit: must be 1-1000"},
		{[]string{"owners", "list", "--limit", "0"}, 2, "--limit: must be 1-1000"},
		{[]string{"roles", "list", "--limit", "0"}, 2, "--limit: must be 1-1000"},
		{[]string{"keys", "list", "--limit", "0"}, 2, "--limit: must be 1-1000"},
		{[]string{"keys", "list", "--limit", "-1"}, 2, "--limit: must be 1-1000"},
		{[]string{"owners", "list", "--cursor", "%%"}, 2, "--cursor"},
		{[]string{"owners", "list", "-o", "yaml"}, 2, "--output must be table or json"},
		{[]string{"roles", "put", "Readers"}, 2, `NAME "Readers": must match`},
		{[]string{"roles", "put", "r", "--scope", "ok", "--scope", "bad scope"}, 2, `--scope "bad scope": may contain only`},
		{[]string{"roles", "get", "nope"}, 1, `no role named "nope"`},
		{[]string{"roles", "delete", "nope"}, 1, `no role named "nope"`},
		{[]string{"roles", "delete"}, 2, "expected a role NAME"},
	}
	for _, tc := range cases {
		code, _, stderr := c.run(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("keyward %q: exit %d, stderr %q; want exit %d naming %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// TestRoleChangesReachTheServer changes a role with the CLI while keyward
// serve runs on the same SQLite file: the server's scope decision follows
// within its cache TTL, and at once when the CLI shares its Redis. An
// owner's top-up reaches it too.
func TestRoleChangesReachTheServer(t *testing.T) {
	c := newCLI(t)
	args := []string{"--database-url", c.db, "--cache-ttl", "1s", "--admin-token", "shared-db-admin-token-of-32-characters"}
	redisURL := os.Getenv("KEYWARD_TEST_REDIS_URL")
	if redisURL != "" {
		args = append(args, "--redis-url", redisURL)
	}
	srv := testserver.Start(t, []string{"KEYWARD_PEPPER=" + testPepper}, args...)
	c.mustRun("roles", "put", "reader", "--scope", "invoices:read")
	c.mustRun("owners", "put", "acme", "--remaining", "0")
	_, secret := c.createKeyWith("prod", "--owner", "acme", "--role", "reader")
	auth := func(scope string) int { t.Helper(); return scopeAuth(t, srv, secret, scope) }
	if code := auth("invoices:read"); code == 200 {
		t.Fatal("the server admits a key whose owner has no credits")
	}
	c.mustRun("owners", "update", "acme", "--remaining", "1000")
	waitSeen(t, "owner top-up", 3*time.Second, func() bool { return auth("invoices:read") == 200 })
	if code := auth("invoices:write"); code != 403 {
		t.Fatalf("a scope the key's role lacks: %d, want 403", code)
	}
	c.mustRun("roles", "put", "reader", "--scope", "invoices:read", "--scope", "invoices:write")
	waitSeen(t, "role change with cache TTL 1s", 3*time.Second, func() bool { return auth("invoices:write") == 200 })

	if redisURL == "" {
		t.Log("KEYWARD_TEST_REDIS_URL is not set: the shared-Redis part is skipped")
		return
	}
	c.env["KEYWARD_REDIS_URL"] = redisURL
	c.mustRun("roles", "put", "reader", "--scope", "invoices:read")
	waitSeen(t, "role change with shared Redis", 500*time.Millisecond, func() bool { return auth("invoices:write") == 403 })
}
