package main

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testserver"
)

// TestCLIChangesReachTheServerThroughTheChangeLog: keyward serve on SQLite,
// without Redis and with its default --cache-ttl (5 minutes), sees a
// revocation and a role change made with the CLI within a few seconds: the
// only path is the database's events outbox, which the server follows.
func TestCLIChangesReachTheServerThroughTheChangeLog(t *testing.T) {
	c := newCLI(t)
	srv := testserver.Start(t, []string{"KEYWARD_PEPPER=" + testPepper},
		"--database-url", c.db, "--admin-token", "shared-db-admin-token-of-32-characters")
	c.mustRun("roles", "put", "reader", "--scope", "invoices:read")
	id, secret := c.createKeyWith("prod", "--role", "reader")
	auth := func(scope string) int { t.Helper(); return scopeAuth(t, srv, secret, scope) }
	// The log is read every 500 ms; the cache TTL is 5 minutes, so only the
	// change log can carry these within the limit.
	const limit = 3 * time.Second
	if code := auth("invoices:read"); code != 200 {
		t.Fatalf("a key the CLI created, with its role's scope: %d", code)
	}
	if code := auth("invoices:write"); code != 403 {
		t.Fatalf("a scope the key's role lacks: %d, want 403", code)
	}
	c.mustRun("roles", "put", "reader", "--scope", "invoices:read", "--scope", "invoices:write")
	waitSeen(t, "role change (through the change log)", limit, func() bool { return auth("invoices:write") == 200 })
	c.mustRun("keys", "revoke", id)
	waitSeen(t, "revocation (through the change log)", limit, func() bool { return auth("invoices:read") == 401 })
}
