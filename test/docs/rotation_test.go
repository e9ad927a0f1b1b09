package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/keyhash"
)

// The sample pepper ids docs/security.md shows: the old pepper and the new.
const (
	sampleOldID = "Krt50oA4"
	sampleNewID = "LiwN0v7q"
)

// pepperFile returns the ids of the peppers in the pepper file beside
// keyward.db, current first.
func pepperFile(t *testing.T, sh *shell) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(sh.dir, "keyward.db.pepper"))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := keyhash.ParsePeppers(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

// keyward runs the keyward binary in sh's directory, with env added, and
// returns its exit status and standard output.
func (sh *shell) keyward(env []string, stdin string, args ...string) (int, string) {
	sh.t.Helper()
	cmd := exec.Command(sh.bin, args...)
	cmd.Dir, cmd.Env = sh.dir, append(append([]string(nil), sh.env...), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode(), string(out)
	} else if err != nil {
		sh.t.Fatal(err)
	}
	return 0, string(out)
}

// TestPepperRotationAsDocumented follows "Rotating the pepper" in
// docs/security.md with keys hashed by HMAC-SHA256, Argon2id and bcrypt under
// the first pepper, running its commands as written: keys move to the new
// pepper as a server verifies them, the documented check reports the keys
// still on the old pepper whatever their scheme (the Argon2id and bcrypt
// keys, which a grep for p=<id> misses), and once it reports none the old
// pepper goes and every key still verifies.
func TestPepperRotationAsDocumented(t *testing.T) {
	// The servers of the rotation run as a deployment's do, with an admin
	// credential: the first start of one without it would add an admin key
	// to the documented counts.
	serverEnv := []string{"KEYWARD_ADMIN_TOKEN=rotation-test-admin-token-of-32-characters"}
	blocks := fencedBlocks(t, filepath.Join(root, "docs", "security.md"), "### Rotating the pepper", "sh")
	if len(blocks) != 3 {
		t.Fatalf("docs/security.md's rotation has %d shell blocks, want 3 (add the pepper, check, remove the old one)", len(blocks))
	}
	addPepper, checkOld, removeOld := parseShell(blocks[0].text), parseShell(blocks[1].text), parseShell(blocks[2].text)

	sh := newShell(t)
	secrets := map[string]string{} // scheme -> key string
	for _, scheme := range []string{"hmac", "argon2id", "bcrypt"} {
		file := scheme + ".txt"
		if code, out := sh.keyward(nil, "", "keys", "create", scheme+" key", "--hasher", scheme, "--secret-file", file); code != 0 {
			t.Fatalf("keys create --hasher %s: exit %d\n%s", scheme, code, out)
		}
		raw, _ := os.ReadFile(filepath.Join(sh.dir, file))
		secrets[scheme] = strings.TrimSpace(string(raw))
	}
	oldID := pepperFile(t, sh)[0]

	// Step 1: a new pepper first, the old one after it.
	results := sh.run(addPepper, nil)
	ids := pepperFile(t, sh)
	if len(ids) != 2 || ids[1] != oldID {
		t.Fatalf("after step 1 the pepper file names %v, want a new pepper then %s", ids, oldID)
	}
	newID := ids[0]
	ids2 := map[string]string{sampleOldID: oldID, sampleNewID: newID}
	check(t, results, ids2)
	if fi, err := os.Stat(filepath.Join(sh.dir, "keyward.db.pepper")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the pepper file after step 1: %v, mode %v; want 0600", err, fi.Mode())
	}

	// Step 2: the servers restart; a client uses its HMAC key only.
	srv := startServe(t, sh, serverEnv)
	if code := srv.auth(secrets["hmac"]); code != 200 {
		t.Fatalf("the HMAC key through the server after step 1: %d", code)
	}
	srv.Stop()

	// Step 3, too early to remove the old pepper: the check names the
	// Argon2id and bcrypt keys still on it.
	results = sh.run(checkOld, nil)
	check(t, results, ids2)
	peppers, list := results[0].stdout, results[1].stdout
	if !strings.Contains(peppers, oldID+"  older    2 ") || !strings.Contains(peppers, newID+"  current  1 ") {
		t.Errorf("keyward peppers while two keys are on the old pepper:\n%s", peppers)
	}
	if !strings.Contains(list, "argon2id key") || !strings.Contains(list, "bcrypt key") || strings.Contains(list, "hmac key") {
		t.Errorf("keys list --pepper-id old should name the Argon2id and bcrypt keys, not the rehashed HMAC key:\n%s", list)
	}
	// What the earlier documentation told readers to run: it counts none.
	grep := exec.Command("bash", "-c", `keyward keys export --with-hashes | grep -c "p=$0"`, oldID)
	grep.Dir, grep.Env = sh.dir, sh.env
	if out, _ := grep.Output(); strings.TrimSpace(string(out)) != "0" {
		t.Errorf("grep -c p=<old id> counted %s; the test expects the miss the issue describes", out)
	}
	// And why it matters: without the old pepper those keys do not verify.
	newPepper, _ := os.ReadFile(filepath.Join(sh.dir, "keyward.db.pepper"))
	onlyNew := []string{"KEYWARD_PEPPER=" + strings.SplitN(string(newPepper), "\n", 2)[0]}
	if code, out := sh.keyward(onlyNew, secrets["argon2id"], "keys", "verify", "-"); code != 1 || !strings.Contains(out, "NOT_FOUND") {
		t.Errorf("the Argon2id key with the new pepper alone: exit %d, %q; want NOT_FOUND, exit 1", code, out)
	}

	// The other clients use their keys; then nothing is left on the old pepper.
	srv = startServe(t, sh, serverEnv)
	for _, scheme := range []string{"argon2id", "bcrypt"} {
		if code := srv.auth(secrets[scheme]); code != 200 {
			t.Fatalf("the %s key through the server: %d", scheme, code)
		}
	}
	srv.Stop()
	results = sh.run(checkOld, nil)
	check(t, results, ids2)
	if peppers, list := results[0].stdout, results[1].stdout; !strings.Contains(peppers, oldID+"  older    0       0         0        0") || strings.Count(list, "\n") != 1 {
		t.Errorf("after every key was used, the check should show nothing on the old pepper:\n%s%s", peppers, list)
	}

	// Step 4: remove the old pepper. Every key verifies, through a server
	// and the CLI.
	check(t, sh.run(removeOld, nil), ids2)
	if ids := pepperFile(t, sh); len(ids) != 1 || ids[0] != newID {
		t.Fatalf("after step 4 the pepper file names %v, want %s alone", ids, newID)
	}
	srv = startServe(t, sh, serverEnv)
	for scheme, secret := range secrets {
		if code := srv.auth(secret); code != 200 {
			t.Errorf("the %s key through the server after the rotation: %d", scheme, code)
		}
		if code, out := sh.keyward(nil, secret, "keys", "verify", "-"); code != 0 {
			t.Errorf("keys verify of the %s key after the rotation: exit %d, %s", scheme, code, out)
		}
	}
	srv.Stop()
}
