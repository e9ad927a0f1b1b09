package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

// newKey returns a fresh key string that is in no database.
func newKey(t *testing.T, prefix string) string {
	t.Helper()
	tok, err := keyward.NewToken(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return tok.String()
}

// shown is a key as keyward scan prints it: <prefix>_<id>_….
func shown(t *testing.T, key string) string {
	t.Helper()
	tok, err := keyward.Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Prefix + "_" + tok.ID + "_…"
}

// writeTree writes files (path → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// breakChecksum returns key with another last checksum digit.
func breakChecksum(key string) string {
	last := byte('0')
	if key[len(key)-1] == last {
		last = '1'
	}
	return key[:len(key)-1] + string(last)
}

// runScan runs keyward with stdin and returns the exit status and output.
func runScan(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return env[k] })
	return exitCode(err), out.String(), errOut.String()
}

// TestScanTree plants keys in nested directories, a .git directory and a
// binary file: exit 1 and exactly the keys outside .git and the binary file,
// at their line and column, in the order of the walk, never a secret.
func TestScanTree(t *testing.T) {
	kw, sk, other := newKey(t, ""), newKey(t, "sk_live"), newKey(t, "kw")
	garbage := breakChecksum(kw)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"README.md":          "no keys here, only " + garbage + "\n",
		"config/app.env":     "API_KEY=" + kw + "\nSTRIPE=" + sk + "\r\n",
		"src/deep/er/x.go":   "package x\n\n// two on a line\nvar k = []string{\"" + sk + "\", \"" + other + "\"}\n",
		"src/deep/start.txt": kw,
		".git/config":        kw + "\n",
		".git/objects/ab/cd": sk,
		"src/.git":           "gitdir: " + other + "\n", // a submodule's pointer file
		"assets/logo.bin":    "\x89PNG\x00\x00" + kw,
	})
	t.Chdir(dir)
	want := []string{
		"config/app.env:1:9 " + shown(t, kw),
		"config/app.env:2:8 " + shown(t, sk),
		"src/deep/er/x.go:4:19 " + shown(t, sk),
		fmt.Sprintf("src/deep/er/x.go:4:%d %s", 23+len(sk), shown(t, other)),
		"src/deep/start.txt:1:1 " + shown(t, kw),
	}
	code, out, stderr := runScan(t, nil, "", "scan")
	if code != 1 || stderr != "" {
		t.Errorf("exit %d, stderr %q; want 1 and nothing", code, stderr)
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("found\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}
	for _, secret := range []string{kw, sk, other} {
		if tok, _ := keyward.Parse(secret); strings.Contains(out, tok.Secret) {
			t.Errorf("the output holds a secret:\n%s", out)
		}
	}

	// The same as JSON, for a directory and a file named on the command line.
	code, out, _ = runScan(t, nil, "", "scan", "-o", "json", "src/deep/er", "config/app.env")
	var got []finding
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var f finding
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("-o json: %v\n%s", err, out)
		}
		got = append(got, f)
	}
	id := func(key string) string { tok, _ := keyward.Parse(key); return tok.ID }
	wantJSON := []finding{
		{Path: "src/deep/er/x.go", Line: 4, Column: 19, Prefix: "sk_live", ID: id(sk)},
		{Path: "src/deep/er/x.go", Line: 4, Column: 23 + len(sk), Prefix: "kw", ID: id(other)},
		{Path: "config/app.env", Line: 1, Column: 9, Prefix: "kw", ID: id(kw)},
		{Path: "config/app.env", Line: 2, Column: 8, Prefix: "sk_live", ID: id(sk)},
	}
	if code != 1 || fmt.Sprint(got) != fmt.Sprint(wantJSON) {
		t.Errorf("-o json: exit %d\n%s\nwant %v", code, out, wantJSON)
	}
	if strings.Contains(out, `"status"`) {
		t.Errorf("-o json without --check has a status:\n%s", out)
	}
}

// TestScanCleanTree: text with no key, and key-shaped strings with wrong
// checksums: exit 0, nothing printed.
func TestScanCleanTree(t *testing.T) {
	k := newKey(t, "")
	changed := []byte(k)
	// Another base62 character in the id: the checksum no longer matches.
	if changed[10] == 'a' {
		changed[10] = 'b'
	} else {
		changed[10] = 'a'
	}
	garbage := breakChecksum(newKey(t, "sk_live"))
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a.txt":     "hello\nkw_0123456789abcdef_" + strings.Repeat("x", 46) + "\n",
		"b/c.json":  `{"key": "` + string(changed) + `"}`,
		"b/empty":   "",
		"b/garbage": "x = '" + garbage + "'\n",
		".git/HEAD": k,
	})
	code, out, stderr := runScan(t, nil, "", "scan", dir)
	if code != 0 || out != "" || stderr != "" {
		t.Errorf("exit %d, out %q, stderr %q; want 0 and nothing", code, out, stderr)
	}
}

