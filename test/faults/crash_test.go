package faults

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/internal/testserver"
)

// createUntilKilled runs 8 workers creating keys through srv and kills srv
// with SIGKILL once killAfter creates were acknowledged, plus extra (so the
// signal lands anywhere inside a create). It returns every key whose 201
// arrived, including those already on the wire when the signal fell, and
// how many creates the kill cut off (sent, never answered).
func createUntilKilled(t *testing.T, srv *testserver.Server, killAfter int, extra time.Duration) (acked []issued, cut int) {
	t.Helper()
	var mu sync.Mutex
	var odd []string // answers other than 201 before the kill
	var wg sync.WaitGroup
	var dead atomic.Bool
	var lost atomic.Int64
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !dead.Load(); i++ {
				r, err := srv.TryDo("POST", "/v1/keys", adminToken, map[string]any{"name": fmt.Sprintf("burst %d-%d", w, i)})
				if err != nil {
					lost.Add(1)
					return // the server is gone
				}
				var k issued
				mu.Lock()
				if r.Status != 201 || json.Unmarshal(r.Body, &k) != nil || k.Secret == "" {
					odd = append(odd, fmt.Sprintf("%d %.200s", r.Status, r.Body))
				} else {
					acked = append(acked, k)
				}
				mu.Unlock()
			}
		})
	}
	waitUntil(t, 30*time.Second, fmt.Sprintf("%d creates acknowledged", killAfter), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= killAfter
	})
	time.Sleep(extra)
	srv.Kill()
	dead.Store(true)
	wg.Wait()
	if len(odd) > 0 {
		t.Errorf("%d creates answered other than 201 before the kill, the first: %s", len(odd), odd[0])
	}
	return acked, int(lost.Load())
}

// TestKilledDuringCreatesPostgres is TestKilledDuringCreates on
// PostgreSQL, three rounds on one database: a keyward serve creating keys
// as fast as 8 clients ask is killed with SIGKILL at a random moment,
// restarted, and every key whose 201 arrived in any round so far verifies
// through the new process.
func TestKilledDuringCreatesPostgres(t *testing.T) {
	db := testpg.FreshDatabase(t, testpg.URL(t))
	args := []string{"--database-url", db, "--admin-token", adminToken}
	env := []string{pepper}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	srv := testserver.Start(t, env, args...)
	var acked []issued
	for round := range 3 {
		killAfter := 50 + rng.IntN(150)
		extra := time.Duration(rng.IntN(3000)) * time.Microsecond
		got, cut := createUntilKilled(t, srv, killAfter, extra)
		acked = append(acked, got...)

		srv = testserver.Start(t, env, args...)
		failed := verifyAll(t, srv, acked)
		if len(failed) > 0 {
			t.Fatalf("round %d: %d of the %d keys acknowledged with 201 before a SIGKILL do not verify after the restart, the first: %s", round, len(failed), len(acked), failed[0])
		}
		t.Logf("round %d: killed %v after %d acknowledged creates (%d acknowledged in all this round, %d cut off); all %d keys acknowledged so far verify after the restart", round, extra, killAfter, len(got), cut, len(acked))
	}
}

// verifyAll verifies every key through srv's /v1/auth, four at a time,
// and returns a description of each that does not answer 200.
func verifyAll(t *testing.T, srv *testserver.Server, keys []issued) []string {
	t.Helper()
	var mu sync.Mutex
	var failed []string
	next := make(chan issued)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for k := range next {
				r, err := srv.TryDo("GET", "/v1/auth", "", nil, "X-API-Key", k.Secret)
				if err != nil || r.Status != 200 {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("key %s: %d %v", k.Key.ID, r.Status, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	return failed
}
