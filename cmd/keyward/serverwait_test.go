package main

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testserver"
)

// scopeAuth returns the status of srv's /v1/auth for secret, needing scope.
func scopeAuth(t *testing.T, srv *testserver.Server, secret, scope string) int {
	t.Helper()
	return srv.Do(t, "GET", "/v1/auth?scopes="+scope, "", nil, "X-API-Key", secret).Status
}

// waitSeen polls done until it holds, and fails the test once limit has
// passed without it: a change made with the CLI, waited for on the server.
// It logs how long the server took.
func waitSeen(t *testing.T, what string, limit time.Duration, done func() bool) {
	t.Helper()
	start := time.Now()
	for !done() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not seen by the server after %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%s: seen by the server after %v", what, time.Since(start).Round(time.Millisecond))
}
