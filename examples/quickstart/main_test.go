package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMain runs the program itself when the tests start this test binary as
// a child process with KEYWARD_QUICKSTART_MAIN=1, so that they run main as
// a user does, without building another binary.
func TestMain(m *testing.M) {
	if os.Getenv("KEYWARD_QUICKSTART_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// program returns the command that runs main in dir with the environment
// env (and no KEYWARD_PEPPER from the test's own environment).
func program(t *testing.T, dir string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-addr", "127.0.0.1:0")
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_PEPPER=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, append(env, "KEYWARD_QUICKSTART_MAIN=1")...)
	return cmd
}

var curlLine = regexp.MustCompile(`^curl -H 'Authorization: Bearer (kw_[0-9A-Za-z_]+)' (http://127\.0\.0\.1:\d+/invoices)$`)

// TestGuardsInvoices runs the quick start as written: it creates keys.db in
// its directory, prints a curl command with a new key, and serves
// GET /invoices to that key only.
func TestGuardsInvoices(t *testing.T) {
	dir := t.TempDir()
	// A rotation's list, as keyward serve reads it: new pepper first.
	cmd := program(t, dir, "KEYWARD_PEPPER=the-new-pepper-of-at-least-32-bytes,the-old-pepper-of-at-least-32-bytes")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(60 * time.Second):
		t.Fatalf("the program printed nothing within 60s; stderr:\n%s", stderr.String())
	}
	m := curlLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("first line %q is not the curl command of the README; stderr:\n%s", line, stderr.String())
	}
	key, url := m[1], m[2]
	if _, err := os.Stat(filepath.Join(dir, "keys.db")); err != nil {
		t.Errorf("keys.db in the working directory: %v", err)
	}

	get := func(bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(key); code != 200 || body != "invoices of team-billing\n" {
		t.Errorf("GET /invoices with the printed key: %d %q; want 200 \"invoices of team-billing\"", code, body)
	}
	if code, _ := get(""); code != 401 {
		t.Errorf("GET /invoices without a key: %d, want 401", code)
	}
	typo := key[:len(key)-1] + "x" // one character changed: never the key itself
	if typo == key {
		typo = key[:len(key)-1] + "y"
	}
	if code, _ := get(typo); code != 401 {
		t.Errorf("GET /invoices with a mistyped key: %d, want 401", code)
	}
}

// TestPepperProblemsAreErrors: without KEYWARD_PEPPER, or with one too short,
// the program says so and exits 1; it never panics.
func TestPepperProblemsAreErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want string
	}{
		{"unset", nil, "KEYWARD_PEPPER: keyhash: no pepper given"},
		{"empty", []string{"KEYWARD_PEPPER="}, "KEYWARD_PEPPER: keyhash: no pepper given"},
		{"short", []string{"KEYWARD_PEPPER=too-short"}, "KEYWARD_PEPPER: keyhash: pepper must be at least 32 bytes, got 9"},
		{"one of two short", []string{"KEYWARD_PEPPER=a-pepper-of-at-least-32-bytes-long,short"}, "at least 32 bytes, got 5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out, err := program(t, dir, c.env...).CombinedOutput()
			exit, _ := err.(*exec.ExitError)
			if exit == nil || exit.ExitCode() != 1 || !strings.Contains(string(out), c.want) || strings.Contains(string(out), "panic") {
				t.Errorf("exit %v, output:\n%s\nwant exit 1 and %q", err, out, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "keys.db")); err == nil {
				t.Error("keys.db was created although the pepper is wrong")
			}
		})
	}
}
