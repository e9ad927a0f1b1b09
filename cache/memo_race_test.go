package cache_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/internal/testkit"
)

// TestRoleWriteSeenAtOnceUnderConcurrentVerifications: while four
// goroutines verify a key, its role is rewritten 50 times, write i granting
// only scope s<i>. A verification that begins after write i returned, with
// no later write begun by the time it ends, must see s<i>: the keys' memos of
// owner records and roles never answer from before a write that completed.
func TestRoleWriteSeenAtOnceUnderConcurrentVerifications(t *testing.T) {
	back := &recordBackend{backend: newBackend()}
	e := newRecordEnv(t, back, testkit.NewClock(t0), cache.NewLocalBus())
	ctx := context.Background()
	put := func(i int64) {
		t.Helper()
		if _, _, err := e.svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"s" + strconv.FormatInt(i, 10)}}); err != nil {
			t.Fatal(err)
		}
	}
	put(0)
	iss, err := e.svc.Create(ctx, keyward.CreateParams{Name: "k", Owner: "acme", Roles: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	var begun, done atomic.Int64 // writes begun and completed
	var checked atomic.Int64
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := done.Load()
				scope := "s" + strconv.FormatInt(i, 10)
				r, err := e.svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{scope}})
				if err != nil {
					errs <- err
					return
				}
				if !r.Valid() && begun.Load() == i {
					errs <- fmt.Errorf("write %d had returned and none had begun since, but a verification for %s answered %v", i, scope, r.Outcome)
					return
				}
				checked.Add(1)
			}
		})
	}
	for i := int64(1); i <= 50; i++ {
		begun.Store(i)
		put(i)
		done.Store(i)
		for n := checked.Load(); checked.Load() < n+8; { // let the verifiers see this write
			select {
			case err := <-errs:
				close(stop)
				wg.Wait()
				t.Fatal(err)
			default:
			}
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}
