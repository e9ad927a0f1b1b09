package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysSetUpAFreshDirectory follows the CLI quick start in an empty
// directory with no configuration: read verbs refuse a missing database and
// create nothing; keys create sets up the database and its pepper as keyward
// serve does, and the key it prints verifies.
func TestKeysSetUpAFreshDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	code, _, stderr := runCLI(t, nil, "keys", "list")
	if code != 1 || !strings.Contains(stderr, "no database at keyward.db") {
		t.Errorf("keys list in an empty directory: exit %d, %q; want 1 and no database at keyward.db", code, stderr)
	}
	if code, _, _ := runCLI(t, nil, "keys", "verify", "kw_x"); code != 1 {
		t.Errorf("keys verify in an empty directory: exit %d, want 1", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("read verbs created %s", entries[0].Name())
	}

	code, out, stderr := runCLI(t, nil, "keys", "create", "billing service", "--owner", "team-billing",
		"--scope", "invoices:read", "--rate-limit", "100/1m", "--expires-in", "720h", "-o", "json")
	if code != 0 {
		t.Fatalf("keys create in an empty directory: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "created a random pepper") || !strings.Contains(stderr, "back it up") {
		t.Errorf("keys create did not warn about the new pepper: %q", stderr)
	}
	for _, f := range []string{"keyward.db", "keyward.db.pepper"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("keys create did not create %s: %v", f, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %#o, want 0600", f, fi.Mode().Perm())
		}
	}
	var iss struct{ Secret string }
	json.Unmarshal([]byte(out), &iss)
	if code, out, stderr := runCLI(t, nil, "keys", "verify", iss.Secret, "--scope", "invoices:read"); code != 0 {
		t.Errorf("keys verify of the new key: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, _ := runCLI(t, nil, "keys", "list", "--owner", "team-billing"); code != 0 || !strings.Contains(out, "billing service") {
		t.Errorf("keys list: exit %d\n%s", code, out)
	}
	// A second create uses that database and pepper, and says nothing more.
	if code, _, stderr := runCLI(t, nil, "keys", "create", "second"); code != 0 || strings.Contains(stderr, "created a") {
		t.Errorf("second keys create: exit %d, %q", code, stderr)
	}
}

// TestKeysSetUpNeedsAFreshFile: a verb that writes sets up only a file that
// does not exist; an existing database without its pepper is an error, not
// a new pepper its keys would not verify with.
func TestKeysSetUpNeedsAFreshFile(t *testing.T) {
	c := newCLI(t) // migrated, with KEYWARD_PEPPER
	delete(c.env, "KEYWARD_PEPPER")
	code, _, stderr := c.run("keys", "create", "x")
	if code != 1 || !strings.Contains(stderr, "no pepper") {
		t.Errorf("keys create on a database without its pepper: exit %d, %q; want 1 and no pepper", code, stderr)
	}
	u, _ := parseDatabaseURL(c.db)
	if _, err := os.Stat(u.path + ".pepper"); err == nil {
		t.Error("keys create made a pepper for a database that has one elsewhere")
	}
}

// TestMigrateCreatesThePepper: on SQLite, keyward migrate is enough to set
// up a database for the CLI, pepper included; with KEYWARD_PEPPER it
// creates no pepper file.
func TestMigrateCreatesThePepper(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "k.db")
	code, _, stderr := runCLI(t, nil, "migrate", "--database-url", db)
	if code != 0 || !strings.Contains(stderr, "created a random pepper") {
		t.Fatalf("migrate: exit %d, %q", code, stderr)
	}
	fi, err := os.Stat(filepath.Join(dir, "k.db.pepper"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("migrate: pepper file %v %v, want a 0600 file", fi, err)
	}
	if code, out, stderr := runCLI(t, nil, "keys", "create", "x", "--database-url", db); code != 0 {
		t.Errorf("keys create after migrate: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "migrate", "--database-url", db); code != 0 || stderr != "" {
		t.Errorf("second migrate: exit %d, %q; want 0 and nothing created", code, stderr)
	}

	other := filepath.Join(dir, "env.db")
	if code, _, stderr := runCLI(t, map[string]string{"KEYWARD_PEPPER": testPepper}, "migrate", "--database-url", "sqlite:"+other); code != 0 {
		t.Fatalf("migrate with KEYWARD_PEPPER: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(other + ".pepper"); err == nil {
		t.Error("migrate created a pepper file although KEYWARD_PEPPER is set")
	}
}

// TestImportSetsUpAFreshDatabase imports exported keys into a SQLite file
// that does not exist yet: with the pepper they were hashed with it is
// created and the keys verify; with no pepper configured it creates nothing
// (a random pepper would make every imported key fail).
func TestImportSetsUpAFreshDatabase(t *testing.T) {
	c := newCLI(t)
	_, secret := c.createKey("moved")
	dump := filepath.Join(t.TempDir(), "keys.jsonl")
	os.WriteFile(dump, []byte(c.mustRun("keys", "export", "--with-hashes")), 0o600)

	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "new.db")
	code, _, stderr := runCLI(t, nil, "keys", "import", dump, "--database-url", db)
	if code != 2 || !strings.Contains(stderr, "KEYWARD_PEPPER") {
		t.Errorf("import into a new database with no pepper: exit %d, %q; want 2 naming KEYWARD_PEPPER", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("a refused import created %s", entries[0].Name())
	}
	env := map[string]string{"KEYWARD_PEPPER": testPepper, "KEYWARD_DATABASE_URL": db}
	if code, out, stderr := runCLI(t, env, "keys", "import", dump); code != 0 || !strings.Contains(out, "imported 1 keys") {
		t.Fatalf("import into a new database: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := runCLI(t, env, "keys", "verify", secret); code != 0 {
		t.Errorf("an imported key does not verify: exit %d\n%s%s", code, out, stderr)
	}
}
