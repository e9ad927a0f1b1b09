package docs

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyLifetimeAsDocumented runs the commands of "Key lifetime and
// hygiene" in docs/security.md as written, in an empty directory: each
// exits as its comment says and prints the lines shown below it, and the
// listed keys are the ones the comments promise.
func TestKeyLifetimeAsDocumented(t *testing.T) {
	blocks := fencedBlocks(t, filepath.Join(root, "docs", "security.md"), "## Key lifetime and hygiene", "sh")
	if len(blocks) != 1 {
		t.Fatalf("docs/security.md's key lifetime section has %d shell blocks, want 1", len(blocks))
	}
	sh := newShell(t)
	results := sh.run(parseShell(blocks[0].text), nil)
	check(t, results, nil)
	for _, r := range results {
		switch {
		case strings.Contains(r.cmd.text, "--expires-within"):
			if strings.Contains(r.stdout, "ci-bot") || !strings.Contains(r.stdout, "deploy") {
				t.Errorf("keys expiring within 7 days:\n%s\nwant deploy, not ci-bot (30 days)", r.stdout)
			}
		case strings.Contains(r.cmd.text, "--unused-for"), strings.Contains(r.cmd.text, "--no-expiry"):
			if strings.Contains(r.stdout, "ci-bot") || strings.Contains(r.stdout, "deploy") {
				t.Errorf("%s listed new keys that expire:\n%s", r.cmd.text, r.stdout)
			}
		}
	}
}
