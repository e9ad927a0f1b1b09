package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

// service returns a Service on s with a fixed clock and a fast hasher.
func service(tb testing.TB, s keyward.Store, now time.Time) *keyward.Service {
	tb.Helper()
	return serviceClock(tb, s, func() time.Time { return now })
}

// serviceClock is service on the clock now.
func serviceClock(tb testing.TB, s keyward.Store, now func() time.Time) *keyward.Service {
	tb.Helper()
	p, err := keyhash.NewPepper([]byte("storetest pepper of thirty-two bytes or more"))
	if err != nil {
		tb.Fatal(err)
	}
	h, err := keyhash.NewHMAC(p)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := keyward.New(s, h, &keyward.Options{Now: now, UsageFlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}

func testServiceQuota(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	svc := service(t, s, base)
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "quota", Remaining: keyward.Ptr[int64](50)})
	if err != nil {
		t.Fatal(err)
	}
	var counts [2]atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
			switch {
			case err != nil:
				t.Error(err)
			case r.Outcome == keyward.OutcomeValid:
				counts[0].Add(1)
			case r.Outcome == keyward.OutcomeUsageExceeded:
				counts[1].Add(1)
			default:
				t.Errorf("outcome %v", r.Outcome)
			}
		})
	}
	wg.Wait()
	if counts[0].Load() != 50 || counts[1].Load() != 50 {
		t.Errorf("VALID %d, USAGE_EXCEEDED %d; want 50 and 50", counts[0].Load(), counts[1].Load())
	}
}

func testServiceConcurrentRotate(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	svc := service(t, s, base)
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "rotate me"})
	if err != nil {
		t.Fatal(err)
	}
	var ok, conflict atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := svc.Rotate(ctx, iss.Key.ID, keyward.RotateParams{})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, keyward.ErrConflict):
				conflict.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != 9 {
		t.Errorf("10 concurrent rotations: %d succeeded, %d conflicted; want 1 and 9", ok.Load(), conflict.Load())
	}
	page, err := svc.List(ctx, keyward.ListParams{})
	if err != nil || len(page.Items) != 2 {
		t.Errorf("after concurrent rotations there are %d keys, want 2 (%v)", len(page.Items), err)
	}
}

func testServiceRotateRevoke(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	svc := service(t, s, base)
	for range 20 {
		iss, err := svc.Create(ctx, keyward.CreateParams{Name: "race"})
		if err != nil {
			t.Fatal(err)
		}
		var rot keyward.Issued
		var rotErr, revErr error
		var wg sync.WaitGroup
		wg.Go(func() { rot, rotErr = svc.Rotate(ctx, iss.Key.ID, keyward.RotateParams{}) })
		wg.Go(func() { _, revErr = svc.Revoke(ctx, iss.Key.ID) })
		wg.Wait()
		if revErr != nil {
			t.Fatalf("revoke: %v", revErr)
		}
		old, err := svc.Get(ctx, iss.Key.ID)
		if err != nil || old.RevokedAt == nil {
			t.Fatalf("old key not revoked: %+v %v", old, err)
		}
		switch {
		case rotErr == nil:
			// Rotation won the race: the successor exists, is linked and is live.
			if old.ReplacedBy == nil || *old.ReplacedBy != rot.Key.ID {
				t.Errorf("old key's replaced_by = %v, want %s", old.ReplacedBy, rot.Key.ID)
			}
			r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: rot.Secret})
			if err != nil || !r.Valid() {
				t.Errorf("successor verifies as %v, %v", r.Outcome, err)
			}
		case errors.Is(rotErr, keyward.ErrConflict):
			if old.ReplacedBy != nil {
				t.Errorf("rotation failed but replaced_by = %s", *old.ReplacedBy)
			}
		default:
			t.Fatalf("rotate: %v", rotErr)
		}
	}
}

// testServiceLifecycle drives the Service through create, verify, update,
// rotate, revoke and delete on the store.
func testServiceLifecycle(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	svc := service(t, s, base)
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "life", Owner: "o", Scopes: []string{"read"}, Metadata: json.RawMessage(`{"a": 1}`)})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(secret string, scopes ...string) keyward.Outcome {
		t.Helper()
		r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: secret, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return r.Outcome
	}
	if o := verify(iss.Secret, "read"); o != keyward.OutcomeValid {
		t.Fatalf("fresh key: %v", o)
	}
	if o := verify(iss.Secret, "write"); o != keyward.OutcomeInsufficientScope {
		t.Errorf("missing scope: %v", o)
	}
	if _, err := svc.Update(ctx, iss.Key.ID, keyward.UpdateParams{Enabled: keyward.Ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if o := verify(iss.Secret); o != keyward.OutcomeDisabled {
		t.Errorf("disabled key: %v", o)
	}
	if _, err := svc.Update(ctx, iss.Key.ID, keyward.UpdateParams{Enabled: keyward.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	rot, err := svc.Rotate(ctx, iss.Key.ID, keyward.RotateParams{GracePeriod: keyward.Ptr(keyward.Duration(0))})
	if err != nil {
		t.Fatal(err)
	}
	if o := verify(iss.Secret); o != keyward.OutcomeExpired {
		t.Errorf("old key after a rotation without grace: %v", o)
	}
	if o := verify(rot.Secret, "read"); o != keyward.OutcomeValid {
		t.Errorf("successor: %v", o)
	}
	if _, err := svc.Revoke(ctx, rot.Key.ID); err != nil {
		t.Fatal(err)
	}
	if o := verify(rot.Secret); o != keyward.OutcomeRevoked {
		t.Errorf("revoked successor: %v", o)
	}
	if err := svc.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, rot.Key.ID); err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Usage(ctx, keyward.UsageParams{KeyID: rot.Key.ID, Bucket: keyward.BucketMinute})
	if err != nil {
		t.Fatalf("usage of a deleted key: %v", err)
	}
	if rep.Totals["VALID"] != 1 || rep.Totals["REVOKED"] != 1 {
		t.Errorf("usage totals of the deleted key = %v, want VALID 1 and REVOKED 1", rep.Totals)
	}
	if _, err := svc.Usage(ctx, keyward.UsageParams{KeyID: newID(t)}); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("usage of an id that never existed: err = %v, want ErrNotFound", err)
	}
}
