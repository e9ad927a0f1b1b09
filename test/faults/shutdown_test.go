package faults

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/internal/testserver"
)

// TestStoppedDuringTraffic sends SIGTERM to keyward serve while 30 keys are
// under traffic, with a flush interval (1 minute) longer than the test usually runs: every
// verification answered 200 is in the usage counts after a restart, exactly,
// and every key used has a last_used_at. The whole record is the final
// flush's, written in one batch of many keys.
func TestStoppedDuringTraffic(t *testing.T) {
	stoppedDuringTraffic(t, nil, "sqlite:"+filepath.Join(t.TempDir(), "k.db"))
}

// TestStoppedDuringTrafficPostgres is TestStoppedDuringTraffic on
// PostgreSQL.
func TestStoppedDuringTrafficPostgres(t *testing.T) {
	stoppedDuringTraffic(t, []string{pepper}, testpg.FreshDatabase(t, testpg.URL(t)))
}

func stoppedDuringTraffic(t *testing.T, env []string, db string) {
	args := []string{"--database-url", db, "--admin-token", adminToken, "--usage-flush", "1m"}
	srv := testserver.Start(t, env, args...)
	keys := make([]issued, 30)
	for i := range keys {
		keys[i] = create(t, srv, map[string]any{"name": fmt.Sprintf("busy %d", i)})
	}
	var mu sync.Mutex
	answered := map[string]int64{} // key id -> 200s received
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := w; ; i++ {
				k := keys[i%len(keys)]
				r, err := srv.TryDo("GET", "/v1/auth", "", nil, "X-API-Key", k.Secret)
				if err != nil {
					return // the server has stopped listening
				}
				if r.Status == 200 {
					mu.Lock()
					answered[k.Key.ID]++
					mu.Unlock()
				}
			}
		})
	}
	waitUntil(t, 30*time.Second, "1,000 verifications over every key", func() bool {
		mu.Lock()
		defer mu.Unlock()
		var n int64
		for _, c := range answered {
			n += c
		}
		return n >= 1000 && len(answered) == len(keys)
	})
	srv.Stop() // SIGTERM under traffic; fails the test unless the exit is clean
	wg.Wait()

	srv2 := testserver.Start(t, env, args...)
	var total, want int64
	for _, k := range keys {
		var rep struct {
			Totals map[string]int64 `json:"totals"`
		}
		srv2.Do(t, "GET", "/v1/keys/"+k.Key.ID+"/usage?bucket=day", adminToken, nil).JSON(t, &rep)
		if got := rep.Totals["VALID"]; got != answered[k.Key.ID] {
			t.Errorf("key %s: %d VALID counted after SIGTERM, %d answered 200", k.Key.ID, got, answered[k.Key.ID])
		}
		var got struct {
			LastUsedAt *time.Time `json:"last_used_at"`
		}
		srv2.Do(t, "GET", "/v1/keys/"+k.Key.ID, adminToken, nil).JSON(t, &got)
		if got.LastUsedAt == nil {
			t.Errorf("key %s: no last_used_at after SIGTERM", k.Key.ID)
		}
		total += rep.Totals["VALID"]
		want += answered[k.Key.ID]
	}
	t.Logf("answered %d over %d keys, counted %d after SIGTERM", want, len(keys), total)
}
