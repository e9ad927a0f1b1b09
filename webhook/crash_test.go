package webhook_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/internal/testpg"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/webhook"
)

// createdKeys returns the ids of the keys of the key.created deliveries r
// got.
func createdKeys(r *receiver) map[string]bool {
	out := map[string]bool{}
	for _, d := range r.deliveries() {
		if d.event.Type != keyward.EventKeyCreated {
			continue
		}
		var data struct {
			Key struct {
				ID string `json:"id"`
			} `json:"key"`
		}
		if err := json.Unmarshal(d.event.Data, &data); err == nil {
			out[data.Key.ID] = true
		}
	}
	return out
}

// TestEventsOutliveACrash writes events, lets a dispatcher claim some of
// them, and "crashes": the store is closed with nothing recorded, nothing
// fanned out after the claim, no goroutine left. A new dispatcher on the
// same database, once the dead one's leases have run out, delivers every
// event. On SQLite and, when configured, PostgreSQL.
func TestEventsOutliveACrash(t *testing.T) {
	stores := map[string]func(t *testing.T) (first, second func() keyward.Store){
		"sqlite": func(t *testing.T) (func() keyward.Store, func() keyward.Store) {
			path := filepath.Join(t.TempDir(), "keyward.db")
			return func() keyward.Store { return openSQLite(t, path) }, func() keyward.Store { return openSQLite(t, path) }
		},
		"postgres": func(t *testing.T) (func() keyward.Store, func() keyward.Store) {
			u := testpg.FreshDatabase(t, testpg.URL(t))
			open := func(migrate bool) keyward.Store {
				s, err := postgres.Open(context.Background(), u, &postgres.Options{Migrate: migrate})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			return func() keyward.Store { return open(true) }, func() keyward.Store { return open(false) }
		},
	}
	for name, setup := range stores {
		t.Run(name, func(t *testing.T) {
			first, second := setup(t)
			ctx := context.Background()
			clock := testkit.NewClock(testkit.Base)
			s := first()
			svc, err := keyward.New(s, testkit.HMAC(t), &keyward.Options{Now: clock.Now, UsageFlushInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close(ctx) })
			r := newReceiver(t, clock.Now, nil)
			c, err := svc.CreateWebhook(ctx, keyward.WebhookParams{URL: r.srv.URL, Events: []string{"*"}})
			if err != nil {
				t.Fatal(err)
			}
			r.setSecret(c.Secret)
			want := map[string]bool{}
			create := func() {
				iss, err := svc.Create(ctx, keyward.CreateParams{Name: "before the crash"})
				if err != nil {
					t.Fatal(err)
				}
				want[iss.Key.ID] = true
			}
			for range 5 {
				create()
			}
			// The dying dispatcher fanned out and claimed these five...
			if _, err := s.FanOut(ctx, clock.Now(), 100); err != nil {
				t.Fatal(err)
			}
			if ds, err := s.ClaimDeliveries(ctx, keyward.DeliveryClaim{Now: clock.Now(), Until: clock.Now().Add(5 * time.Minute), Token: "dead", PerWebhook: 100, Limit: 100}); err != nil || len(ds) != 5 {
				t.Fatalf("claim before the crash: %d, %v", len(ds), err)
			}
			for range 5 { // ...and never saw these.
				create()
			}
			s.Close() // the crash: nothing recorded, nothing flushed

			d := dispatcher(t, second(), &webhook.Options{Now: clock.Now})
			if n, err := d.RunOnce(ctx); err != nil || n != 5 {
				t.Fatalf("new dispatcher, leases still held: %d attempts, %v; want the 5 never claimed", n, err)
			}
			clock.Add(5 * time.Minute)
			if n, err := d.RunOnce(ctx); err != nil || n != 5 {
				t.Fatalf("new dispatcher, leases over: %d attempts, %v; want the 5 the dead one held", n, err)
			}
			if got := createdKeys(r); len(got) != len(want) {
				t.Errorf("receiver got key.created for %d keys, want all %d written before the crash", len(got), len(want))
			}
		})
	}
}

const crashChildEnv = "KEYWARD_WEBHOOK_CRASH_CHILD_DB"

// TestCrashChild is the child process of TestSIGKILLBeforeDelivery: a
// Service and a running Dispatcher on the database; it creates keys in a
// loop and prints each id once its Create has returned.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("helper process for TestSIGKILLBeforeDelivery; runs only as its child")
	}
	s := openSQLite(t, path)
	d := webhook.New(s, nil)
	svc := testkit.NewService(t, s, nil, &keyward.Options{OnEvents: d.Wake})
	d.Start()
	out := bufio.NewWriter(os.Stdout)
	for {
		iss, err := svc.Create(context.Background(), keyward.CreateParams{Name: "crash"})
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("KEY " + iss.Key.ID + "\n")
		out.Flush()
	}
}

// TestSIGKILLBeforeDelivery kills, with SIGKILL at a random moment, a
// process that writes keys while its dispatcher delivers their events, then
// runs a new dispatcher on the database (after the dead one's leases): the
// receiver gets key.created for every key whose Create returned.
func TestSIGKILLBeforeDelivery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	s := openSQLite(t, path)
	svc := testkit.NewService(t, s, nil, nil)
	r := newReceiver(t, time.Now, nil)
	c, err := svc.CreateWebhook(context.Background(), keyward.WebhookParams{URL: r.srv.URL, Events: []string{keyward.EventKeyCreated}})
	if err != nil {
		t.Fatal(err)
	}
	r.setSecret(c.Secret)

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAfter := 50 + rand.IntN(200)
	var returned []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "KEY "); ok {
			returned = append(returned, id)
		}
		if len(returned) == killAfter {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	for sc.Scan() { // lines already in the pipe: their creates returned
		if id, ok := strings.CutPrefix(sc.Text(), "KEY "); ok {
			returned = append(returned, id)
		}
	}
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child did not die of SIGKILL: %v", cmd.ProcessState)
	}
	before := len(createdKeys(r))

	later := func() time.Time { return time.Now().Add(6 * time.Minute) } // past the dead one's leases
	d := dispatcher(t, s, &webhook.Options{Now: later})
	r.mu.Lock()
	r.now = later
	r.mu.Unlock()
	if _, err := d.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := createdKeys(r)
	missing := 0
	for _, id := range returned {
		if !got[id] {
			missing++
		}
	}
	t.Logf("killed after %d creates; the child's dispatcher had delivered %d, the new one the rest", len(returned), before)
	if missing > 0 {
		t.Errorf("%d of the %d keys created before SIGKILL never reached the receiver", missing, len(returned))
	}
}
