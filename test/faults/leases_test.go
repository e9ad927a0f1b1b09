package faults

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testserver"
	"github.com/keyward/keyward/store/sqlite"
)

// TestCreditLeaseGivenBackOnSIGTERM: under traffic, a busy key with a large
// balance spends from a lease (the database holds fewer credits than the
// answers leave), and SIGTERM gives the lease back: afterwards the database
// holds exactly the credits of the requests not answered 200. The lease
// time is an hour, so that only the shutdown gives the lease back.
func TestCreditLeaseGivenBackOnSIGTERM(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "k.db")
	srv := testserver.Start(t, nil, "--database-url", "sqlite:"+path, "--admin-token", adminToken, "--credit-lease", "1h")
	const credits = 10_000_000
	k := create(t, srv, map[string]any{"name": "busy", "remaining": credits})
	db, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := func() int64 {
		t.Helper()
		got, err := db.Get(keyward.NewFreshContext(ctx), k.Key.ID)
		if err != nil {
			t.Fatal(err)
		}
		return *got.Remaining
	}

	var answered atomic.Int64 // requests answered 200
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for {
				r, err := srv.TryDo("GET", "/v1/auth", "", nil, "X-API-Key", k.Secret)
				if err != nil {
					return // the server has stopped listening
				}
				if r.Status == 200 {
					answered.Add(1)
				}
			}
		})
	}
	// Read the database first: every request it counts was either answered
	// 200 by then or is one of the 6 in flight. Holding 100 fewer credits
	// than that is a lease.
	waitUntil(t, time.Minute, "a lease: the database holding fewer credits than the answers leave", func() bool {
		s := stored()
		return s < credits-answered.Load()-100
	})
	srv.Stop() // SIGTERM under traffic; fails the test unless the exit is clean
	wg.Wait()
	if got, want := stored(), credits-answered.Load(); got != want {
		t.Errorf("after SIGTERM the database holds %d credits; want %d: %d requests answered 200 of %d credits", got, want, answered.Load(), credits)
	}
}
