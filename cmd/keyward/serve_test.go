package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeReportsEveryProblemAtOnce: bad flag values, from the command
// line or the environment, and a PostgreSQL URL with no pepper are
// configuration problems like the others: one "invalid configuration"
// message naming each, exit 2.
func TestServeReportsEveryProblemAtOnce(t *testing.T) {
	code, _, stderr := runCLI(t, map[string]string{"KEYWARD_STALE_TTL": "later", "KEYWARD_ACCESS_LOG": "loud"}, "serve",
		"--database-url", "postgres://nobody@127.0.0.1:1/none", "--cache-ttl", "abc", "--cache-size", "many", "--log-format", "xml")
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
	}
	if n := strings.Count(stderr, "invalid configuration"); n != 1 {
		t.Errorf("%d invalid configuration messages, want one:\n%s", n, stderr)
	}
	for _, want := range []string{`--cache-ttl: "abc"`, `--cache-size: "many"`, `KEYWARD_STALE_TTL: "later"`, "KEYWARD_PEPPER or --pepper-file", "--log-format", `--access-log must be all, default or off, got "loud"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not name %q:\n%s", want, stderr)
		}
	}
	// A bad value is reported as such, not also as out of range.
	if strings.Contains(stderr, "must be positive") || strings.Contains(stderr, "at least 1") {
		t.Errorf("a bad value is reported twice:\n%s", stderr)
	}
}

func TestPostgresWithoutPepperIsBadUsage(t *testing.T) {
	pg := "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"
	for _, args := range [][]string{{"serve", "--database-url", pg}, {"keys", "list", "--database-url", pg}} {
		code, _, stderr := runCLI(t, nil, args...)
		if code != 2 || !strings.Contains(stderr, "KEYWARD_PEPPER") {
			t.Errorf("keyward %s: exit %d, %q; want 2 naming KEYWARD_PEPPER", args[0], code, stderr)
		}
	}
}

// TestServeChecksTLSBeforeAnything starts serve with a broken certificate
// on a new database and no admin token: it exits 2 before it creates or
// prints anything (no admin key, no database, no pepper, no "listening").
func TestServeChecksTLSBeforeAnything(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"), 0o644)
	os.WriteFile(key, []byte("not a key\n"), 0o600)
	db := filepath.Join(dir, "k.db")
	code, out, stderr := runCLI(t, nil, "serve", "--addr", "127.0.0.1:0", "--database-url", "sqlite:"+db, "--tls-cert", cert, "--tls-key", key)
	if code != 2 || !strings.Contains(stderr, "--tls-cert") {
		t.Errorf("exit %d, stderr %q; want 2 naming --tls-cert", code, stderr)
	}
	if secretRe.MatchString(out+stderr) || strings.Contains(stderr, "admin key") || strings.Contains(stderr, "listening") {
		t.Errorf("serve printed a key or said it listens before failing on its certificate:\n%s%s", out, stderr)
	}
	for _, f := range []string{db, db + ".pepper"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("serve created %s before failing on its certificate", filepath.Base(f))
		}
	}
}
