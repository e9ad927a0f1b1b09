package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testsqlite"
)

func TestImportWithAWrongPepperImportsNothing(t *testing.T) {
	f := loadFixture(t, "keyshield-argon2")
	c := newCLI(t)
	args := f.importArgs(t, "")
	for i, a := range args {
		if a == "--keyshield-pepper-file" {
			wrong := filepath.Join(t.TempDir(), "wrong")
			os.WriteFile(wrong, []byte(f.Pepper+"-not\n"), 0o600)
			args[i+1] = wrong
		}
	}
	code, out, stderr := c.run(args...)
	if code != 1 || !strings.Contains(stderr, "nothing imported: 1 of 1 check keys did not verify") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 1 saying how many check keys did not verify", code, out, stderr)
	}
	path := strings.TrimPrefix(c.db, "sqlite:")
	if n := countKeys(t, path); n != 0 {
		t.Errorf("%d keys imported with a wrong pepper, want 0", n)
	}
	var settings int
	testsqlite.Open(t, path).QueryRow("SELECT count(*) FROM settings").Scan(&settings)
	if settings != 0 {
		t.Error("a failed import recorded a legacy format")
	}
}

func TestImportRefusesWhatIsNotTheirDatabase(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	noHash := filepath.Join(dir, "nohash.sqlite3")
	testsqlite.Exec(t, noHash, `CREATE TABLE api_keys (id TEXT, key_id TEXT, is_active BOOLEAN, name TEXT,
		description TEXT, expires_at DATETIME, created_at DATETIME, last_used_at DATETIME)`)
	notDB := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDB, []byte("these are not the tables you are looking for\n"), 0o600)
	ss := loadFixture(t, "simple-security").db
	ksFixture := loadFixture(t, "keyshield-argon2").db
	corrupt := copyCorrupted(t, ksFixture, dir, "corrupt.sqlite3", func(b []byte) []byte {
		for i := 4096; i < 8192; i++ { // a page of the table, past the schema
			b[i] = 0xde
		}
		return b
	})
	truncated := copyCorrupted(t, ksFixture, dir, "truncated.sqlite3", func(b []byte) []byte { return b[:5000] })
	pepper := filepath.Join(dir, "pepper")
	os.WriteFile(pepper, []byte("p\n"), 0o600)
	ks := func(src string) []string {
		return []string{"keys", "import", "--from-keyshield", src, "--keyshield-pepper-file", pepper, "--no-pepper-check"}
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing column", ks(noHash), 1, "is not keyshield's api_keys table: it has no column key_hash"},
		{"another library's table", ks(ss), 1, "has no table api_keys (it has: fastapi_simple_security)"},
		{"not a database", ks(notDB), 1, "cannot open " + notDB},
		{"no such file", ks(filepath.Join(dir, "none.db")), 1, "no such file"},
		{"a corrupt page", ks(corrupt), 1, "reading api_keys in " + corrupt + ": database disk image is malformed"},
		{"a truncated file", ks(truncated), 1, "cannot open " + truncated + ": database disk image is malformed"},
		{"unreachable PostgreSQL", ks("postgresql+asyncpg://nobody@127.0.0.1:1/none?connect_timeout=2"), 1, "cannot open postgres://nobody@127.0.0.1:1/none"},
		{"simple-security table missing a column", []string{"keys", "import", "--from-simple-security", noHash, "--source-table", "api_keys"}, 1, "has no column api_key"},
		{"no pepper", []string{"keys", "import", "--from-keyshield", noHash}, 2, "needs --keyshield-pepper-file"},
		{"check keys and no check", append(ks(noHash), "--keyshield-check-keys", pepper), 2, "give one"},
		{"bad format", append(ks(noHash), "--keyshield-format", "ak"), 2, "--keyshield-format"},
		{"both sources", []string{"keys", "import", "--from-keyshield", noHash, "--from-simple-security", ss}, 2, "separate runs"},
		{"a file too", []string{"keys", "import", "keys.jsonl", "--from-simple-security", ss}, 2, "not both"},
		{"keyshield flag alone", []string{"keys", "import", "keys.jsonl", "--keyshield-pepper-file", pepper}, 2, "goes with --from-keyshield"},
		{"keyshield flag with simple-security", []string{"keys", "import", "--from-simple-security", ss, "--keyshield-pepper-file", pepper}, 2, "is for --from-keyshield"},
	} {
		code, _, stderr := c.run(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d naming %q", tc.name, code, stderr, tc.code, tc.want)
		}
	}
	if n := countKeys(t, strings.TrimPrefix(c.db, "sqlite:")); n != 0 {
		t.Errorf("%d keys imported, want 0", n)
	}
}

