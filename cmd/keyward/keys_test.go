package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testserver"
	"github.com/keyward/keyward/internal/testsqlite"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/memory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testPepper = "cli-test-pepper-of-at-least-32-bytes-long"

// cliEnv is a migrated SQLite database and the environment of a CLI user.
type cliEnv struct {
	t   *testing.T
	db  string
	env map[string]string
}

func newCLI(t *testing.T) *cliEnv {
	t.Helper()
	db := "sqlite:" + filepath.Join(t.TempDir(), "keys.db")
	c := &cliEnv{t: t, db: db, env: map[string]string{"KEYWARD_PEPPER": testPepper, "KEYWARD_DATABASE_URL": db}}
	if code, _, stderr := runCLI(t, c.env, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	return c
}

func (c *cliEnv) run(args ...string) (int, string, string) {
	c.t.Helper()
	return runCLI(c.t, c.env, args...)
}

// mustRun runs a command that must succeed and returns its stdout.
func (c *cliEnv) mustRun(args ...string) string {
	c.t.Helper()
	code, out, stderr := c.run(args...)
	if code != 0 {
		c.t.Fatalf("keyward %s: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
	}
	return out
}

var (
	secretRe = regexp.MustCompile(`\b[a-z][a-z0-9_]*_[0-9A-Za-z]{16}_[0-9A-Za-z]{46}\b`)
	idRe     = regexp.MustCompile(`\b[0-9A-Za-z]{16}\b`)
	timeRe   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	cursorRe = regexp.MustCompile(`("next_cursor": |--cursor )"?[A-Za-z0-9_-]+"?`)
)

// normalize replaces what changes from run to run (secrets, ids, times,
// cursors) with placeholders, so transcripts can be compared.
func normalize(s string) string {
	s = secretRe.ReplaceAllString(s, "<secret>")
	s = cursorRe.ReplaceAllString(s, "$1<cursor>")
	s = timeRe.ReplaceAllString(s, "<time>")
	return idRe.ReplaceAllString(s, "<id>")
}

// TestKeysTranscript drives every verb, in table and JSON form, and compares
// the transcript with testdata/keys.golden (go test ./cmd/keyward -run
// Transcript -update to accept a change).
func TestKeysTranscript(t *testing.T) {
	c := newCLI(t)
	tr := newTranscript(c)
	step := tr.step
	var issued struct {
		Key    keyward.Key `json:"key"`
		Secret string      `json:"secret"`
	}
	out := step(0, "keys", "create", "billing service", "--owner", "team-billing", "--scope", "invoices:read", "--scope", "invoices:write",
		"--rate-limit", "100/1m", "--expires-in", "720h", "--metadata", `{"plan":"pro"}`, "-o", "json")
	if err := json.Unmarshal([]byte(out), &issued); err != nil {
		t.Fatalf("create -o json: %v\n%s", err, out)
	}
	step(0, "keys", "create", "reporting", "--owner", "team-data", "--remaining", "1000", "--refill", "monthly:1000", "--prefix", "sk_live")
	step(0, "keys", "list")
	step(0, "keys", "list", "--owner", "team-billing", "-o", "json")
	step(0, "keys", "get", issued.Key.ID)
	step(0, "keys", "update", issued.Key.ID, "--name", "billing", "--no-rate-limit", "--disable")
	step(1, "keys", "verify", issued.Secret, "--scope", "invoices:read")
	step(0, "keys", "update", issued.Key.ID, "--enable", "-o", "json")
	step(0, "keys", "verify", issued.Secret, "--scope", "invoices:read")
	step(1, "keys", "verify", issued.Secret, "--scope", "admin:*")
	step(1, "keys", "verify", "kw_not_a_key")
	out = step(0, "keys", "rotate", issued.Key.ID, "--grace-period", "24h", "-o", "json")
	var rotated struct {
		Key    keyward.Key `json:"key"`
		Secret string      `json:"secret"`
	}
	json.Unmarshal([]byte(out), &rotated)
	step(0, "keys", "revoke", rotated.Key.ID)
	step(1, "keys", "update", rotated.Key.ID, "--name", "x")
	step(0, "keys", "delete", rotated.Key.ID)
	step(1, "keys", "get", rotated.Key.ID)
	step(0, "keys", "list", "--status", "active")
	step(0, "keys", "export")
	tr.check("keys.golden")
}

// transcript records CLI commands and their outputs, to compare with a
// golden file in testdata.
type transcript struct {
	c *cliEnv
	b strings.Builder
}

func newTranscript(c *cliEnv) *transcript { return &transcript{c: c} }

// step runs a command, records it with its output and exit status, and
// returns its standard output; the status must be want.
func (tr *transcript) step(want int, args ...string) string {
	t := tr.c.t
	t.Helper()
	code, out, stderr := tr.c.run(args...)
	fmt.Fprintf(&tr.b, "$ keyward %s\n%s", strings.Join(args, " "), out)
	if stderr != "" {
		fmt.Fprintf(&tr.b, "[stderr] %s", stderr)
	}
	fmt.Fprintf(&tr.b, "[exit %d]\n\n", code)
	if code != want {
		t.Errorf("keyward %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, stderr)
	}
	return out
}

// check compares the transcript, normalized, with testdata/<name> (go test
// ./cmd/keyward -run Transcript -update to accept a change).
func (tr *transcript) check(name string) {
	t := tr.c.t
	t.Helper()
	got := normalize(tr.b.String())
	golden := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("the transcript %s changed; review the difference and run go test ./cmd/keyward -run Transcript -update\n--- got\n%s", name, got)
	}
}

// TestOutputsNeverShowSecretsOrHashes runs list, get and export (without
// --with-hashes) over keys and looks for any part of a secret or a hash.
func TestOutputsNeverShowSecretsOrHashes(t *testing.T) {
	c := newCLI(t)
	var secrets []string
	for i := range 3 {
		out := c.mustRun("keys", "create", fmt.Sprintf("k%d", i), "-o", "json")
		var iss struct{ Secret string }
		json.Unmarshal([]byte(out), &iss)
		secrets = append(secrets, iss.Secret)
	}
	outs := []string{c.mustRun("keys", "list"), c.mustRun("keys", "list", "-o", "json"), c.mustRun("keys", "export")}
	for _, s := range secrets {
		id := s[3:19]
		outs = append(outs, c.mustRun("keys", "get", id), c.mustRun("keys", "get", id, "-o", "json"))
	}
	for _, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s[20:60]) {
				t.Fatalf("an output shows a secret:\n%s", out)
			}
		}
		if strings.Contains(out, "$hmac") || strings.Contains(out, `"hash"`) {
			t.Fatalf("an output shows a hash:\n%s", out)
		}
	}
	if out := c.mustRun("keys", "export", "--with-hashes"); !strings.Contains(out, `"hash":"$hmac-sha256$`) {
		t.Errorf("export --with-hashes has no hashes:\n%.300s", out)
	}
}

