// Package faults breaks keyward's parts under load and checks that nobody
// gets in who should not, nothing acknowledged is lost, and everything
// recovers by itself.
package faults

import (
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/internal/testredis"
	"github.com/keyward/keyward/internal/testserver"
)

const (
	adminToken = "faults-test-admin-token-of-32-characters"
	pepper     = "KEYWARD_PEPPER=faults-test-pepper-of-at-least-32-bytes"
)

type issued struct {
	Key struct {
		ID string `json:"id"`
	} `json:"key"`
	Secret string `json:"secret"`
}

func create(t *testing.T, s *testserver.Server, body map[string]any) issued {
	t.Helper()
	var k issued
	r := s.Do(t, "POST", "/v1/keys", adminToken, body)
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &k)
	return k
}

func auth(t *testing.T, s *testserver.Server, secret string) int {
	t.Helper()
	return s.Do(t, "GET", "/v1/auth", "", nil, "Authorization", "Bearer "+secret).Status
}

// load calls /v1/auth with secret until stop is closed and counts statuses.
func load(t *testing.T, s *testserver.Server, secret string, stop <-chan struct{}) (counts func() map[int]int64, wait func()) {
	var mu sync.Mutex
	seen := map[int]int64{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code := auth(t, s, secret)
				mu.Lock()
				seen[code]++
				mu.Unlock()
			}
		})
	}
	return func() map[int]int64 {
		mu.Lock()
		defer mu.Unlock()
		out := map[int]int64{}
		for k, v := range seen {
			out[k] = v
		}
		return out
	}, wg.Wait
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPostgresStoppedUnderLoad stops PostgreSQL while a cached key is under
// load: it keeps passing; an uncached key gets 503, an unknown key never
// 200; when PostgreSQL returns, everything recovers.
func TestPostgresStoppedUnderLoad(t *testing.T) {
	pg := testpg.Start(t)
	db := testpg.FreshDatabase(t, pg.URL())
	srv := testserver.Start(t, []string{pepper}, "--database-url", db, "--admin-token", adminToken, "--cache-ttl", "500ms", "--stale-ttl", "5m")
	cached := create(t, srv, map[string]any{"name": "cached"})
	uncached := create(t, srv, map[string]any{"name": "uncached"})
	if code := auth(t, srv, cached.Secret); code != 200 {
		t.Fatal(code)
	}
	stop := make(chan struct{})
	counts, wait := load(t, srv, cached.Secret, stop)

	pg.Stop()
	outage := time.Now()
	// Past the cache TTL the cached key is served stale; the uncached one fails.
	waitUntil(t, 10*time.Second, "the uncached key gets 503", func() bool { return auth(t, srv, uncached.Secret) == 503 })
	before := counts()
	for range 20 {
		unknown := keyward.Token{Prefix: "kw", ID: randomID(t), Secret: strings.Repeat("x", 40)}.String()
		if code := auth(t, srv, unknown); code == 200 {
			t.Fatalf("an unknown key got 200 during the outage")
		}
		if code := auth(t, srv, uncached.Secret); code != 503 {
			t.Errorf("uncached key during the outage: %d, want 503", code)
		}
	}
	for time.Since(outage) < 2*time.Second { // keep the load on past several cache TTLs
		time.Sleep(50 * time.Millisecond)
	}
	during := counts()
	if during[200] <= before[200] {
		t.Error("the cached key stopped passing during the outage")
	}
	for code, n := range during {
		if code != 200 {
			t.Errorf("the cached key got %d %d times during the outage", n, code)
		}
	}
	if r := srv.Do(t, "GET", "/readyz", "", nil); r.Status != 503 {
		t.Errorf("/readyz during the outage: %d", r.Status)
	}

	pg.Restart()
	waitUntil(t, 30*time.Second, "the uncached key verifies after PostgreSQL returns", func() bool { return auth(t, srv, uncached.Secret) == 200 })
	if r := srv.Do(t, "GET", "/readyz", "", nil); r.Status != 200 {
		t.Errorf("/readyz after recovery: %d", r.Status)
	}
	k := create(t, srv, map[string]any{"name": "after recovery"})
	if code := auth(t, srv, k.Secret); code != 200 {
		t.Errorf("a key created after recovery: %d", code)
	}
	close(stop)
	wait()
	t.Logf("cached key under load: %v", counts())
}