// TestScanStdin reads standard input for "-".
func TestScanStdin(t *testing.T) {
	k := newKey(t, "sk_test")
	code, out, _ := runScan(t, nil, "diff --git a/x b/x\n+token: "+k+"\n", "scan", "-")
	if want := "-:2:9 " + shown(t, k) + "\n"; code != 1 || out != want {
		t.Errorf("exit %d, %q; want 1 and %q", code, out, want)
	}
	if code, out, _ := runScan(t, nil, "nothing\n", "scan", "-"); code != 0 || out != "" {
		t.Errorf("clean standard input: exit %d, %q; want 0 and nothing", code, out)
	}
}

// TestScanBadUsage: bad flags and arguments exit 2 and say what is wrong,
// before anything is read or opened.
func TestScanBadUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "--bogus"}, "unknown flag"},
		{[]string{"scan", "-o", "xml"}, "--output must be table or json"},
		{[]string{"scan", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"scan", "-", "-"}, "more than once"},
		{[]string{"scan", "--check", "--database-url", "mysql://x", dir}, "unsupported scheme"},
		{[]string{"scan", "--revoke", "--redis-url", "nope://x", dir}, "--redis-url"},
	} {
		code, out, stderr := runScan(t, nil, "", c.args...)
		if code != 2 || out != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("keyward %s: exit %d, %q, %q; want 2 and %q", strings.Join(c.args, " "), code, out, stderr, c.want)
		}
	}
	// A database that does not exist is an error (1), and is not created.
	db := filepath.Join(dir, "none.db")
	code, _, stderr := runScan(t, nil, "", "scan", "--check", "--database-url", "sqlite:"+db, dir)
	if _, err := os.Stat(db); code != 1 || !strings.Contains(stderr, "no database at") || err == nil {
		t.Errorf("--check on a missing database: exit %d, %q, stat %v; want 1, no database, nothing created", code, stderr, err)
	}
}

// plantedKeys are key strings of every status, and two that are in no
// database.
type plantedKeys struct {
	active, disabled, revoked, expired, unknown, otherPrefix string
}

// file returns the keys, one a line.
func (p plantedKeys) file() string {
	return strings.Join([]string{p.active, p.disabled, p.revoked, p.expired, p.unknown, p.otherPrefix}, "\n") + "\n"
}

// lines returns what keyward scan prints for p.file() at path, with each
// key's status.
func (p plantedKeys) lines(t *testing.T, path string, statuses ...string) string {
	var b strings.Builder
	for i, k := range []string{p.active, p.disabled, p.revoked, p.expired, p.unknown, p.otherPrefix} {
		fmt.Fprintf(&b, "%s:%d:1 %s %s\n", path, i+1, shown(t, k), statuses[i])
	}
	return b.String()
}

