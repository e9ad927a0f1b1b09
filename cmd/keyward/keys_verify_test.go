package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/testredis"
	"github.com/keyward/keyward/internal/testsqlite"
)

// createKey creates a key with the CLI and returns its id and secret.
func (c *cliEnv) createKey(args ...string) (id, secret string) {
	c.t.Helper()
	out := c.mustRun(append([]string{"keys", "create"}, append(args, "-o", "json")...)...)
	var iss struct {
		Key struct {
			ID string `json:"id"`
		} `json:"key"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &iss); err != nil {
		c.t.Fatalf("keys create -o json: %v\n%s", err, out)
	}
	return iss.Key.ID, iss.Secret
}

// TestVerifyRateLimitedKey verifies a key with a rate limit, as the README's
// example key has: the CLI has a limiter of its own, so it is VALID, with a
// cost and with --cost 0.
func TestVerifyRateLimitedKey(t *testing.T) {
	c := newCLI(t)
	_, secret := c.createKey("limited", "--scope", "invoices:read", "--rate-limit", "100/1m")
	for _, args := range [][]string{
		{"keys", "verify", secret, "--scope", "invoices:read"},
		{"keys", "verify", secret, "--cost", "0"},
		{"keys", "verify", secret, "--cost", "5", "-o", "json"},
	} {
		code, out, stderr := c.run(args...)
		if code != 0 || !strings.Contains(out, "VALID") {
			t.Errorf("keyward %s: exit %d\n%s%s", strings.Join(args[:2], " "), code, out, stderr)
		}
	}
}

// TestVerifySharesRateLimitsThroughRedis verifies through the CLI with
// --redis-url: it takes from the budget every server on that Redis shares,
// so the second use of a 1-per-minute key is RATE_LIMITED.
func TestVerifySharesRateLimitsThroughRedis(t *testing.T) {
	r := testredis.Start(t)
	c := newCLI(t)
	_, secret := c.createKey("one a minute", "--rate-limit", "1/1m")
	c.env["KEYWARD_REDIS_URL"] = r.URL()
	if code, out, stderr := c.run("keys", "verify", secret); code != 0 {
		t.Fatalf("first verify: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ := c.run("keys", "verify", secret)
	if code != 1 || !strings.HasPrefix(out, "RATE_LIMITED") {
		t.Errorf("second verify within the minute: exit %d, %q; want 1 and RATE_LIMITED (the budget is in Redis)", code, out)
	}
}

// TestVerifyKeepsTheHashScheme verifies a bcrypt key through the CLI, whose
// --hasher default is hmac: the key keeps its bcrypt hash (the CLI does not
// change a deployment's hashing policy) unless --rehash asks for it.
func TestVerifyKeepsTheHashScheme(t *testing.T) {
	c := newCLI(t)
	id, secret := c.createKey("slow", "--hasher", "bcrypt")
	u, _ := parseDatabaseURL(c.db)
	hash := func() string {
		t.Helper()
		var h string
		if err := testsqlite.Open(t, u.path).QueryRow("SELECT hash FROM keys WHERE id = ?", id).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := hash(); !strings.HasPrefix(h, "$bcrypt-sha256$") {
		t.Fatalf("keys create --hasher bcrypt stored %.16q", h)
	}
	for range 2 {
		c.mustRun("keys", "verify", secret)
	}
	if h := hash(); !strings.HasPrefix(h, "$bcrypt-sha256$") {
		t.Fatalf("keys verify turned a bcrypt key into %.16q", h)
	}
	c.mustRun("keys", "verify", secret, "--rehash", "--hasher", "argon2id")
	if h := hash(); !strings.HasPrefix(h, "$argon2id$") {
		t.Errorf("keys verify --rehash --hasher argon2id left %.16q", h)
	}
}
