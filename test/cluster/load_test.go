package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/internal/testredis"
	"github.com/keyward/keyward/internal/testserver"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/postgres"
)

// tally counts the answers of concurrent /v1/auth calls by status and
// keyward code.
type tally struct {
	mu     sync.Mutex
	counts map[string]int
	errs   []error
}

func (t *tally) add(r testserver.Response, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.errs = append(t.errs, err)
		return
	}
	if t.counts == nil {
		t.counts = map[string]int{}
	}
	t.counts[fmt.Sprintf("%d %s", r.Status, r.Header.Get("X-Keyward-Code"))]++
}

// burst sends n /v1/auth calls at once (all released together), call i to
// servers[i%len(servers)] with keys[(i/len(servers))%len(keys)], so that
// every server and key pair gets its share. released is closed as the calls
// go.
func burst(n int, servers []*testserver.Server, keys []string, released chan<- struct{}) *tally {
	var t tally
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		s := servers[i%len(servers)]
		key := keys[(i/len(servers))%len(keys)]
		wg.Go(func() {
			<-start
			t.add(s.TryDo("GET", "/v1/auth", "", nil, "X-API-Key", key))
		})
	}
	close(start)
	if released != nil {
		close(released)
	}
	wg.Wait()
	return &t
}

// logOnFailure prints the servers' warnings and errors if the test failed
// (a Redis limiter falling back to local decisions says so there).
func logOnFailure(t *testing.T, servers ...*testserver.Server) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, s := range servers {
			for _, line := range strings.Split(s.Log(), "\n") {
				if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
					t.Logf("server %c: %s", 'A'+i, line)
				}
			}
		}
	})
}

