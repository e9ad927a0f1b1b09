package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testserver"
)

// deadHooks starts three endpoints that never succeed, for every event:
// one refusing connections, one that never answers (the 10 s timeout), one
// answering 500.
func deadHooks(t *testing.T) []string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/hooks"
	ln.Close()
	hang := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	t.Cleanup(func() {
		close(hang)
		silent.Close()
		failing.Close()
	})
	return []string{refused, silent.URL, failing.URL}
}

// loadClient sends the load: keep-alive connections, enough for the
// workers.
var loadClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}

// authRate sends GET /v1/auth with secret from workers goroutines for d and
// returns the answers per second; every answer must be 200.
func authRate(t *testing.T, url, secret string, workers int, d time.Duration) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var n, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequest("GET", url+"/v1/auth", nil)
				req.Header.Set("Authorization", "Bearer "+secret)
				resp, err := loadClient.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d /v1/auth requests failed", f)
	}
	return float64(n.Load()) / time.Since(start).Seconds()
}

// TestDeadWebhooksDoNotSlowAuthOrWrites measures a real keyward serve
// (SQLite) with three dead endpoints receiving every event, against the
// same with the endpoints disabled, in alternating rounds (the best of 5
// each, against the noise of a shared machine: with 3, single runs on two
// busy cores fell to 0.78x and rose to 1.05x): /v1/auth throughput while a
// writer produces an event every 20 ms, and the time of 100 admin writes.
// The contract: /v1/auth within noise (checked at 0.8x, the figures are
// logged), writes within 2x.
func TestDeadWebhooksDoNotSlowAuthOrWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a load comparison")
	}
	srv := testserver.Start(t, nil, "--database-url", "sqlite:"+filepath.Join(t.TempDir(), "load.db"), "--admin-token", hookAdmin)
	var k, busy issued
	srv.Do(t, "POST", "/v1/keys", hookAdmin, map[string]any{"name": "load"}).JSON(t, &k)
	srv.Do(t, "POST", "/v1/keys", hookAdmin, map[string]any{"name": "busy"}).JSON(t, &busy)
	var hooks []string
	for _, u := range deadHooks(t) {
		id, _ := createHook(t, srv, u)
		hooks = append(hooks, id)
	}
	enable := func(on bool) {
		for _, id := range hooks {
			if r := srv.Do(t, "PATCH", "/v1/webhooks/"+id, hookAdmin, map[string]any{"enabled": on}); r.Status != 200 {
				t.Fatalf("PATCH webhook: %d %s", r.Status, r.Body)
			}
		}
	}
	write := func(i int) {
		if r := srv.Do(t, "PATCH", "/v1/keys/"+busy.Key.ID, hookAdmin, map[string]any{"name": fmt.Sprint("busy ", i)}); r.Status != 200 {
			t.Errorf("PATCH key: %d %s", r.Status, r.Body)
		}
	}
	round := func() (writes time.Duration, auth float64) {
		start := time.Now()
		for i := range 100 {
			write(i)
		}
		writes = time.Since(start)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { // a steady stream of events while /v1/auth is measured
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
					write(i)
				}
			}
		})
		auth = authRate(t, srv.URL, k.Secret, 8, 2*time.Second)
		close(stop)
		wg.Wait()
		return writes, auth
	}
	authRate(t, srv.URL, k.Secret, 8, 500*time.Millisecond) // warm up: the key cached, connections open
	baseW, deadW := time.Hour, time.Hour
	var baseA, deadA float64
	for range 5 {
		enable(false)
		w, a := round()
		baseW, baseA = min(baseW, w), max(baseA, a)
		enable(true)
		w, a = round()
		deadW, deadA = min(deadW, w), max(deadA, a)
	}
	t.Logf("best of 5: /v1/auth %.0f req/s with the endpoints off, %.0f with 3 dead ones on (%.2fx); 100 admin writes %v, %v (%.2fx)",
		baseA, deadA, deadA/baseA, baseW.Round(time.Millisecond), deadW.Round(time.Millisecond), float64(deadW)/float64(baseW))
	r := srv.Do(t, "GET", "/v1/webhooks/"+hooks[0]+"/deliveries?limit=1", hookAdmin, nil)
	var page struct{ Items []attempt }
	r.JSON(t, &page)
	if len(page.Items) == 0 || page.Items[0].Status != 0 {
		t.Errorf("the refusing endpoint has no failed attempt (%s): the dead endpoints were not exercised", r.Body)
	}
	if deadA < 0.8*baseA {
		t.Errorf("/v1/auth with dead endpoints: %.0f req/s, below 0.8x of %.0f without", deadA, baseA)
	}
	if deadW > 2*baseW {
		t.Errorf("admin writes with dead endpoints took %v, more than twice %v without", deadW, baseW)
	}
	srv.Stop()
}