// plantKeys creates keys of every status in the database of c (expired
// through the Service, with a clock two days behind) and returns them.
func plantKeys(t *testing.T, c *cliEnv, open func() keyward.Store) plantedKeys {
	t.Helper()
	var p plantedKeys
	_, p.active = c.createKey("leaked")
	_, p.disabled = c.createKey("off", "--disabled")
	var id string
	id, p.revoked = c.createKey("gone")
	c.mustRun("keys", "revoke", id)
	peppers, _ := keyhash.ParsePeppers(testPepper)
	h, _ := keyhash.NewHMAC(peppers...)
	store := open()
	defer store.Close()
	svc, err := keyward.New(store, h, &keyward.Options{Now: func() time.Time { return time.Now().Add(-48 * time.Hour) }, UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := svc.Create(context.Background(), keyward.CreateParams{Name: "old", ExpiresIn: keyward.Ptr(keyward.Duration(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	svc.Close(context.Background())
	p.expired = iss.Secret
	p.unknown = newKey(t, "kw")
	// The id of the active key with another prefix: not that key.
	tok, _ := keyward.Parse(p.active)
	p.otherPrefix = keyward.Token{Prefix: "sk_live", ID: tok.ID, Secret: tok.Secret}.String()
	return p
}

// TestScanCheckAndRevoke: --check prints each key's status from a SQLite
// database; --revoke revokes the live keys (through the Service: the audit
// log names the actor scan), after which they verify as REVOKED. A forged
// string with a real key's id and a right checksum is unknown and revoked
// never; without the pepper, --check fails (exit 1) as the keys verbs do.
func TestScanCheckAndRevoke(t *testing.T) {
	c := newCLI(t)
	u, _ := parseDatabaseURL(c.db)
	p := plantKeys(t, c, func() keyward.Store {
		s, err := sqlite.Open(context.Background(), u.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"leak.txt": p.file()})
	t.Chdir(dir)
	noPepper := map[string]string{"KEYWARD_DATABASE_URL": c.db} // and none beside the file
	if code, _, stderr := runScan(t, noPepper, "", "scan", "--check"); code != 1 || !strings.Contains(stderr, "pepper") {
		t.Errorf("--check without the pepper: exit %d, %q; want 1 naming the pepper, as the keys verbs", code, stderr)
	}
	env := map[string]string{"KEYWARD_DATABASE_URL": c.db, "KEYWARD_PEPPER": testPepper}

	// A forged string: the active key's id with another secret, and a right checksum.
	tok, _ := keyward.Parse(p.active)
	forged := keyward.Token{Prefix: tok.Prefix, ID: tok.ID, Secret: strings.Repeat("F", keyward.SecretLength)}.String()
	writeTree(t, dir, map[string]string{"forged.txt": "token = " + forged + "\n"})
	if code, out, stderr := runScan(t, env, "", "scan", "--revoke", "forged.txt"); code != 1 || !strings.Contains(out, "unknown") || strings.Contains(out, "revoked") {
		t.Errorf("--revoke of a forged string: exit %d, %q %s; want it unknown and nothing revoked", code, out, stderr)
	}
	if code, out, _ := c.run("keys", "verify", p.active); code != 0 || !strings.HasPrefix(out, "VALID") {
		t.Fatalf("the real key after a forged string was scanned: exit %d, %q; want VALID", code, out)
	}

	code, out, stderr := runScan(t, env, "", "scan", "--check", "leak.txt")
	if want := p.lines(t, "leak.txt", "active", "disabled", "revoked", "expired", "unknown", "unknown"); code != 1 || out != want {
		t.Errorf("--check: exit %d\n%s%s\nwant\n%s", code, out, stderr, want)
	}

	code, out, stderr = runScan(t, env, "", "scan", "--revoke", "leak.txt")
	want := p.lines(t, "leak.txt", "revoked (was active)", "revoked (was disabled)", "revoked", "revoked (was expired)", "unknown", "unknown")
	if code != 1 || out != want {
		t.Errorf("--revoke: exit %d\n%s%s\nwant\n%s", code, out, stderr, want)
	}
	if code, out, _ := c.run("keys", "verify", p.active); code != 1 || !strings.HasPrefix(out, "REVOKED") {
		t.Errorf("keys verify of the revoked key: exit %d, %q; want 1 and REVOKED", code, out)
	}

	store, err := sqlite.Open(context.Background(), u.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	entries, err := store.ListAudit(context.Background(), keyward.AuditFilter{KeyID: tok.ID, Limit: 10})
	if err != nil || len(entries) == 0 || entries[0].Action != keyward.ActionRevoke || entries[0].Actor != "scan" {
		t.Errorf("audit log of the revoked key: %+v, %v; want key.revoke by scan first", entries, err)
	}

	// A second --revoke finds them revoked, and -o json says so.
	code, out, _ = runScan(t, env, "", "scan", "--revoke", "-o", "json", "leak.txt")
	if code != 1 || strings.Count(out, `"status":"revoked"`) != 4 || strings.Contains(out, `"revoked":true`) {
		t.Errorf("second --revoke -o json: exit %d\n%s", code, out)
	}
}

// TestScanCheckPostgres is --check and --revoke on PostgreSQL
// (KEYWARD_TEST_POSTGRES_URL).
func TestScanCheckPostgres(t *testing.T) {
	db := testpg.FreshDatabase(t, testpg.URL(t))
	c := &cliEnv{t: t, db: db, env: map[string]string{"KEYWARD_PEPPER": testPepper, "KEYWARD_DATABASE_URL": db}}
	c.mustRun("migrate")
	p := plantKeys(t, c, func() keyward.Store {
		s, err := postgres.Open(context.Background(), db, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"leak.txt": p.file()})
	t.Chdir(dir)
	env := map[string]string{"KEYWARD_DATABASE_URL": db, "KEYWARD_PEPPER": testPepper}
	code, out, stderr := runScan(t, env, "", "scan", "--check")
	if want := p.lines(t, "leak.txt", "active", "disabled", "revoked", "expired", "unknown", "unknown"); code != 1 || out != want {
		t.Errorf("--check: exit %d\n%s%s\nwant\n%s", code, out, stderr, want)
	}
	code, out, stderr = runScan(t, env, "", "scan", "--revoke", "leak.txt")
	want := p.lines(t, "leak.txt", "revoked (was active)", "revoked (was disabled)", "revoked", "revoked (was expired)", "unknown", "unknown")
	if code != 1 || out != want {
		t.Errorf("--revoke: exit %d\n%s%s\nwant\n%s", code, out, stderr, want)
	}
	if code, out, _ := c.run("keys", "verify", p.active); code != 1 || !strings.HasPrefix(out, "REVOKED") {
		t.Errorf("keys verify of the revoked key: exit %d, %q; want 1 and REVOKED", code, out)
	}
}