// copyCorrupted writes a copy of the file at src, changed by damage, to
// dir/name and returns its path.
func copyCorrupted(t *testing.T, src, dir, name string, damage func([]byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, damage(b), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportRespectsTheMaximumKeyLifetime: with a maximum key lifetime in
// the policy, an import that would bring in a key without expiry (or one
// beyond it) is refused as a whole, as keyward's own import is, and records
// no legacy format.
func TestImportRespectsTheMaximumKeyLifetime(t *testing.T) {
	c := newCLI(t)
	svc, _ := libraryService(t, c, true)
	month := 30 * 24 * time.Hour
	if _, err := svc.SetPolicy(context.Background(), keyward.Policy{MaxKeyLifetime: &month}); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := c.run("keys", "import", "--from-simple-security", loadFixture(t, "simple-security").db)
	if code != 1 || !strings.Contains(stderr, "nothing imported:\n  key ") || !strings.Contains(stderr, "maximum key lifetime") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 1 naming the maximum key lifetime", code, out, stderr)
	}
	path := strings.TrimPrefix(c.db, "sqlite:")
	if n := countKeys(t, path); n != 0 {
		t.Errorf("%d keys imported beyond the maximum key lifetime, want 0", n)
	}
	var formats int
	testsqlite.Open(t, path).QueryRow("SELECT count(*) FROM settings WHERE name = ?", keyward.SettingLegacyFormats).Scan(&formats)
	if formats != 0 {
		t.Error("a refused import recorded a legacy format")
	}
}

// TestImportOlderSimpleSecurityTable imports a table of fastapi_simple_security
// before expiration_date existed (its _sqlite_access.py created it with
// creation_date, and keys expired a fixed number of days after it unless
// never_expire).
func TestImportOlderSimpleSecurityTable(t *testing.T) {
	now := time.Now().UTC()
	iso := func(d time.Duration) string { return now.Add(d).Format("2006-01-02T15:04:05") }
	keys := map[string]struct {
		key, created string
		never        int
		want15       string // outcome with the default 15 days
		want30       string
	}{
		"recent":  {"0b0f8c6a-5d8e-4a1f-9c51-0d4e8f1f2a31", iso(-2 * 24 * time.Hour), 0, "VALID", "VALID"},
		"older":   {"1c1f9d7b-6e9f-4b2a-8d62-1e5f9a2a3b42", iso(-20 * 24 * time.Hour), 0, "EXPIRED", "VALID"},
		"ancient": {"2d2a0e8c-7fa0-4c3b-9e73-2f6a0b3b4c53", iso(-400 * 24 * time.Hour), 1, "VALID", "VALID"},
	}
	src := filepath.Join(t.TempDir(), "old.sqlite3")
	stmts := []string{`CREATE TABLE fastapi_simple_security (api_key TEXT PRIMARY KEY, is_active INTEGER,
		never_expire INTEGER, creation_date TEXT, latest_query_date TEXT, total_queries INTEGER)`}
	for _, k := range keys {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO fastapi_simple_security VALUES ('%s', 1, %d, '%s', NULL, 3)`, k.key, k.never, k.created))
	}
	testsqlite.Exec(t, src, strings.Join(stmts, ";"))
	for _, days := range []int{15, 30} {
		c := newCLI(t)
		args := []string{"keys", "import", "--from-simple-security", src}
		if days != 15 {
			args = append(args, "--simple-security-expiration-days", fmt.Sprint(days))
		}
		out := c.mustRun(args...)
		if !strings.Contains(out, fmt.Sprintf("expire %d days after it", days)) || !strings.Contains(out, "imported 3 keys") {
			t.Errorf("%d days: import printed %q", days, out)
		}
		for name, k := range keys {
			want := map[int]string{15: k.want15, 30: k.want30}[days]
			if _, out, _ := c.run("keys", "verify", k.key); !strings.HasPrefix(out, want) {
				t.Errorf("%d days, %s: %q, want %s", days, name, out, want)
			}
		}
	}
}

// TestImportedKeysLiveLikeNativeOnes rotates, revokes, rate limits and
// meters imported keys through the library.
func TestImportedKeysLiveLikeNativeOnes(t *testing.T) {
	c := newCLI(t)
	ks, ss := loadFixture(t, "keyshield-argon2"), loadFixture(t, "simple-security")
	importFixtures(t, c, []*fixture{ks, ss}, nil)
	svc, _ := libraryService(t, c, true)
	ctx := context.Background()
	verify := func(key string) keyward.Outcome {
		t.Helper()
		r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return r.Outcome
	}
	id := func(key string) string {
		r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: key, Cost: keyward.Ptr[int64](0)})
		if err != nil || r.Key == nil {
			t.Fatalf("%v %v", r.Outcome, err)
		}
		return r.Key.ID
	}
	alpha, beta, forever, dated := ks.Keys["alpha"].Key, ks.Keys["beta"].Key, ss.Keys["forever"].Key, ss.Keys["dated"].Key

	rot, err := svc.Rotate(ctx, id(alpha), keyward.RotateParams{})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := keyward.Parse(rot.Secret); err != nil || tok.Prefix != "ak_v1" || verify(rot.Secret) != keyward.OutcomeValid {
		t.Errorf("successor of a keyshield key %q: %v; want a native ak_v1 key that verifies", rot.Secret, err)
	}
	rot, err = svc.Rotate(ctx, id(dated), keyward.RotateParams{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyward.Parse(rot.Secret); err != nil || verify(rot.Secret) != keyward.OutcomeValid {
		t.Errorf("successor of a simple_security key %q: %v; want a native key that verifies", rot.Secret, err)
	}

	if _, err := svc.Revoke(ctx, id(beta)); err != nil {
		t.Fatal(err)
	}
	if o := verify(beta); o != keyward.OutcomeRevoked {
		t.Errorf("revoked imported key: %v", o)
	}

	if _, err := svc.Update(ctx, id(forever), keyward.UpdateParams{RateLimit: keyward.SetTo(keyward.RateLimit{Limit: 2, Period: keyward.Duration(time.Hour)})}); err != nil {
		t.Fatal(err)
	}
	got := []keyward.Outcome{verify(forever), verify(forever), verify(forever)}
	if got[0] != keyward.OutcomeValid || got[1] != keyward.OutcomeValid || got[2] != keyward.OutcomeRateLimited {
		t.Errorf("imported key limited to 2 an hour: %v", got)
	}
	if err := svc.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Usage(ctx, keyward.UsageParams{KeyID: id(forever)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals["VALID"] < 2 || rep.Totals["RATE_LIMITED"] != 1 {
		t.Errorf("usage of the imported key: %v, want at least 2 VALID and 1 RATE_LIMITED", rep.Totals)
	}
}

// TestLegacyFormatAfterMovingKeyward: keys export --with-hashes and keys
// import carry imported keys to another database with the record of their
// format (a setting, on the export's first line), so that the original key
// strings verify there; the legacy import run again imports nothing.
func TestLegacyFormatAfterMovingKeyward(t *testing.T) {
	ss := loadFixture(t, "simple-security")
	key := ss.Keys["forever"].Key
	from := newCLI(t)
	from.mustRun("keys", "import", "--from-simple-security", ss.db)
	dump := filepath.Join(t.TempDir(), "keys.jsonl")
	if err := os.WriteFile(dump, []byte(from.mustRun("keys", "export", "--with-hashes")), 0o600); err != nil {
		t.Fatal(err)
	}
	if inventory := from.mustRun("keys", "export"); strings.Contains(inventory, "legacy_formats") {
		t.Errorf("an export without hashes carries the formats line:\n%s", inventory)
	}
	to := newCLI(t)
	if out := to.mustRun("keys", "import", dump); !strings.Contains(out, fmt.Sprintf("imported %d keys", len(ss.Keys))) {
		t.Fatalf("import of the export: %q", out)
	}
	if _, out, _ := to.run("keys", "verify", key); !strings.HasPrefix(out, "VALID") {
		t.Errorf("moved with the export: %q, want VALID", out)
	}
	if out := to.mustRun("keys", "import", "--from-simple-security", ss.db); !strings.Contains(out, fmt.Sprintf("imported 0 keys, skipped %d that exist", len(ss.Keys))) {
		t.Errorf("the legacy import again: %q", out)
	}
}

// TestImportKeyshieldBcryptOverHex: keyshield 2.0's change log says its
// bcrypt hasher takes the HMAC-SHA256 of the secret, not whether raw or in
// hexadecimal digits. The import finds out from the check keys and the
// imported keys verify either way; check keys that disagree import nothing.
func TestImportKeyshieldBcryptOverHex(t *testing.T) {
	const ksPepper = "keyshield-pepper-for-the-hex-test"
	secret := func(c byte) string { return strings.Repeat(string(c)+"b3", 21) + "Z" } // 64 base62
	hashOf := func(secret string, overHex bool) string {
		m := hmac.New(sha256.New, []byte(ksPepper))
		m.Write([]byte(secret))
		in := m.Sum(nil)
		if overHex {
			in = []byte(hex.EncodeToString(in))
		}
		h, err := bcrypt.GenerateFromPassword(in, bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	dir := t.TempDir()
	table := func(name string, rows ...[3]string) string { // key id, secret, hash
		path := filepath.Join(dir, name)
		stmts := []string{`CREATE TABLE api_keys (id TEXT, name TEXT, description TEXT, is_active BOOLEAN,
			expires_at DATETIME, created_at DATETIME, last_used_at DATETIME, key_id TEXT, key_hash TEXT, scopes JSON)`}
		for i, r := range rows {
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO api_keys VALUES ('row%d', 'k%d', '', 1, NULL,
				'2026-11-01 10:00:00.000000', NULL, '%s', '%s', '[]')`, i, i, r[0], r[2]))
		}
		testsqlite.Exec(t, path, strings.Join(stmts, ";"))
		return path
	}
	pepper, check := filepath.Join(dir, "pepper"), filepath.Join(dir, "check")
	os.WriteFile(pepper, []byte(ksPepper+"\n"), 0o600)
	key := func(id, secret string) string { return "ak_v1-" + id + "-" + secret }
	args := func(src string) []string {
		return []string{"keys", "import", "--from-keyshield", src, "--keyshield-pepper-file", pepper, "--keyshield-check-keys", check}
	}

	hexed, raw := [3]string{"1a2b3c4d5e6f7a8b", secret('a')}, [3]string{"2b3c4d5e6f7a8b9c", secret('c')}
	hexed[2], raw[2] = hashOf(hexed[1], true), hashOf(raw[1], false)
	c := newCLI(t)
	os.WriteFile(check, []byte(key(hexed[0], hexed[1])+"\n"), 0o600)
	if out := c.mustRun(args(table("hex.sqlite3", hexed))...); !strings.Contains(out, "imported 1 keys") {
		t.Fatalf("import of a bcrypt-over-hex table: %q", out)
	}
	if _, out, _ := c.run("keys", "verify", key(hexed[0], hexed[1])); !strings.HasPrefix(out, "VALID") {
		t.Errorf("a key hashed over the hexadecimal digest, after the import: %q, want VALID", out)
	}
	if _, out, _ := c.run("keys", "verify", key(hexed[0], secret('x'))); !strings.HasPrefix(out, "NOT_FOUND") {
		t.Errorf("a wrong secret: %q, want NOT_FOUND", out)
	}

	c = newCLI(t)
	os.WriteFile(check, []byte(key(hexed[0], hexed[1])+"\n"+key(raw[0], raw[1])+"\n"), 0o600)
	code, _, stderr := c.run(args(table("mixed.sqlite3", hexed, raw))...)
	if code != 1 || !strings.Contains(stderr, "nothing imported: of the check keys with bcrypt hashes, 1 match the HMAC digest given raw and 1 given in hexadecimal digits") {
		t.Errorf("check keys hashed both ways: exit %d, %q", code, stderr)
	}
	if n := countKeys(t, strings.TrimPrefix(c.db, "sqlite:")); n != 0 {
		t.Errorf("%d keys imported, want 0", n)
	}
}
