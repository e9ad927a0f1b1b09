package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeBlocks returns the shell blocks (```sh) and the output blocks (```
// with no language) of a section of README.md, in order.
func readmeBlocks(t *testing.T, section string) (sh, plain []goBlock) {
	t.Helper()
	path := filepath.Join(root, "README.md")
	return fencedBlocks(t, path, section, "sh"), fencedBlocks(t, path, section, "")
}

// TestREADMECLIQuickStart runs the README's CLI quick start command by
// command, as written, in an empty directory with the keyward binary first
// on PATH: every command exits as its comment says (0 unless it says
// otherwise) and prints the lines shown below it.
func TestREADMECLIQuickStart(t *testing.T) {
	blocks, _ := readmeBlocks(t, "## CLI quick start")
	if len(blocks) != 1 {
		t.Fatalf("README.md's CLI quick start has %d shell blocks, want 1", len(blocks))
	}
	cmds := parseShell(blocks[0].text)
	sh := newShell(t)
	results := sh.run(cmds, nil)
	check(t, results, nil)

	// What the comments say in words.
	demo := filepath.Join(sh.dir, "keyward-demo")
	var verifiedLimited bool
	for _, r := range results {
		if strings.HasPrefix(r.cmd.text, "keyward keys verify - --scope invoices:read < key.txt") {
			verifiedLimited = r.exit == 0
		}
		if strings.HasPrefix(r.cmd.text, "keyward scan .") && strings.Count(r.stdout, "\n") != 3 {
			t.Errorf("keyward scan . found %d keys, the README says three:\n%s", strings.Count(r.stdout, "\n"), r.stdout)
		}
	}
	if !verifiedLimited {
		t.Error("the README's keys verify of its rate-limited key did not run or did not exit 0")
	}
	for _, f := range []string{"key.txt", "new-key.txt", "acme-key.txt"} {
		fi, err := os.Stat(filepath.Join(demo, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v (mode %v), want a 0600 file", f, err, fi.Mode())
		}
	}
	backup, err := os.ReadFile(filepath.Join(demo, "backup.jsonl"))
	if err != nil || strings.Count(string(backup), "\n") != 2 || keyString.Match(backup) || !strings.Contains(string(backup), `"hash":"$hmac-sha256$`) {
		t.Errorf("backup.jsonl (%v) should hold both keys with their hashes and no secret:\n%s", err, backup)
	}
}

var adminLine = regexp.MustCompile(`(?m)^ADMIN=\S+`)

// TestREADMEServerQuickStart starts keyward serve as the README says, in an
// empty directory (on a free port instead of 8080), and runs the curl
// commands as written against it, with the admin key it printed pasted
// where the README says to paste it.
func TestREADMEServerQuickStart(t *testing.T) {
	blocks, plain := readmeBlocks(t, "## Server quick start")
	if len(blocks) < 2 || strings.TrimSpace(blocks[0].text) != "go run ./cmd/keyward serve" || len(plain) != 1 {
		t.Fatalf("README.md's server quick start should start the server with go run ./cmd/keyward serve and show its first words in a plain block; it has %d shell blocks and %d plain ones", len(blocks), len(plain))
	}
	sh := newShell(t)
	if _, err := os.Stat("/usr/bin/curl"); err != nil {
		if _, err := os.Stat("/bin/curl"); err != nil {
			t.Skip("curl is not installed: the README's server quick start uses it")
		}
	}
	srv := startServe(t, sh, nil) // go run ./cmd/keyward serve: the binary that command builds
	for _, f := range []string{"keyward.db", "keyward.db.pepper"} {
		if _, err := os.Stat(filepath.Join(sh.dir, f)); err != nil {
			t.Errorf("first start: %v", err)
		}
	}
	log := strings.Split(srv.Log(), "\n")
	for i := range log {
		log[i] = normalize(log[i])
	}
	for _, shown := range codeLines(plain[0].text) {
		if !matchesOne(normalize(shown), log) {
			t.Errorf("the first start printed no line like the README's %q:\n%s", shown, srv.Log())
		}
	}
	admin := keyString.FindString(srv.Log())
	if admin == "" {
		t.Fatalf("no admin key in the first start's output:\n%s", srv.Log())
	}

	var cmds []shellCmd
	for _, b := range blocks[1:] {
		cmds = append(cmds, parseShell(b.text)...)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	results := sh.run(cmds, func(cmd string) string {
		cmd = adminLine.ReplaceAllString(cmd, "ADMIN="+admin) // pasted from the server's terminal
		return strings.ReplaceAll(cmd, "localhost:8080", host)
	})
	check(t, results, nil)
	srv.Stop()
}
