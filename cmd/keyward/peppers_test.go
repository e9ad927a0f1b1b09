package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

// pepperIDs returns the ids of the peppers in a KEYWARD_PEPPER value.
func pepperIDs(t *testing.T, value string) []string {
	t.Helper()
	ps, err := keyhash.ParsePeppers(value)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

// TestPeppersCountsEveryScheme: keyward peppers counts the keys on each
// pepper by status, whatever the hash scheme (p= for HMAC, k= for Argon2id
// and bcrypt), and keys list --pepper-id lists them.
func TestPeppersCountsEveryScheme(t *testing.T) {
	c := newCLI(t)
	oldID := pepperIDs(t, testPepper)[0]
	hm, _ := c.createKey("hmac key")
	ar, _ := c.createKey("argon2id key", "--hasher", "argon2id")
	bc, _ := c.createKey("bcrypt key", "--hasher", "bcrypt")
	c.mustRun("keys", "revoke", hm)

	newPepper := "a-new-pepper-for-the-rotation-of-32-bytes"
	c.env["KEYWARD_PEPPER"] = newPepper + "," + testPepper
	newID := pepperIDs(t, newPepper)[0]
	fresh, _ := c.createKey("made after the rotation")

	var got struct {
		Items []pepperRow `json:"items"`
	}
	c.mustJSON(&got, "peppers")
	want := []pepperRow{
		{ID: newID, Use: "current", Keys: map[keyward.Status]int64{"active": 1, "disabled": 0, "expired": 0, "revoked": 0}},
		{ID: oldID, Use: "older", Keys: map[keyward.Status]int64{"active": 2, "disabled": 0, "expired": 0, "revoked": 1}},
	}
	if len(got.Items) != 2 || !equalRow(got.Items[0], want[0]) || !equalRow(got.Items[1], want[1]) {
		t.Errorf("keyward peppers -o json = %+v, want %+v", got.Items, want)
	}
	table := c.mustRun("peppers")
	for _, line := range []string{
		"PEPPER    USE      ACTIVE  DISABLED  EXPIRED  REVOKED",
		newID + "  current  1       0         0        0",
		oldID + "  older    2       0         0        1",
	} {
		if !strings.Contains(table, line+"\n") {
			t.Errorf("keyward peppers has no line %q:\n%s", line, table)
		}
	}
	if ids := c.mustRun("peppers", "-o", "id"); ids != newID+"\n"+oldID+"\n" {
		t.Errorf("keyward peppers -o id = %q, want the new id then the old one", ids)
	}

	listed := strings.Fields(c.mustRun("keys", "list", "--pepper-id", oldID, "-o", "id"))
	slices.Sort(listed)
	wantIDs := []string{hm, ar, bc}
	slices.Sort(wantIDs)
	if !slices.Equal(listed, wantIDs) {
		t.Errorf("keys list --pepper-id old = %v, want the HMAC, Argon2id and bcrypt keys %v", listed, wantIDs)
	}
	if active := c.mustRun("keys", "list", "--pepper-id", oldID, "--status", "active", "-o", "id"); strings.Contains(active, hm) || !strings.Contains(active, ar) {
		t.Errorf("keys list --pepper-id old --status active = %q: want the Argon2id key, not the revoked one", active)
	}
	if ids := c.mustRun("keys", "list", "--pepper-id", newID, "-o", "id"); ids != fresh+"\n" {
		t.Errorf("keys list --pepper-id new = %q, want %s", ids, fresh)
	}
	if out := c.mustRun("keys", "list", "--pepper-id", "unknown0"); strings.Count(out, "\n") != 1 {
		t.Errorf("keys list --pepper-id of an id no key has: %q, want the header only", out)
	}

	// The old pepper gone too early: its keys are shown as not configured.
	c.env["KEYWARD_PEPPER"] = newPepper
	code, out, stderr := c.run("peppers")
	if code != 0 || !strings.Contains(out, oldID+"  not configured  2") || !strings.Contains(stderr, "do not verify") {
		t.Errorf("keyward peppers without the old pepper: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, _ := c.run("keys", "list", "--pepper-id", ""); code != 2 {
		t.Errorf("keys list --pepper-id '': exit %d, want 2", code)
	}
}

func equalRow(a, b pepperRow) bool {
	if a.ID != b.ID || a.Use != b.Use || len(a.Keys) != len(b.Keys) {
		return false
	}
	for k, v := range b.Keys {
		if a.Keys[k] != v {
			return false
		}
	}
	return true
}

// TestSecretFileAndOutputID: --secret-file writes the secret to a new 0600
// file that keys verify reads, -o id prints only ids, and both refuse what
// would lose a secret before any key is made.
func TestSecretFileAndOutputID(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "key.txt")
	code, out, stderr := c.run("keys", "create", "billing", "--rate-limit", "100/1m", "--secret-file", file, "-o", "id")
	id := strings.TrimSpace(out)
	if code != 0 || !keyward.ValidID(id) || stderr != "" {
		t.Fatalf("keys create --secret-file -o id: exit %d, stdout %q, stderr %q; want the id alone", code, out, stderr)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, mode %v; want 0600", err, fi.Mode())
	}
	raw, _ := os.ReadFile(file)
	secret := strings.TrimSuffix(string(raw), "\n")
	if tok, err := keyward.Parse(secret); err != nil || tok.ID != id || !strings.HasSuffix(string(raw), "\n") {
		t.Fatalf("secret file holds %q (%v); want the key string of %s and a newline", raw, err, id)
	}
	if out := c.mustRun("keys", "verify", secret); !strings.HasPrefix(out, "VALID (key "+id) {
		t.Errorf("keys verify of the secret in the file: %q", out)
	}

	table := c.mustRun("keys", "create", "second", "--secret-file", filepath.Join(dir, "second.txt"))
	if !strings.Contains(table, "written to "+filepath.Join(dir, "second.txt")+" (mode 0600)") || secretRe.MatchString(table) {
		t.Errorf("keys create --secret-file (table) printed:\n%s\nwant the file's name and no secret", table)
	}
	var withFile struct {
		Key        keyward.Key `json:"key"`
		Secret     *string     `json:"secret"`
		SecretFile string      `json:"secret_file"`
	}
	c.mustJSON(&withFile, "keys", "create", "third", "--secret-file", filepath.Join(dir, "third.txt"))
	if withFile.Secret != nil || withFile.SecretFile != filepath.Join(dir, "third.txt") || withFile.Key.ID == "" {
		t.Errorf("keys create --secret-file -o json = %+v; want the key and secret_file, no secret", withFile)
	}

	newFile := filepath.Join(dir, "new-key.txt")
	code, out, _ = c.run("keys", "rotate", id, "--secret-file", newFile, "-o", "id")
	next := strings.TrimSpace(out)
	if code != 0 || !keyward.ValidID(next) || next == id {
		t.Fatalf("keys rotate --secret-file -o id: exit %d, %q", code, out)
	}
	if raw, _ := os.ReadFile(newFile); !strings.Contains(string(raw), "_"+next+"_") {
		t.Errorf("rotate's secret file holds %q, want the successor %s", raw, next)
	}
	for _, args := range [][]string{{"keys", "get", next}, {"keys", "update", next, "--name", "renamed"}, {"keys", "list", "-q", "renamed"}} {
		if out := c.mustRun(append(args, "-o", "id")...); out != next+"\n" {
			t.Errorf("keyward %s -o id = %q, want %s", strings.Join(args, " "), out, next)
		}
	}
	if out := c.mustRun("keys", "revoke", id, "-o", "id"); out != id+"\n" {
		t.Errorf("keys revoke -o id = %q", out)
	}

	before := countKeys(t, strings.TrimPrefix(c.db, "sqlite:"))
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "create", "x", "--secret-file", file}, "exists already"},
		{[]string{"keys", "create", "x", "-o", "id"}, "--secret-file"},
		{[]string{"keys", "rotate", next, "-o", "id"}, "--secret-file"},
		{[]string{"keys", "verify", secret, "-o", "id"}, "--output must be table or json"},
		{[]string{"owners", "list", "-o", "id"}, "--output must be table or json"},
	} {
		code, _, stderr := c.run(bad.args...)
		if code != 2 || !strings.Contains(stderr, bad.want) {
			t.Errorf("keyward %s: exit %d, %q; want 2 naming %q", strings.Join(bad.args, " "), code, stderr, bad.want)
		}
	}
	if after := countKeys(t, strings.TrimPrefix(c.db, "sqlite:")); after != before {
		t.Errorf("refused commands created %d keys", after-before)
	}
	if raw, _ := os.ReadFile(file); string(raw) != secret+"\n" {
		t.Error("a refused create touched the existing secret file")
	}
	// A create that fails after the file was made leaves no empty file.
	failed := filepath.Join(dir, "failed.txt")
	if code, _, _ := c.run("keys", "create", "x", "--role", "no-such-role", "--secret-file", failed); code == 0 {
		t.Fatal("keys create with an unknown role succeeded")
	}
	if _, err := os.Stat(failed); err == nil {
		t.Error("a failed create left its --secret-file behind")
	}
}
