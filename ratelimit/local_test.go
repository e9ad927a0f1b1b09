package ratelimit_test

import (
	"context"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/ratelimit/limitertest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func perMinute(n int64) keyward.RateLimit {
	return keyward.RateLimit{Limit: n, Period: keyward.Duration(time.Minute)}
}

// allow1 decides one check alone.
func allow1(l keyward.Limiter, bucket string, lim keyward.RateLimit, cost int64, now time.Time) keyward.RateDecision {
	var out [1]keyward.RateDecision
	l.Allow(context.Background(), "g", []keyward.RateCheck{{Bucket: bucket, Limit: lim}}, cost, now, out[:])
	return out[0]
}

func release1(l keyward.Limiter, bucket string, lim keyward.RateLimit, cost int64, now time.Time) {
	l.Release(context.Background(), "g", []keyward.RateCheck{{Bucket: bucket, Limit: lim}}, cost, now)
}

func TestLocalBurstThenDeny(t *testing.T) {
	l := ratelimit.NewLocal()
	lim := perMinute(5)
	for i := range 5 {
		d := allow1(l, "k", lim, 1, t0.Add(time.Duration(i)*time.Second))
		if !d.Allowed || d.Remaining != int64(4-i) || d.Limit != 5 {
			t.Fatalf("request %d: %+v; want allowed with %d remaining", i, d, 4-i)
		}
	}
	d := allow1(l, "k", lim, 1, t0.Add(5*time.Second))
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("6th request: %+v; want denied, 0 remaining", d)
	}
	// The five units share the bucket [0s,6s), whose last unit came at 4s:
	// they return at 64s.
	if want := 59 * time.Second; d.RetryAfter != want || d.Reset != want {
		t.Errorf("RetryAfter %v Reset %v; want %v", d.RetryAfter, d.Reset, want)
	}
	if d := allow1(l, "k", lim, 1, t0.Add(64*time.Second-time.Nanosecond)); d.Allowed {
		t.Errorf("just before RetryAfter: %+v; want denied", d)
	}
	if d := allow1(l, "k", lim, 1, t0.Add(64*time.Second)); !d.Allowed {
		t.Errorf("after RetryAfter: %+v; want allowed", d)
	}
	if d := allow1(l, "other", lim, 1, t0.Add(5*time.Second)); !d.Allowed || d.Remaining != 4 {
		t.Errorf("another key shares the budget: %+v", d)
	}
}

func TestLocalCostAndPeek(t *testing.T) {
	l := ratelimit.NewLocal()
	lim := perMinute(10)
	if d := allow1(l, "k", lim, 7, t0); !d.Allowed || d.Remaining != 3 {
		t.Fatalf("cost 7: %+v", d)
	}
	if d := allow1(l, "k", lim, 4, t0); d.Allowed || d.Remaining != 3 {
		t.Fatalf("cost 4 with 3 left: %+v; want denied", d)
	}
	if d := allow1(l, "k", lim, 0, t0); !d.Allowed || d.Remaining != 3 {
		t.Fatalf("cost 0 (peek): %+v; want allowed without spending", d)
	}
	if d := allow1(l, "k", lim, 11, t0); d.Allowed || d.RetryAfter != time.Minute {
		t.Fatalf("cost over the limit: %+v; want denied, retry after a period", d)
	}
	release1(l, "k", lim, 7, t0)
	if d := allow1(l, "k", lim, 10, t0); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after Release: %+v; want the 10 units back", d)
	}
}

// TestLocalNeverMoreThanLimitInAnyWindow throws random traffic at a limiter
// with a controlled clock and checks the contract on every window: at most L
// units admitted in any interval of length P.
func TestLocalNeverMoreThanLimitInAnyWindow(t *testing.T) {
	for _, tc := range []struct {
		limit  int64
		period time.Duration
	}{{1, time.Second}, {5, time.Second}, {100, time.Minute}, {7, 90 * time.Second}, {3, time.Second + 7}} {
		r := rand.New(rand.NewPCG(uint64(tc.limit), uint64(tc.period)))
		l := ratelimit.NewLocal()
		lim := keyward.RateLimit{Limit: tc.limit, Period: keyward.Duration(tc.period)}
		var admitted []time.Time
		now := t0
		for range 20000 {
			// Bursts and gaps: mostly short steps, sometimes long pauses.
			step := time.Duration(r.Int64N(int64(tc.period) / 50))
			if r.IntN(100) == 0 {
				step = time.Duration(r.Int64N(int64(tc.period) * 2))
			}
			now = now.Add(step)
			if allow1(l, "k", lim, 1, now).Allowed {
				admitted = append(admitted, now)
			}
		}
		sort.Slice(admitted, func(i, j int) bool { return admitted[i].Before(admitted[j]) })
		j := 0
		for i := range admitted {
			// Units admitted in [admitted[i], admitted[i]+P).
			for j < len(admitted) && admitted[j].Before(admitted[i].Add(tc.period)) {
				j++
			}
			if n := int64(j - i); n > tc.limit {
				t.Fatalf("limit %d per %v: %d admitted in the window starting %v", tc.limit, tc.period, n, admitted[i].Sub(t0))
			}
		}
		// The limiter must not be uselessly strict either: over the run it
		// admits at least L per (P + P/10) on average when saturated.
		if len(admitted) < 100 {
			t.Errorf("limit %d per %v: only %d admitted", tc.limit, tc.period, len(admitted))
		}
	}
}

