// Package cluster runs two keyward serve processes on different loopback
// ports sharing one PostgreSQL and one Redis, as a scaled-out deployment.
package cluster

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/internal/testredis"
	"github.com/keyward/keyward/internal/testserver"
)

const (
	adminToken = "cluster-test-admin-token-of-32-characters"
	pepper     = "KEYWARD_PEPPER=cluster-test-pepper-of-at-least-32-bytes"
)

type issued struct {
	Key struct {
		ID string `json:"id"`
	} `json:"key"`
	Secret string `json:"secret"`
}

func startPair(t *testing.T) (a, b *testserver.Server, args []string) {
	t.Helper()
	db := testpg.FreshDatabase(t, testpg.URL(t))
	redisURL := testredis.URL(t)
	args = []string{"--database-url", db, "--redis-url", redisURL, "--admin-token", adminToken, "--cache-ttl", "1h"}
	a = testserver.Start(t, []string{pepper}, args...)
	b = testserver.Start(t, []string{pepper}, args...)
	return a, b, args
}

func TestScaleOut(t *testing.T) {
	a, b, args := startPair(t)
	auth := func(s *testserver.Server, secret string) int {
		t.Helper()
		return s.Do(t, "GET", "/v1/auth", "", nil, "Authorization", "Bearer "+secret).Status
	}

	// Create through A, verify through B at once.
	var k issued
	a.Do(t, "POST", "/v1/keys", adminToken, map[string]any{"name": "shared"}).JSON(t, &k)
	if code := auth(b, k.Secret); code != 200 {
		t.Fatalf("B verifies a key created through A: %d", code)
	}
	// B has it cached (TTL 1h): a revoke through A must reach B over Redis.
	if code := auth(b, k.Secret); code != 200 {
		t.Fatal(code)
	}
	if r := a.Do(t, "POST", "/v1/keys/"+k.Key.ID+"/revoke", adminToken, nil); r.Status != 200 {
		t.Fatalf("revoke through A: %d", r.Status)
	}
	start := time.Now()
	validBeforeSeen := 0 // answered while the revocation was on its way to B
	for code := auth(b, k.Secret); code != 401; code = auth(b, k.Secret) {
		if code == 200 {
			validBeforeSeen++
		}
		if time.Since(start) > time.Second {
			t.Fatal("B still accepts the key 1s after A revoked it")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("revoked through A, rejected by B after %v", time.Since(start).Round(time.Microsecond))

	// 100/min shared: 300 requests spread over both admit exactly 100.
	var lim issued
	a.Do(t, "POST", "/v1/keys", adminToken, map[string]any{"name": "limited", "rate_limit": map[string]any{"limit": 100, "period": "1m"}}).JSON(t, &lim)
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range 300 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			switch auth(s, lim.Secret) {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 || limited.Load() != 200 || other.Load() != 0 {
		t.Errorf("300 requests over A and B: %d admitted, %d limited, %d other; want exactly 100 and 200", ok.Load(), limited.Load(), other.Load())
	}

	// Usage counts from both instances add up exactly after shutdown.
	a.Stop()
	b.Stop()
	c := testserver.Start(t, []string{pepper}, args...)
	r := c.Do(t, "GET", "/v1/keys/"+lim.Key.ID+"/usage?bucket=day", adminToken, nil)
	var rep struct {
		Totals map[string]int64 `json:"totals"`
	}
	r.JSON(t, &rep)
	if rep.Totals["VALID"] != 100 || rep.Totals["RATE_LIMITED"] != 200 {
		t.Errorf("usage after both stopped: %v; want VALID 100 and RATE_LIMITED 200 (from both instances)", rep.Totals)
	}
	r = c.Do(t, "GET", "/v1/keys/"+k.Key.ID+"/usage?bucket=day", adminToken, nil)
	rep.Totals = nil // decoding into a map merges: start from none
	r.JSON(t, &rep)
	if got := fmt.Sprint(rep.Totals); rep.Totals["VALID"] != int64(2+validBeforeSeen) || rep.Totals["REVOKED"] < 1 {
		t.Errorf("usage of the shared key: %s; want %d VALID (2, and %d answered before B saw the revocation) and the REVOKED answers",
			got, 2+validBeforeSeen, validBeforeSeen)
	}
}
