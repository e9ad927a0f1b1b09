package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/store/sqlite"
)

// runCLI runs the program in-process and returns its exit status, stdout and
// stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err := run(context.Background(), args, strings.NewReader(""), &out, &errOut, getenv)
	return exitCode(err), out.String(), errOut.String()
}

func TestServeRejectsBadConfiguration(t *testing.T) {
	code, _, stderr := runCLI(t, map[string]string{"KEYWARD_CACHE_TTL": "-1s"},
		"serve", "--addr", "nowhere", "--log-format", "xml", "--database-url", "mysql://x", "--hasher", "md5",
		"--trusted-proxies", "10.0.0.0/33", "--admin-token", "short", "--tls-cert", "/no/such/cert")
	if code != 2 {
		t.Fatalf("exit %d, want 2 (bad usage); stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"--addr", "--log-format", `unsupported scheme "mysql"`, "--hasher", "--trusted-proxies", "--admin-token", "--cache-ttl", "--tls-cert and --tls-key go together", "/no/such/cert"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not name %q:\n%s", want, stderr)
		}
	}
}

func TestBadEnvironmentValue(t *testing.T) {
	code, _, stderr := runCLI(t, map[string]string{"KEYWARD_CACHE_TTL": "soon"}, "serve")
	if code != 2 || !strings.Contains(stderr, "KEYWARD_CACHE_TTL") {
		t.Errorf("exit %d, stderr %q; want 2 naming KEYWARD_CACHE_TTL", code, stderr)
	}
}

func TestUnknownCommandAndFlag(t *testing.T) {
	if code, _, _ := runCLI(t, nil, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, nil, "serve", "--no-such-flag"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
}

func TestMigrateAndVersion(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "k.db")
	for range 2 {
		code, out, stderr := runCLI(t, nil, "migrate", "--database-url", db)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("schema at version %d", sqlite.LatestVersion())) {
			t.Fatalf("migrate: exit %d, %q %q", code, out, stderr)
		}
	}
	if code, out, _ := runCLI(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "keyward ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, stderr := runCLI(t, nil, "migrate", "--database-url", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"); code != 1 || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Errorf("unreachable database: exit %d, %q", code, stderr)
	}
}

// TestUnknownVerbsAreBadUsage gives an unknown verb at every level that has
// verbs (and to help): each is bad usage, exit 2 with a message naming it,
// never help with exit 0.
func TestUnknownVerbsAreBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"keys", "frobnicate"},
		{"keys", "list", "frobnicate"},
		{"owners", "frobnicate"},
		{"owners", "list", "frobnicate"},
		{"roles", "frobnicate"},
		{"help", "roles", "frobnicate"},
		{"completion", "frobnicate"},
		{"help", "frobnicate"},
		{"help", "keys", "frobnicate"},
		{"version", "frobnicate"},
		{"migrate", "frobnicate"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			code, out, stderr := runCLI(t, nil, args...)
			if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
				t.Errorf("keyward %s: exit %d, stderr %q; want exit 2 naming the unknown verb", strings.Join(args, " "), code, stderr)
			}
			if strings.Contains(out, "Usage:") {
				t.Errorf("keyward %s printed help on standard output:\n%s", strings.Join(args, " "), out)
			}
		})
	}
	// A group without a verb still shows its help.
	if code, out, _ := runCLI(t, nil, "keys"); code != 0 || !strings.Contains(out, "Available Commands:") {
		t.Errorf("keyward keys: exit %d, %q; want its help, exit 0", code, out)
	}
}

// TestCleanupDeferredSeesLaterAdds: serve defers done.run() before the
// store, cache and Service are added; all of them must still close, last
// added first.
func TestCleanupDeferredSeesLaterAdds(t *testing.T) {
	var order []int
	func() {
		var done cleanup
		defer done.run()
		done.add(func() { order = append(order, 1) })
		done.add(func() { order = append(order, 2) })
	}()
	if !slices.Equal(order, []int{2, 1}) {
		t.Errorf("deferred cleanup ran %v, want [2 1]", order)
	}
}