func TestLocalForgetsIdleKeys(t *testing.T) {
	l := ratelimit.NewLocal()
	lim := keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Second)}
	for i := range 5000 {
		allow1(l, string(rune('a'+i%26))+time.Duration(i).String(), lim, 1, t0)
	}
	if n := l.Len(); n != 5000 {
		t.Fatalf("tracking %d keys, want 5000", n)
	}
	// Two periods later every window is empty; each shard sweeps after enough
	// decisions.
	later := t0.Add(3 * time.Second)
	for i := range 200000 {
		allow1(l, "busy"+time.Duration(i%3).String(), lim, 1, later)
	}
	if n := l.Len(); n > 3 {
		t.Errorf("still tracking %d keys after they went idle, want at most 3", n)
	}
}

func TestLocalPeriodChangeStartsOver(t *testing.T) {
	l := ratelimit.NewLocal()
	allow1(l, "k", perMinute(1), 1, t0)
	if d := allow1(l, "k", perMinute(1), 1, t0); d.Allowed {
		t.Fatal("second unit admitted")
	}
	hourly := keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Hour)}
	if d := allow1(l, "k", hourly, 1, t0); !d.Allowed {
		t.Error("a new period should start a new window")
	}
}

func TestLocalConformance(t *testing.T) {
	limitertest.Run(t, func(*testing.T) (a, b keyward.Limiter) {
		l := ratelimit.NewLocal()
		return l, l
	})
}

// fourChecks is a verification's typical load: two key limits and two owner
// limits, far from spent.
func fourChecks() []keyward.RateCheck {
	big := func(p time.Duration) keyward.RateLimit {
		return keyward.RateLimit{Limit: 1 << 40, Period: keyward.Duration(p)}
	}
	return []keyward.RateCheck{
		{Bucket: "k:bench-key:burst", Limit: big(time.Second)},
		{Bucket: "k:bench-key:daily", Limit: big(24 * time.Hour)},
		{Bucket: "o:bench-owner:minute", Limit: big(time.Minute)},
		{Bucket: "o:bench-owner:daily", Limit: big(24 * time.Hour)},
	}
}

func TestLocalAllowAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes allocations of its own: make test runs this test again without -race")
	}
	l := ratelimit.NewLocal()
	ctx := context.Background()
	checks := fourChecks()
	var out [4]keyward.RateDecision
	now := t0
	l.Allow(ctx, "bench-owner", checks, 1, now, out[:]) // creates the windows
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		l.Allow(ctx, "bench-owner", checks, 1, now, out[:])
		l.Release(ctx, "bench-owner", checks, 1, now)
	})
	if allocs != 0 {
		t.Errorf("Allow and Release of 4 checks allocate %v times, want 0", allocs)
	}
}

func BenchmarkLocalAllow(b *testing.B) {
	l := ratelimit.NewLocal()
	lim := keyward.RateLimit{Limit: 1 << 40, Period: keyward.Duration(time.Minute)}
	checks := []keyward.RateCheck{{Bucket: "bench-key", Limit: lim}}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := t0
		var out [1]keyward.RateDecision
		for pb.Next() {
			now = now.Add(time.Microsecond)
			l.Allow(ctx, "bench-key", checks, 1, now, out[:])
		}
	})
}

// BenchmarkLocalAllow4 decides a key's two limits and its owner's two
// together, as a verification of such a key does.
func BenchmarkLocalAllow4(b *testing.B) {
	l := ratelimit.NewLocal()
	checks := fourChecks()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := t0
		var out [4]keyward.RateDecision
		for pb.Next() {
			now = now.Add(time.Microsecond)
			l.Allow(ctx, "bench-owner", checks, 1, now, out[:])
		}
	})
}