func randomID(t *testing.T) string {
	id, err := keyward.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRedisStoppedUnderLoad stops Redis under two instances: the local
// limiter and the change log take over (the cache TTL is an hour, so a
// revocation that arrives was carried by the log), and both recover when it
// returns.
func TestRedisStoppedUnderLoad(t *testing.T) {
	rs := testredis.Start(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	args := []string{"--database-url", db, "--redis-url", rs.URL(), "--admin-token", adminToken, "--cache-ttl", "1h"}
	a := testserver.Start(t, []string{pepper}, args...)
	b := testserver.Start(t, []string{pepper}, args...)
	// metric reads one sample line (the HELP text also starts with the name).
	metric := func(s *testserver.Server, line string) bool {
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).Match(s.Do(t, "GET", "/metrics", "", nil).Body)
	}
	busUp := func(s *testserver.Server) bool { return metric(s, "keyward_invalidation_bus_up 1") }
	waitUntil(t, 10*time.Second, "both buses are up", func() bool { return busUp(a) && busUp(b) })
	k := create(t, a, map[string]any{"name": "plain"})
	stop := make(chan struct{})
	counts, wait := load(t, b, k.Secret, stop)

	rs.Stop()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("A's log:\n%s\nB's log:\n%s", a.Log(), b.Log())
		}
	})
	waitUntil(t, 10*time.Second, "both report the bus down", func() bool { return !busUp(a) && !busUp(b) })
	// The local limiter: a key limited to 3 per hour admits 3 per instance.
	lim := create(t, a, map[string]any{"name": "limited", "rate_limit": map[string]any{"limit": 3, "period": "1h"}})
	admitted := 0
	for range 5 {
		if auth(t, a, lim.Secret) == 200 {
			admitted++
		}
	}
	if admitted != 3 {
		t.Errorf("with Redis down, instance A admitted %d of a 3/h key, want 3 (local limiter)", admitted)
	}
	// The change log: a revoke through A reaches B without Redis, within
	// about a second, though B's cache keeps keys for an hour.
	if r := a.Do(t, "POST", "/v1/keys/"+k.Key.ID+"/revoke", adminToken, nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	waitUntil(t, 3*time.Second, "B rejects the revoked key without the bus", func() bool { return auth(t, b, k.Secret) == 401 })
	close(stop)
	wait()
	c := counts()
	if c[200] == 0 || c[500] != 0 || c[503] != 0 {
		t.Errorf("B under load while Redis went down: %v; want 200s then 401s, no errors", c)
	}

	rs.Restart()
	waitUntil(t, 15*time.Second, "both buses recover", func() bool { return busUp(a) && busUp(b) })
	probe := create(t, a, map[string]any{"name": "probe", "rate_limit": map[string]any{"limit": 1000, "period": "1h"}})
	waitUntil(t, 5*time.Second, "the shared limiter is back on both", func() bool {
		auth(t, a, probe.Secret) // a limiter tries Redis again when used
		auth(t, b, probe.Secret)
		return metric(a, "keyward_ratelimit_degraded 0") && metric(b, "keyward_ratelimit_degraded 0")
	})
	shared := create(t, a, map[string]any{"name": "shared again", "rate_limit": map[string]any{"limit": 4, "period": "1h"}})
	admitted = 0
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		if auth(t, s, shared.Secret) == 200 {
			admitted++
		}
	}
	if admitted != 4 {
		t.Errorf("after Redis returned, a 4/h key admitted %d over two instances, want 4 (shared again)", admitted)
	}
}

