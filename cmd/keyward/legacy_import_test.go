package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/internal/testserver"
	"github.com/keyward/keyward/internal/testsqlite"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
)

// fixture is one database of testdata/import with the keys it holds and the
// outcome each must get after an import (see testdata/import/README.md).
type fixture struct {
	name      string                // folder under testdata/import
	db        string                // the database file
	Pepper    string                `json:"pepper"`
	Prefix    string                `json:"prefix"`
	Separator string                `json:"separator"`
	Keys      map[string]fixtureKey `json:"keys"`
}

func loadFixture(t *testing.T, name string) *fixture {
	t.Helper()
	dir := filepath.Join("testdata", "import", name)
	b, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{name: name}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.sqlite3"))
	if len(matches) != 1 {
		t.Fatalf("%s: want one .sqlite3 file, got %v", dir, matches)
	}
	f.db = matches[0]
	return f
}

func (f *fixture) keyshield() bool { return strings.HasPrefix(f.name, "keyshield") }

// labels returns the fixture's key labels in a stable order.
func (f *fixture) labels() []string {
	var out []string
	for l := range f.Keys {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// importArgs returns the arguments of keys import for the fixture read from
// source (its SQLite file when ""), with the pepper file and one check key
// written to dir.
func (f *fixture) importArgs(t *testing.T, source string) []string {
	t.Helper()
	if source == "" {
		source = f.db
	}
	if !f.keyshield() {
		return []string{"keys", "import", "--from-simple-security", source}
	}
	dir := t.TempDir()
	pepper, check := filepath.Join(dir, "pepper"), filepath.Join(dir, "check")
	os.WriteFile(pepper, []byte(f.Pepper+"\n"), 0o600)
	for _, l := range f.labels() {
		if k := f.Keys[l]; k.Refused == "" {
			os.WriteFile(check, []byte(k.Key+"\n"), 0o600)
			break
		}
	}
	return []string{"keys", "import", "--from-keyshield", source, "--keyshield-format", f.Prefix + f.Separator,
		"--keyshield-pepper-file", pepper, "--keyshield-check-keys", check}
}

// imported returns how many keys of the fixture an import brings in.
func (f *fixture) imported() int {
	n := 0
	for _, k := range f.Keys {
		if k.Refused == "" {
			n++
		}
	}
	return n
}

var fixtureNames = []string{"keyshield-argon2", "keyshield-bcrypt", "keyshield-prefix", "simple-security"}

// importFixtures imports every fixture into the database of c (sources
// gives another source per fixture, such as a PostgreSQL copy), checks the
// counts, and checks that a second import imports nothing and says so.
func importFixtures(t *testing.T, c *cliEnv, fixtures []*fixture, sources map[string]string) {
	t.Helper()
	for _, f := range fixtures {
		args := f.importArgs(t, sources[f.name])
		out := c.mustRun(args...)
		want := fmt.Sprintf("imported %d keys, skipped 0 that exist", f.imported())
		if !strings.Contains(out, want) {
			t.Errorf("%s: import printed %q, want %q", f.name, out, want)
		}
		for _, l := range f.labels() {
			if r := f.Keys[l].Refused; r != "" && !strings.Contains(out, r) {
				t.Errorf("%s: the refusal of %s does not name %q:\n%s", f.name, l, r, out)
			}
		}
		again := c.mustRun(args...)
		want = fmt.Sprintf("imported 0 keys, skipped %d that exist", f.imported())
		if !strings.Contains(again, want) {
			t.Errorf("%s: second import printed %q, want %q", f.name, again, want)
		}
	}
}

// fixtureKey is one key of a fixture.
type fixtureKey = struct {
	Key          string   `json:"key"`
	Expect       string   `json:"expect"`
	Scopes       []string `json:"scopes"`
	Refused      string   `json:"refused"`
	TotalQueries *int64   `json:"total_queries"`
}

// pathOrder says which path verifies a fixture's keys first, so that each
// of keys verify, the server and the library meets imported keyshield
// hashes as keyshield made them: keys verify and the library do not rehash,
// the server does. bcrypt at keyshield's 12 rounds takes tens of seconds
// under the race detector on a busy machine, more than the server's write
// timeout: those keys are upgraded by the library ("upgrade", a Service
// that rehashes) before the other paths see them.
var pathOrder = map[string][]string{
	"keyshield-argon2": {"cli", "server", "library"},
	"keyshield-bcrypt": {"upgrade", "server", "cli", "library"},
	"keyshield-prefix": {"library", "server", "cli"},
	"simple-security":  {"cli", "server", "library"},
}

// checkPaths verifies every key of the fixtures through keys verify,
// /v1/keys/verify and /v1/auth of the server, and the library, each of which
// must give the key its expected outcome; then checks that the server
// upgraded every keyshield hash: the stored hash is keyward's afterwards.
func checkPaths(t *testing.T, c *cliEnv, srv *testserver.Server, admin string, fixtures []*fixture) {
	t.Helper()
	svc, store := libraryService(t, c, true)
	upgrading, _ := libraryService(t, c, false)
	ctx := context.Background()
	paths := map[string]func(name string, k fixtureKey){
		"upgrade": func(name string, k fixtureKey) {
			r, err := upgrading.Verify(ctx, keyward.VerifyRequest{Key: k.Key, Scopes: k.Scopes})
			if err != nil || r.Outcome.String() != k.Expect {
				t.Errorf("%s: Service.Verify: %v %v, want %s", name, r.Outcome, err, k.Expect)
			}
			if r.Key != nil {
				waitUpgraded(t, store, name, r.Key.ID, time.Now().Add(time.Minute))
			}
		},
		"cli": func(name string, k fixtureKey) {
			code, out, _ := c.run("keys", "verify", k.Key)
			if got := strings.Fields(out + " ?")[0]; got != k.Expect || (code == 0) != (k.Expect == "VALID") {
				t.Errorf("%s: keys verify: exit %d %q, want %s", name, code, out, k.Expect)
			}
		},
		"server": func(name string, k fixtureKey) {
			var v struct {
				Valid bool   `json:"valid"`
				Code  string `json:"code"`
			}
			body := map[string]any{"key": k.Key}
			if k.Scopes != nil {
				body["scopes"] = k.Scopes
			}
			res, err := srv.TryDo("POST", "/v1/keys/verify", admin, body)
			if err != nil {
				t.Fatalf("%s: /v1/keys/verify: %v", name, err)
			}
			res.JSON(t, &v)
			if v.Code != k.Expect || v.Valid != (k.Expect == "VALID") {
				t.Errorf("%s: /v1/keys/verify: %+v, want %s", name, v, k.Expect)
			}
			if res, err = srv.TryDo("GET", "/v1/auth", "", nil, "X-API-Key", k.Key); err != nil {
				t.Fatalf("%s: /v1/auth: %v", name, err)
			}
			if wantStatus := map[bool]int{true: 200, false: 401}[k.Expect == "VALID"]; res.Status != wantStatus ||
				(res.Status != 200 && res.Header.Get("X-Keyward-Code") != k.Expect) {
				t.Errorf("%s: /v1/auth: %d %s, want %d %s", name, res.Status, res.Header.Get("X-Keyward-Code"), wantStatus, k.Expect)
			}
		},
		"library": func(name string, k fixtureKey) {
			r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: k.Key, Scopes: k.Scopes})
			if err != nil || r.Outcome.String() != k.Expect {
				t.Errorf("%s: Service.Verify: %v %v, want %s", name, r.Outcome, err, k.Expect)
			}
		},
	}
	for _, f := range fixtures {
		for _, l := range f.labels() {
			for _, p := range pathOrder[f.name] {
				start := time.Now()
				paths[p](f.name+"/"+l, f.Keys[l])
				if d := time.Since(start); d > time.Second {
					t.Logf("%s/%s: %s took %v", f.name, l, p, d.Round(time.Millisecond))
				}
			}
		}
	}
	checkUpgraded(t, store, fixtures)
}

