package main

import (
	"bufio"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testserver"
)

// TestRestartedServerStartsWarm: keyward serve restarted on a database
// whose key was used a moment ago caches that key at start, and only that
// one (a key never used is not read), before any request asks for it; with
// --cache-warm=false it starts empty.
func TestRestartedServerStartsWarm(t *testing.T) {
	c := newCLI(t)
	_, secret := c.createKeyWith("used")
	c.createKeyWith("never used")
	env := []string{"KEYWARD_PEPPER=" + testPepper}
	args := []string{"--database-url", c.db, "--admin-token", "shared-db-admin-token-of-32-characters"}
	first := testserver.Start(t, env, args...)
	if code := scopeAuth(t, first, secret, ""); code != 200 {
		t.Fatalf("the used key on the first server: %d", code)
	}
	first.Stop() // writes the usage count

	second := testserver.Start(t, env, args...)
	var warmed struct {
		Keys int `json:"keys"`
	}
	waitSeen(t, "the warm at start", 10*time.Second, func() bool { return warmLine(second.Log(), &warmed) })
	if warmed.Keys != 1 {
		t.Errorf("the restarted server warmed %d keys, want 1 (the used key)", warmed.Keys)
	}
	cached := regexp.MustCompile(`(?m)^keyward_cache_keys (\d+)$`)
	if m := cached.FindSubmatch(second.Do(t, "GET", "/metrics", "", nil).Body); m == nil || string(m[1]) != "1" {
		t.Errorf("keyward_cache_keys before any request: %q, want 1", m)
	}
	second.Stop()

	cold := testserver.Start(t, env, append(args, "--cache-warm=false")...)
	if m := cached.FindSubmatch(cold.Do(t, "GET", "/metrics", "", nil).Body); m == nil || string(m[1]) != "0" {
		t.Errorf("keyward_cache_keys with --cache-warm=false: %q, want 0", m)
	}
	if warmLine(cold.Log(), &warmed) {
		t.Errorf("--cache-warm=false warmed the cache:\n%s", cold.Log())
	}
}

// warmLine finds the log line of a finished warm in a JSON log and reads it
// into v.
func warmLine(log string, v any) bool {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var l struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "cache: warmed with the keys in use" {
			return json.Unmarshal(sc.Bytes(), v) == nil
		}
	}
	return false
}