func TestKeysBadUsage(t *testing.T) {
	c := newCLI(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"keys", "create"}, 2, "expected NAME"},
		{[]string{"keys", "create", "x", "--rate-limit", "fast"}, 2, "--rate-limit"},
		{[]string{"keys", "create", "x", "--expires-in", "soon"}, 2, "--expires-in"},
		{[]string{"keys", "create", "x", "--scope", "bad scope"}, 2, `--scope "bad scope": may contain only`},
		{[]string{"keys", "create", "x", "--metadata", "[1]"}, 2, "--metadata: must be a JSON object"},
		{[]string{"keys", "create", "x", "--allowed-cidr", "10.0.0.0/40"}, 2, "--allowed-cidr \"10.0.0.0/40\""},
		{[]string{"keys", "create", "x", "--refill", "weekly:5"}, 2, "--refill"},
		{[]string{"keys", "list", "--status", "sleeping"}, 2, "--status"},
		{[]string{"keys", "list", "-o", "yaml"}, 2, "--output must be table or json"},
		{[]string{"keys", "get", "nope"}, 1, `no key with id "nope"`},
		{[]string{"keys", "update", "x", "--enable", "--disable"}, 2, "contradict"},
		{[]string{"keys", "verify"}, 2, "expected a KEY"},
		{[]string{"keys", "verify", "kw_x", "--client-ip", "nowhere"}, 2, "--client-ip"},
		{[]string{"keys", "list", "--database-url", "sqlite:" + filepath.Join(t.TempDir(), "missing.db")}, 1, "does not exist"},
		{[]string{"keys", "list", "--database-url", "ftp://x"}, 2, "unsupported scheme"},
	}
	for _, tc := range cases {
		code, _, stderr := c.run(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("keyward %s: exit %d, stderr %q; want exit %d naming %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
	// A database of a newer keyward, or an older schema.
	u, _ := parseDatabaseURL(c.db)
	testsqlite.Exec(t, u.path, `INSERT INTO keyward_schema_migrations (version, applied_at) VALUES (99, 0)`)
	if code, _, stderr := c.run("keys", "list"); code != 1 || !strings.Contains(stderr, "newer") {
		t.Errorf("newer schema: exit %d, %q", code, stderr)
	}
}

// TestImport100kWithProgress imports 100,000 exported keys twice: the second
// import changes nothing.
func TestImport100kWithProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 100,000 keys; skipped with -short")
	}
	if raceEnabled {
		t.Skip("100,000 inserts through the pure-Go SQLite take minutes under -race: make test runs this test again without -race")
	}
	c := newCLI(t)
	p, _ := keyhash.NewPepper([]byte(testPepper))
	h, _ := keyhash.NewHMAC(p)
	src, _ := keyward.New(memory.New(), h, &keyward.Options{UsageFlushInterval: -1})
	defer src.Close(context.Background())
	path := filepath.Join(t.TempDir(), "keys.jsonl")
	f, _ := os.Create(path)
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	var sample keyward.Issued
	created := time.Now().Add(-time.Hour)
	for i := range 100_000 {
		tok, _ := keyward.NewToken("kw")
		hash, _ := h.Hash(tok.Secret)
		k := keyward.Key{ID: tok.ID, Prefix: "kw", Name: fmt.Sprintf("imported %d", i), Owner: "bulk", Scopes: []string{"read"},
			Metadata: json.RawMessage(`{}`), AllowedCIDRs: []string{}, Enabled: true, CreatedAt: created, UpdatedAt: created}
		enc.Encode(exported{Key: &k, Hash: hash})
		if i == 4242 {
			sample = keyward.Issued{Key: &k, Secret: tok.String()}
		}
	}
	w.Flush()
	f.Close()

	start := time.Now()
	code, out, stderr := c.run("keys", "import", path, "--progress")
	if code != 0 || !strings.Contains(out, "imported 100000 keys, skipped 0") {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "importing") || !strings.Contains(stderr, "100000/100000") {
		t.Errorf("no progress bar on stderr: %.300q", stderr)
	}
	t.Logf("imported 100,000 keys in %v", time.Since(start).Round(time.Millisecond))
	if code, out, _ := c.run("keys", "import", path); code != 0 || !strings.Contains(out, "imported 0 keys, skipped 100000") {
		t.Errorf("second import: exit %d %s", code, out)
	}
	if code, out, _ := c.run("keys", "verify", sample.Secret); code != 0 || !strings.HasPrefix(out, "VALID") {
		t.Errorf("an imported key does not verify: %s", out)
	}
	u, _ := parseDatabaseURL(c.db)
	if n := countKeys(t, u.path); n != 100_000 {
		t.Errorf("%d keys after importing the same file twice, want 100,000", n)
	}
}