// checkUpgraded waits until every imported keyshield key's stored hash is
// keyward's (the server upgrades it in the background after the first
// success).
func checkUpgraded(t *testing.T, store keyward.Store, fixtures []*fixture) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, f := range fixtures {
		format := keyward.LegacyFormat{Kind: keyward.LegacyKeyshield, Prefix: f.Prefix, Separator: f.Separator}
		for _, l := range f.labels() {
			k := f.Keys[l]
			id, _, ok := format.Parse(k.Key)
			if !f.keyshield() || !ok || k.Refused != "" {
				continue
			}
			waitUpgraded(t, store, f.name+"/"+l, id, deadline)
		}
	}
}

// waitUpgraded waits until the stored hash of key id is keyward's.
func waitUpgraded(t *testing.T, store keyward.Store, name, id string, deadline time.Time) {
	t.Helper()
	for {
		stored, err := store.Get(keyward.NewFreshContext(context.Background()), id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(stored.Hash, "$hmac-sha256$") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: stored hash %.18s... after its first successful verification, want keyward's", name, stored.Hash)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// libraryService opens the database of c with a Service as a Go program
// embedding keyward would (the hasher of keyward serve), rehashing or not.
func libraryService(t *testing.T, c *cliEnv, noRehash bool) (*keyward.Service, keyward.Store) {
	t.Helper()
	ctx := context.Background()
	u, err := parseDatabaseURL(c.db)
	if err != nil {
		t.Fatal(err)
	}
	store, err := openStore(ctx, u, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	peppers, err := keyhash.ParsePeppers(c.env["KEYWARD_PEPPER"])
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := buildHasher("hmac", peppers)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := keyward.New(store, hasher, &keyward.Options{Limiter: ratelimit.NewLocal(), UsageFlushInterval: -1, NoRehash: noRehash})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	return svc, store
}

// TestImportFixturesSQLite imports every fixture into a SQLite database
// while keyward serve runs on it: the server accepts the legacy strings
// within its cache TTL without a restart, and every key gets its outcome
// through every path.
func TestImportFixturesSQLite(t *testing.T) {
	var fixtures []*fixture
	for _, n := range fixtureNames {
		fixtures = append(fixtures, loadFixture(t, n))
	}
	c := newCLI(t)
	admin := "legacy-import-admin-token-of-32-chars"
	srv := testserver.Start(t, []string{"KEYWARD_PEPPER=" + testPepper}, "--database-url", c.db, "--cache-ttl", "1s", "--admin-token", admin)
	first := fixtures[0].Keys["alpha"].Key
	if res := srv.Do(t, "GET", "/v1/auth", "", nil, "X-API-Key", first); res.Header.Get("X-Keyward-Code") != "MALFORMED" {
		t.Fatalf("before the import: %d %s, want MALFORMED", res.Status, res.Header.Get("X-Keyward-Code"))
	}
	importFixtures(t, c, fixtures, nil)
	start := time.Now()
	for srv.Do(t, "GET", "/v1/auth", "", nil, "X-API-Key", first).Status != 200 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the running server does not accept an imported key 5s after the import (cache TTL 1s)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the running server accepted an imported key %v after the import (cache TTL 1s)", time.Since(start).Round(time.Millisecond))
	checkPaths(t, c, srv, admin, fixtures)
}

// TestImportFixturesPostgres imports keyshield's database from PostgreSQL
// (its table as SQLAlchemy creates it there, filled from the fixture) and
// fastapi_simple_security's SQLite file into a keyward database on
// PostgreSQL, and checks every key through every path.
func TestImportFixturesPostgres(t *testing.T) {
	admin := testpg.URL(t)
	ks, ss := loadFixture(t, "keyshield-argon2"), loadFixture(t, "simple-security")
	source := copyKeyshieldToPostgres(t, ks.db, testpg.FreshDatabase(t, admin))
	db := testpg.FreshDatabase(t, admin)
	c := &cliEnv{t: t, db: db, env: map[string]string{"KEYWARD_PEPPER": testPepper, "KEYWARD_DATABASE_URL": db}}
	c.mustRun("migrate")
	fixtures := []*fixture{ks, ss}
	importFixtures(t, c, fixtures, map[string]string{ks.name: source})
	token := "legacy-import-admin-token-of-32-chars"
	srv := testserver.Start(t, []string{"KEYWARD_PEPPER=" + testPepper}, "--database-url", db, "--admin-token", token)
	checkPaths(t, c, srv, token, fixtures)
}

// copyKeyshieldToPostgres creates keyshield's api_keys table in the
// PostgreSQL database at url as its SQLAlchemy model does there, copies the
// rows of the SQLite fixture into it, and returns url.
func copyKeyshieldToPostgres(t *testing.T, sqlitePath, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE api_keys (
		id VARCHAR(36) NOT NULL PRIMARY KEY, name VARCHAR(128), description TEXT, is_active BOOLEAN NOT NULL,
		expires_at TIMESTAMP WITH TIME ZONE, created_at TIMESTAMP WITH TIME ZONE NOT NULL,
		last_used_at TIMESTAMP WITH TIME ZONE, key_id VARCHAR(16) NOT NULL UNIQUE, key_hash VARCHAR(255) NOT NULL UNIQUE,
		key_secret_first VARCHAR(4) NOT NULL, key_secret_last VARCHAR(4) NOT NULL, scopes JSON NOT NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := testsqlite.Open(t, sqlitePath).Query(`SELECT id, name, description, is_active, expires_at, created_at,
		last_used_at, key_id, key_hash, key_secret_first, key_secret_last, scopes FROM api_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		v := make([]any, 12)
		ptrs := make([]any, 12)
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		active, _ := valueBool(v[3])
		times := make([]*time.Time, 3)
		for i, col := range []int{4, 5, 6} {
			times[i], _ = valueTime(v[col])
		}
		_, err := conn.Exec(ctx, `INSERT INTO api_keys VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			v[0], v[1], v[2], active, times[0], times[1], times[2], v[7], v[8], v[9], v[10], valueString(v[11]))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return url
}

// TestKeyshieldImportWithThePepperOnly: the import as the contract gives it
// (--from-keyshield with --keyshield-pepper-file, no check keys) imports,
// warns that the pepper was not checked, and its keys verify.
func TestKeyshieldImportWithThePepperOnly(t *testing.T) {
	f := loadFixture(t, "keyshield-argon2")
	c := newCLI(t)
	args := f.importArgs(t, "")
	args = args[:len(args)-2] // without --keyshield-check-keys FILE
	code, out, stderr := c.run(args...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("imported %d keys", f.imported())) || !strings.Contains(stderr, "warning: the pepper was not checked") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want the keys imported and a warning", code, out, stderr)
	}
	k := f.Keys["alpha"]
	if code, out, _ := c.run("keys", "verify", k.Key); code != 0 || !strings.HasPrefix(out, k.Expect) {
		t.Errorf("keys verify alpha: exit %d %q, want %s", code, out, k.Expect)
	}
	// --no-pepper-check says the skip is meant: no warning.
	if code, _, stderr := c.run(append(args, "--no-pepper-check")...); code != 0 || strings.Contains(stderr, "warning") {
		t.Errorf("with --no-pepper-check: exit %d, stderr %q", code, stderr)
	}
}