// TestKilledDuringCreates kills keyward serve with SIGKILL in a burst of
// creates: every create that returned 201 is there after a restart.
func TestKilledDuringCreates(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "k.db")
	args := []string{"--database-url", db, "--admin-token", adminToken}
	srv := testserver.Start(t, nil, args...)
	acked, _ := createUntilKilled(t, srv, 200, 0)

	srv2 := testserver.Start(t, nil, args...)
	for _, k := range acked {
		if r := srv2.Do(t, "GET", "/v1/keys/"+k.Key.ID, adminToken, nil); r.Status != 200 {
			t.Fatalf("key %s acknowledged with 201 before the kill is gone: %d", k.Key.ID, r.Status)
		}
		if code := auth(t, srv2, k.Secret); code != 200 {
			t.Fatalf("key %s does not verify after the kill: %d", k.Key.ID, code)
		}
	}
	t.Logf("%d creates acknowledged before SIGKILL; all present and verifying after restart", len(acked))
}

// TestKilledDuringTraffic kills keyward serve with SIGKILL under traffic:
// the usage lost is at most what the last flush interval held.
func TestKilledDuringTraffic(t *testing.T) {
	killedDuringTraffic(t, nil, "sqlite:"+filepath.Join(t.TempDir(), "k.db"))
}

// TestKilledDuringTrafficPostgres is TestKilledDuringTraffic on
// PostgreSQL.
func TestKilledDuringTrafficPostgres(t *testing.T) {
	killedDuringTraffic(t, []string{pepper}, testpg.FreshDatabase(t, testpg.URL(t)))
}

func killedDuringTraffic(t *testing.T, env []string, db string) {
	flush := 200 * time.Millisecond
	args := []string{"--database-url", db, "--admin-token", adminToken, "--usage-flush", flush.String()}
	srv := testserver.Start(t, env, args...)
	k := create(t, srv, map[string]any{"name": "busy"})
	var mu sync.Mutex
	var done []time.Time // when each 200 came back
	var dead atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !dead.Load() {
				r, err := srv.TryDo("GET", "/v1/auth", "", nil, "X-API-Key", k.Secret)
				if err != nil {
					return
				}
				if r.Status == 200 {
					mu.Lock()
					done = append(done, time.Now())
					mu.Unlock()
				}
			}
		})
	}
	// Long enough that most answers are older than two flush intervals, so the
	// lower bound below has something to check.
	began := time.Now()
	waitUntil(t, 30*time.Second, "1.5s and 1,000 verifications", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(done) >= 1000 && time.Since(began) > 1500*time.Millisecond
	})
	killedAt := time.Now()
	srv.Kill()
	dead.Store(true)
	wg.Wait()

	srv2 := testserver.Start(t, env, args...)
	var rep struct {
		Totals map[string]int64 `json:"totals"`
	}
	srv2.Do(t, "GET", "/v1/keys/"+k.Key.ID+"/usage?bucket=day", adminToken, nil).JSON(t, &rep)
	counted := rep.Totals["VALID"]
	// Everything answered more than two flush intervals before the kill had
	// been written (one interval, plus the time the write itself takes).
	safe := 0
	for _, at := range done {
		if at.Before(killedAt.Add(-2 * flush)) {
			safe++
		}
	}
	if counted < int64(safe) || counted > int64(len(done)) {
		t.Errorf("usage after SIGKILL: %d VALID counted; %d answered in all, %d more than 2 flush intervals before the kill", counted, len(done), safe)
	}
	if safe < len(done)/2 {
		t.Errorf("only %d of %d answers are older than two flush intervals: the test checks too little", safe, len(done))
	}
	t.Logf("answered %d, counted %d after SIGKILL (lost %d, at most one flush interval of %v; %d answered earlier all counted)", len(done), counted, int64(len(done))-counted, flush, safe)
}