func TestImportRejectsBadLinesAndWritesNothing(t *testing.T) {
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(path, []byte(`{"id":"AAAAAAAAAAAAAAAA","prefix":"kw","name":"ok","hash":"$hmac-sha256$p=x$y"}
{"id":"short","prefix":"kw","name":"","hash":""}
not json
`), 0o644)
	code, _, stderr := c.run("keys", "import", path)
	if code != 1 || !strings.Contains(stderr, "line 2") || !strings.Contains(stderr, "line 3") || !strings.Contains(stderr, "nothing imported") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	u, _ := parseDatabaseURL(c.db)
	if n := countKeys(t, u.path); n != 0 {
		t.Errorf("%d keys written from a file with bad lines", n)
	}
}

// TestCLIAndServerShareADatabase creates and revokes with the CLI while
// keyward serve runs on the same SQLite file.
func TestCLIAndServerShareADatabase(t *testing.T) {
	c := newCLI(t)
	u, _ := parseDatabaseURL(c.db)
	env := []string{"KEYWARD_PEPPER=" + testPepper}
	args := []string{"--database-url", c.db, "--cache-ttl", "1s", "--admin-token", "shared-db-admin-token-of-32-characters"}
	redisURL := os.Getenv("KEYWARD_TEST_REDIS_URL")
	if redisURL != "" {
		args = append(args, "--redis-url", redisURL)
	}
	srv := testserver.Start(t, env, args...)
	_ = u

	auth := func(secret string) int {
		t.Helper()
		return srv.Do(t, "GET", "/v1/auth", "", nil, "X-API-Key", secret).Status
	}
	out := c.mustRun("keys", "create", "made by the CLI", "-o", "json")
	var iss struct {
		Key    keyward.Key `json:"key"`
		Secret string      `json:"secret"`
	}
	json.Unmarshal([]byte(out), &iss)
	if code := auth(iss.Secret); code != 200 {
		t.Fatalf("the server does not verify a key the CLI just created: %d", code)
	}
	c.mustRun("keys", "revoke", iss.Key.ID)
	start := time.Now()
	for auth(iss.Secret) != 401 {
		if time.Since(start) > 3*time.Second {
			t.Fatal("the server still accepts a key revoked with the CLI 3s later (cache TTL 1s)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revoked with the CLI, rejected by the server after %v (cache TTL 1s)", time.Since(start).Round(time.Millisecond))

	if redisURL == "" {
		t.Log("KEYWARD_TEST_REDIS_URL is not set: the shared-Redis part is skipped")
		return
	}
	c.env["KEYWARD_REDIS_URL"] = redisURL
	out = c.mustRun("keys", "create", "second", "-o", "json")
	json.Unmarshal([]byte(out), &iss)
	if code := auth(iss.Secret); code != 200 {
		t.Fatalf("second key: %d", code)
	}
	c.mustRun("keys", "revoke", iss.Key.ID)
	start = time.Now()
	for auth(iss.Secret) != 401 {
		if time.Since(start) > 500*time.Millisecond {
			t.Fatal("with shared Redis the revoke took more than 500ms to reach the server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("with shared Redis: rejected after %v", time.Since(start).Round(time.Millisecond))
}

// TestImportRefusesKeysOfAPepperNotGiven: keys exported from a database
// with another pepper would never verify in this one: the import names the
// pepper and writes nothing, and imports them once that pepper is given too.
func TestImportRefusesKeysOfAPepperNotGiven(t *testing.T) {
	from := newCLI(t)
	var iss struct {
		Secret string `json:"secret"`
	}
	json.Unmarshal([]byte(from.mustRun("keys", "create", "moved", "-o", "json")), &iss)
	dump := filepath.Join(t.TempDir(), "keys.jsonl")
	os.WriteFile(dump, []byte(from.mustRun("keys", "export", "--with-hashes")), 0o600)
	to := newCLI(t)
	to.env["KEYWARD_PEPPER"] = "another-pepper-of-at-least-32-bytes-long"
	code, _, stderr := to.run("keys", "import", dump)
	if code != 1 || !strings.Contains(stderr, "nothing imported: 1 keys are hashed with pepper") || !strings.Contains(stderr, "keyward peppers") {
		t.Fatalf("exit %d, stderr %q; want the pepper named and nothing imported", code, stderr)
	}
	u, _ := parseDatabaseURL(to.db)
	if n := countKeys(t, u.path); n != 0 {
		t.Fatalf("%d keys written", n)
	}
	to.env["KEYWARD_PEPPER"] = "another-pepper-of-at-least-32-bytes-long," + testPepper
	if out := to.mustRun("keys", "import", dump); !strings.Contains(out, "imported 1 keys") {
		t.Fatalf("with the old pepper given too: %q", out)
	}
	if code, out, _ := to.run("keys", "verify", iss.Secret); code != 0 || !strings.HasPrefix(out, "VALID") {
		t.Errorf("the moved key: exit %d %q, want VALID", code, out)
	}
}