// TestSharedLimitUnderConcurrentLoad sends 200 concurrent requests for a
// key limited to 50 a minute, half through each of two servers sharing
// Redis: exactly 50 are admitted, the rest answer 429 RATE_LIMITED. While
// they run, a key cached on B is revoked through A: B must answer 401
// REVOKED within a second (the invalidation travels over Redis; the cache
// TTL is an hour).
func TestSharedLimitUnderConcurrentLoad(t *testing.T) {
	a, b, _ := startPair(t)
	logOnFailure(t, a, b)
	var lim, rev issued
	a.Do(t, "POST", "/v1/keys", adminToken, map[string]any{"name": "limited", "rate_limit": map[string]any{"limit": 50, "period": "1m"}}).JSON(t, &lim)
	a.Do(t, "POST", "/v1/keys", adminToken, map[string]any{"name": "to revoke"}).JSON(t, &rev)
	if lim.Secret == "" || rev.Secret == "" {
		t.Fatal("creating the keys through A failed")
	}
	for _, s := range []*testserver.Server{a, b} { // cached on both
		if r := s.Do(t, "GET", "/v1/auth", "", nil, "X-API-Key", rev.Secret); r.Status != 200 {
			t.Fatalf("the key to revoke before the revocation: %d %s", r.Status, r.Body)
		}
	}

	released := make(chan struct{})
	type seen struct {
		after    time.Duration // from the revoke's answer to B's first REVOKED
		sentAt   time.Time
		statuses map[int]int // B's answers for the key while polling
		err      error
	}
	revoked := make(chan seen, 1)
	go func() {
		var out seen
		defer func() { revoked <- out }()
		<-released
		out.sentAt = time.Now()
		r, err := a.TryDo("POST", "/v1/keys/"+rev.Key.ID+"/revoke", adminToken, nil)
		if err != nil || r.Status != 200 {
			out.err = fmt.Errorf("revoke through A: %d %v %s", r.Status, err, r.Body)
			return
		}
		done := time.Now()
		out.statuses = map[int]int{}
		for time.Since(done) < 5*time.Second {
			r, err := b.TryDo("GET", "/v1/auth", "", nil, "X-API-Key", rev.Secret)
			if err != nil {
				out.err = err
				return
			}
			out.statuses[r.Status]++
			if r.Status == 401 && r.Header.Get("X-Keyward-Code") == "REVOKED" {
				out.after = time.Since(done)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		out.err = fmt.Errorf("B still answers %v for the key 5s after A revoked it", out.statuses)
	}()
	res := burst(200, []*testserver.Server{a, b}, []string{lim.Secret}, released)
	loadEnded := time.Now()
	rv := <-revoked

	if len(res.errs) > 0 {
		t.Fatalf("%d of 200 requests failed: %v", len(res.errs), res.errs[0])
	}
	if res.counts["200 "] != 50 || res.counts["429 RATE_LIMITED"] != 150 || len(res.counts) != 2 {
		t.Errorf("200 concurrent requests over A and B for a 50/min key: %v; want exactly 50 admitted and 150 RATE_LIMITED", res.counts)
	}
	if rv.err != nil {
		t.Fatal(rv.err)
	}
	if !rv.sentAt.Before(loadEnded) {
		t.Error("the revocation was sent after the load had ended: the test did not revoke under load")
	}
	if rv.after >= time.Second {
		t.Errorf("B answered REVOKED %v after A revoked the key; want within 1s", rv.after)
	}
	if rv.statuses[200]+rv.statuses[401] != sumCounts(rv.statuses) {
		t.Errorf("B's answers for the key being revoked: %v; want only 200 then 401", rv.statuses)
	}
	t.Logf("200 concurrent over A and B: %v; revoked through A under load (load ended %v after the revoke was sent), B answered REVOKED %v after the revoke returned (B's answers while polling: %v)",
		res.counts, loadEnded.Sub(rv.sentAt).Round(time.Microsecond), rv.after.Round(time.Microsecond), rv.statuses)
}

func sumCounts(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestOwnerLimitUnderConcurrentLoad gives an owner a shared limit of 100 a
// minute and 1000 credits, and three keys; 300 concurrent requests spread
// over the keys and two servers admit exactly 100, and the 200 refused
// spend no credit: exactly 900 remain.
//
// The owner record is written straight to the database through a
// keyward.Service, as the CLI would, before the servers start (so their
// caches read it on first use; nothing is published).
func TestOwnerLimitUnderConcurrentLoad(t *testing.T) {
	ctx := context.Background()
	db := testpg.FreshDatabase(t, testpg.URL(t))
	redisURL := testredis.URL(t)
	svc := direct(t, db)
	owner := fmt.Sprintf("acme-%d", time.Now().UnixNano()) // Redis outlives the test: a name of its own
	if _, _, err := svc.PutOwner(ctx, owner, keyward.OwnerParams{
		RateLimits: []keyward.NamedRateLimit{{Name: "shared", Limit: 100, Period: keyward.Duration(time.Minute)}},
		Remaining:  keyward.Ptr(int64(1000)),
	}); err != nil {
		t.Fatal(err)
	}
	args := []string{"--database-url", db, "--redis-url", redisURL, "--admin-token", adminToken, "--cache-ttl", "1h"}
	a := testserver.Start(t, []string{pepper}, args...)
	b := testserver.Start(t, []string{pepper}, args...)
	logOnFailure(t, a, b)

	var keys []string
	for i := range 3 {
		var k issued
		r := a.Do(t, "POST", "/v1/keys", adminToken, map[string]any{"name": fmt.Sprintf("key %d", i), "owner": owner})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &k)
		keys = append(keys, k.Secret)
	}
	res := burst(300, []*testserver.Server{a, b}, keys, nil)
	if len(res.errs) > 0 {
		t.Fatalf("%d of 300 requests failed: %v", len(res.errs), res.errs[0])
	}
	if res.counts["200 "] != 100 || res.counts["429 RATE_LIMITED"] != 200 || len(res.counts) != 2 {
		t.Errorf("300 concurrent requests over 3 keys of one owner and 2 servers, owner limit 100/min: %v; want exactly 100 admitted and 200 RATE_LIMITED", res.counts)
	}
	o, err := svc.GetOwner(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	if o.Remaining == nil || *o.Remaining != 900 {
		t.Errorf("owner credits after 100 admitted of 300: %v; want exactly 900 of 1000 (the refused spend none)", ptrString(o.Remaining))
	}
	t.Logf("300 concurrent over 3 keys and A and B: %v; owner credits left: %s", res.counts, ptrString(o.Remaining))
}

// direct opens the database at url as the CLI would: a keyward.Service on
// the store itself, with no cache and no bus.
func direct(t *testing.T, url string) *keyward.Service {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, url, &postgres.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := keyhash.NewPepper([]byte(pepper[len("KEYWARD_PEPPER="):]))
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := keyhash.NewHMAC(p)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := keyward.New(st, hasher, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close(ctx)
		st.Close()
	})
	return svc
}

func ptrString(p *int64) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}
