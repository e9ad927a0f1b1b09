package webhook_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/webhook"
)

// waitFor waits until done is closed, failing the test after limit.
func waitFor(tb testing.TB, done <-chan struct{}, limit time.Duration, what string) {
	tb.Helper()
	select {
	case <-done:
	case <-time.After(limit):
		tb.Fatalf("%s: not done within %v", what, limit)
	}
}

// whenDistinct returns a channel closed when r has got n distinct
// webhook-ids.
func whenDistinct(r *receiver, n int) <-chan struct{} {
	done := make(chan struct{})
	var once sync.Once
	r.mu.Lock()
	r.notify = func(r *receiver) {
		if len(r.ids) >= n {
			once.Do(func() { close(done) })
		}
	}
	r.mu.Unlock()
	return done
}

// appendEvents queues n events of type role.updated.
func appendEvents(tb testing.TB, s keyward.Store, n int) {
	tb.Helper()
	for start := 0; start < n; start += 1000 {
		var batch []keyward.Event
		for i := start; i < min(start+1000, n); i++ {
			id, err := keyward.NewEventID()
			if err != nil {
				tb.Fatal(err)
			}
			batch = append(batch, keyward.Event{ID: id, Type: keyward.EventRoleUpdated, At: time.Now(), Data: []byte(fmt.Sprintf(`{"name":"r%d"}`, i))})
		}
		if _, err := s.AppendEvents(context.Background(), batch); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestTenThousandEventsOnSQLite queues 10,000 events for a receiver that
// answers at once and checks that they are all delivered, once each, within
// 60 s. With the race detector (which slows the SQLite driver tenfold) it
// delivers 1,000 and asserts no time.
func TestTenThousandEventsOnSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 10,000-event run")
	}
	n, limit := 10_000, 60*time.Second
	if raceEnabled {
		n, limit = 1_000, 10*time.Minute
	}
	store := openSQLite(t, filepath.Join(t.TempDir(), "keyward.db"))
	svc := testkit.NewService(t, store, nil, nil)
	r := newReceiver(t, time.Now, nil)
	c, err := svc.CreateWebhook(context.Background(), keyward.WebhookParams{URL: r.srv.URL, Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	r.setSecret(c.Secret)
	appendEvents(t, store, n)
	done := whenDistinct(r, n)
	d := dispatcher(t, store, nil)
	start := time.Now()
	d.Start()
	waitFor(t, done, limit, fmt.Sprintf("delivering %d events on SQLite", n))
	elapsed := time.Since(start)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events delivered on SQLite in %v (%.0f/s; race detector %v)", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), raceEnabled)
	r.mu.Lock()
	got := r.n
	r.mu.Unlock()
	if got != n {
		t.Errorf("receiver got %d requests for %d events, want one each", got, n)
	}
	if more, err := dispatcher(t, store, nil).RunOnce(context.Background()); err != nil || more != 0 {
		t.Errorf("a new dispatcher afterwards made %d attempts (%v), want 0: every success is recorded", more, err)
	}
}

// TestTwoDispatchersOnPostgres runs two dispatchers (two instances of
// keyward serve) on one PostgreSQL database while 200 events are written,
// and checks that each event is delivered exactly once.
func TestTwoDispatchersOnPostgres(t *testing.T) {
	u := testpg.FreshDatabase(t, testpg.URL(t))
	ctx := context.Background()
	open := func(migrate bool) *postgres.Store {
		s, err := postgres.Open(ctx, u, &postgres.Options{Migrate: migrate})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(true), open(false)
	svc := testkit.NewService(t, a, nil, nil)
	r := newReceiver(t, time.Now, nil)
	c, err := svc.CreateWebhook(ctx, keyward.WebhookParams{URL: r.srv.URL, Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	r.setSecret(c.Secret)
	done := whenDistinct(r, 200)
	opts := &webhook.Options{PollInterval: 5 * time.Millisecond}
	da, db := dispatcher(t, a, opts), dispatcher(t, b, opts)
	da.Start()
	db.Start()
	for i := range 200 {
		if _, _, err := svc.PutRole(ctx, fmt.Sprintf("role-%d", i), keyward.RoleParams{Scopes: []string{"x"}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, done, 60*time.Second, "delivering 200 events with two dispatchers")
	for _, d := range []*webhook.Dispatcher{da, db} {
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	twice := 0
	for _, n := range r.ids {
		if n != 1 {
			twice++
		}
	}
	if len(r.ids) != 200 || r.n != 200 || twice > 0 {
		t.Errorf("receiver: %d events, %d requests, %d delivered more than once; want 200, 200, 0", len(r.ids), r.n, twice)
	}
	t.Logf("dispatcher a made %d attempts, b %d", da.Stats().Attempts, db.Stats().Attempts)
}

// deadEndpoints starts three endpoints that never succeed: one refusing
// connections, one that never answers, one answering 500.
func deadEndpoints(tb testing.TB) []string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/hooks"
	l.Close()
	hang := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	tb.Cleanup(func() {
		close(hang)
		silent.Close()
		failing.Close()
	})
	return []string{refused, silent.URL, failing.URL}
}

// TestDeadEndpointsDoNotSlowWritesOrVerify measures admin writes and
// verifications on SQLite with a running dispatcher and three dead
// endpoints receiving every event, against the same with the endpoints
// disabled (no delivery work at all), in alternating rounds (the best of 3
// each, against the noise of a shared machine): writes stay within 2x,
// verifications too (BenchmarkVerifyWithDeadEndpoints gives the finer
// figure).
func TestDeadEndpointsDoNotSlowWritesOrVerify(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("-short or -race: a timing comparison; make test runs it again without -race")
	}
	ctx := context.Background()
	store := openSQLite(t, filepath.Join(t.TempDir(), "keyward.db"))
	d := dispatcher(t, store, &webhook.Options{Timeout: 2 * time.Second, PollInterval: 10 * time.Millisecond})
	svc := testkit.NewService(t, store, nil, &keyward.Options{OnEvents: d.Wake})
	d.Start()
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	var hooks []string
	for _, u := range deadEndpoints(t) {
		c, err := svc.CreateWebhook(ctx, keyward.WebhookParams{URL: u, Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, c.Webhook.ID)
	}
	enable := func(on bool) {
		for _, id := range hooks {
			if _, err := svc.UpdateWebhook(ctx, id, keyward.WebhookUpdate{Enabled: &on}); err != nil {
				t.Fatal(err)
			}
		}
	}
	round := func() (writes, verifies time.Duration) {
		start := time.Now()
		for i := range 200 {
			if _, err := svc.Update(ctx, iss.Key.ID, keyward.UpdateParams{Name: keyward.Ptr(fmt.Sprint("busy ", i))}); err != nil {
				t.Fatal(err)
			}
		}
		writes, start = time.Since(start), time.Now()
		for range 2000 {
			if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret}); err != nil || !r.Valid() {
				t.Fatalf("Verify = %s, %v", r.Outcome, err)
			}
		}
		return writes, time.Since(start)
	}
	const forever = time.Hour
	baseW, baseV, deadW, deadV := forever, forever, forever, forever
	for range 3 {
		enable(false)
		w, v := round()
		baseW, baseV = min(baseW, w), min(baseV, v)
		enable(true)
		w, v = round()
		deadW, deadV = min(deadW, w), min(deadV, v)
	}
	st := d.Stats()
	t.Logf("best of 3: 200 admin writes %v with the endpoints off, %v with 3 dead ones on; 2000 verifications %v, %v; dispatcher %+v",
		baseW, deadW, baseV, deadV, st)
	if st.Failed == 0 {
		t.Error("the dispatcher made no failed attempt: the dead endpoints were not exercised")
	}
	if deadW > 2*baseW {
		t.Errorf("admin writes with dead endpoints took %v, more than twice %v without", deadW, baseW)
	}
	if deadV > 2*baseV {
		t.Errorf("verifications with dead endpoints took %v, more than twice %v without", deadV, baseV)
	}
}

// BenchmarkVerifyWithDeadEndpoints compares Verify on SQLite with a
// running dispatcher and no endpoint, and with three dead endpoints while
// a writer produces events: compare the two with benchstat.
//
//	go test -run '^$' -bench VerifyWithDeadEndpoints -count 10 ./webhook/ | tee out.txt; benchstat -col /endpoints out.txt
func BenchmarkVerifyWithDeadEndpoints(b *testing.B) {
	for _, dead := range []bool{false, true} {
		name := "endpoints=none"
		if dead {
			name = "endpoints=dead"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			store := openSQLite(b, filepath.Join(b.TempDir(), "keyward.db"))
			d := dispatcher(b, store, &webhook.Options{Timeout: 2 * time.Second})
			svc := testkit.NewService(b, store, nil, &keyward.Options{OnEvents: d.Wake})
			d.Start()
			if dead {
				for _, u := range deadEndpoints(b) {
					if _, err := svc.CreateWebhook(ctx, keyward.WebhookParams{URL: u, Events: []string{"*"}}); err != nil {
						b.Fatal(err)
					}
				}
			}
			iss, err := svc.Create(ctx, keyward.CreateParams{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { // an admin write every 10ms: a steady stream of events
				t := time.NewTicker(10 * time.Millisecond)
				defer t.Stop()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-t.C:
					}
					svc.Update(ctx, iss.Key.ID, keyward.UpdateParams{Name: keyward.Ptr(fmt.Sprint(i))})
				}
			})
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret}); err != nil || !r.Valid() {
						b.Errorf("Verify = %s, %v", r.Outcome, err)
					}
				}
			})
			b.StopTimer()
			close(stop)
			wg.Wait()
		})
	}
}
