package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeReportsEveryProblemAtOnce: bad flag values, from the command
// line or the environment, and a PostgreSQL URL with no pepper are
// configuration problems like the others: one "invalid configuration"
// message naming each, exit 2.
func TestServeReportsEveryProblemAtOnce(t *testing.T) {
	code, _, stderr := runCLI(t, map[string]string{"KEYWARD_STALE_TTL": "later", "KEYWARD_ACCESS_LOG": "loud"}, "serve",
		"--database-url", "postgres://nobody@127.0.0.1:1/none", "--cache-ttl", "abc", "--cache-size", "many", "--log-format", "xml",
		"--addr", "127.0.0.1:99999", "--shutdown-timeout", "-1s")
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
	}
	if n := strings.Count(stderr, "invalid configuration"); n != 1 {
		t.Errorf("%d invalid configuration messages, want one:\n%s", n, stderr)
	}
	for _, want := range []string{`--cache-ttl: "abc"`, `--cache-size: "many"`, `KEYWARD_STALE_TTL: "later"`, "KEYWARD_PEPPER or --pepper-file", "--log-format", "KEYWARD_ACCESS_LOG (--access-log) must be all, default or off", `must be all, default or off, got "loud"`,
		`--addr "127.0.0.1:99999"`, "--shutdown-timeout must not be negative"} {
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

// TestNoNewPepperForADatabaseWithKeys: serve and migrate make a pepper
// beside a SQLite database that has none only while it holds no key: with
// keys hashed under the pepper that was there, they exit 1 (as the keys
// verbs do) and make none.
func TestNoNewPepperForADatabaseWithKeys(t *testing.T) {
	c := newCLI(t) // the pepper in KEYWARD_PEPPER, none beside the database
	c.mustRun("keys", "create", "hashed with the old pepper")
	u, _ := parseDatabaseURL(c.db)
	for _, args := range [][]string{{"serve", "--addr", "127.0.0.1:0", "--database-url", c.db}, {"migrate", "--database-url", c.db}} {
		code, _, stderr := runCLI(t, nil, args...)
		if code != 1 || !strings.Contains(stderr, "holds 1 keys") || !strings.Contains(stderr, "KEYWARD_PEPPER") {
			t.Errorf("keyward %s: exit %d, stderr %q; want 1 saying the database holds keys", args[0], code, stderr)
		}
		if _, err := os.Stat(u.path + ".pepper"); err == nil {
			t.Fatalf("keyward %s made a new pepper beside a database with keys", args[0])
		}
	}
}

// TestServeMakesAnAdminKeyWhenNoneIsActive: a database that the CLI filled
// with keys but no admin key gets one from serve, printed once, as an
// empty one does; with an active admin key it gets none.
func TestServeMakesAnAdminKeyWhenNoneIsActive(t *testing.T) {
	c := newCLI(t)
	c.mustRun("keys", "create", "a client", "--scope", "invoices:read")
	stderr := serveUntilListening(t, c)
	if !strings.Contains(stderr, "Created an admin key") || !secretRe.MatchString(stderr) {
		t.Fatalf("no admin key printed for a database without one:\n%s", stderr)
	}
	if again := serveUntilListening(t, c); strings.Contains(again, "Created an admin key") {
		t.Errorf("a second admin key printed while the first is active:\n%s", again)
	}
}

// serveUntilListening runs serve on c's database until it says it listens,
// stops it, and returns what it wrote on standard error.
func serveUntilListening(t *testing.T, c *cliEnv) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var buf strings.Builder
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			buf.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "keyward listening") {
				close(listening)
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	exited := make(chan error, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--log-level", "info"}, strings.NewReader(""), io.Discard, pw,
			func(k string) string { return c.env[k] })
		pw.Close()
	}()
	select {
	case <-listening:
	case err := <-exited:
		t.Fatalf("serve exited before listening: %v\n%s", err, buf.String())
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not listen within 60s")
	}
	cancel()
	<-exited
	return buf.String()
}

// TestPepperFileFlagWinsOverTheEnvironment: --pepper-file given on the
// command line is the pepper, even with KEYWARD_PEPPER set (an operator
// rotating peppers passes the new file while the old variable is still
// there): a file that cannot be read is an error, not ignored.
func TestPepperFileFlagWinsOverTheEnvironment(t *testing.T) {
	c := newCLI(t)
	missing := filepath.Join(t.TempDir(), "none.pepper")
	for _, verb := range [][]string{{"keys", "list"}, {"serve", "--addr", "127.0.0.1:0"}} {
		code, _, stderr := c.run(append(verb, "--pepper-file", missing)...)
		if code != 2 || !strings.Contains(stderr, "pepper file") {
			t.Errorf("keyward %s with KEYWARD_PEPPER and a missing --pepper-file: exit %d, stderr %q; want 2 naming the pepper file", verb[0], code, stderr)
		}
	}
}

// TestRedisURLErrorsHideThePassword: a Redis URL that does not parse is a
// configuration error that says why, never with the URL's password.
func TestRedisURLErrorsHideThePassword(t *testing.T) {
	bad := "redis://:S3cretPassw0rd@127.0.0.1:abc/0"
	c := newCLI(t)
	for _, args := range [][]string{{"serve", "--addr", "127.0.0.1:0", "--redis-url", bad}, {"keys", "list", "--redis-url", bad}} {
		code, out, stderr := c.run(args...)
		if code != 2 || !strings.Contains(stderr, "--redis-url") || !strings.Contains(stderr, "invalid port") || strings.Contains(out+stderr, "S3cretPassw0rd") {
			t.Errorf("keyward %s: exit %d, stderr %q; want 2 saying why without the password", args[0], code, stderr)
		}
	}
}
