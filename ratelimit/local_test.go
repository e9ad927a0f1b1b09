package ratelimit_test

import (
	"context"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/ratelimit"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func perMinute(n int64) keyward.RateLimit {
	return keyward.RateLimit{Limit: n, Period: keyward.Duration(time.Minute)}
}

func TestLocalBurstThenDeny(t *testing.T) {
	l := ratelimit.NewLocal()
	ctx := context.Background()
	lim := perMinute(5)
	for i := range 5 {
		d := l.Allow(ctx, "k", lim, 1, t0.Add(time.Duration(i)*time.Second))
		if !d.Allowed || d.Remaining != int64(4-i) || d.Limit != 5 {
			t.Fatalf("request %d: %+v; want allowed with %d remaining", i, d, 4-i)
		}
	}
	d := l.Allow(ctx, "k", lim, 1, t0.Add(5*time.Second))
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("6th request: %+v; want denied, 0 remaining", d)
	}
	// The first unit (bucket [0s,6s)) leaves the window at 66s.
	if want := 61 * time.Second; d.RetryAfter != want || d.Reset != want {
		t.Errorf("RetryAfter %v Reset %v; want %v", d.RetryAfter, d.Reset, want)
	}
	if d := l.Allow(ctx, "k", lim, 1, t0.Add(66*time.Second)); !d.Allowed {
		t.Errorf("after RetryAfter: %+v; want allowed", d)
	}
	if d := l.Allow(ctx, "other", lim, 1, t0.Add(5*time.Second)); !d.Allowed || d.Remaining != 4 {
		t.Errorf("another key shares the budget: %+v", d)
	}
}

func TestLocalCostAndPeek(t *testing.T) {
	l := ratelimit.NewLocal()
	ctx := context.Background()
	lim := perMinute(10)
	if d := l.Allow(ctx, "k", lim, 7, t0); !d.Allowed || d.Remaining != 3 {
		t.Fatalf("cost 7: %+v", d)
	}
	if d := l.Allow(ctx, "k", lim, 4, t0); d.Allowed || d.Remaining != 3 {
		t.Fatalf("cost 4 with 3 left: %+v; want denied", d)
	}
	if d := l.Allow(ctx, "k", lim, 0, t0); !d.Allowed || d.Remaining != 3 {
		t.Fatalf("cost 0 (peek): %+v; want allowed without spending", d)
	}
	if d := l.Allow(ctx, "k", lim, 11, t0); d.Allowed || d.RetryAfter != time.Minute {
		t.Fatalf("cost over the limit: %+v; want denied, retry after a period", d)
	}
	l.Release(ctx, "k", lim, 7, t0)
	if d := l.Allow(ctx, "k", lim, 10, t0); !d.Allowed || d.Remaining != 0 {
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
	}{{1, time.Second}, {5, time.Second}, {100, time.Minute}, {7, 90 * time.Second}} {
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
			if l.Allow(context.Background(), "k", lim, 1, now).Allowed {
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
	ctx := context.Background()
	lim := keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Second)}
	for i := range 5000 {
		l.Allow(ctx, string(rune('a'+i%26))+time.Duration(i).String(), lim, 1, t0)
	}
	if n := l.Len(); n != 5000 {
		t.Fatalf("tracking %d keys, want 5000", n)
	}
	// Two periods later every window is empty; each shard sweeps after enough
	// decisions.
	later := t0.Add(3 * time.Second)
	for i := range 200000 {
		l.Allow(ctx, "busy"+time.Duration(i%3).String(), lim, 1, later)
	}
	if n := l.Len(); n > 3 {
		t.Errorf("still tracking %d keys after they went idle, want at most 3", n)
	}
}

func TestLocalPeriodChangeStartsOver(t *testing.T) {
	l := ratelimit.NewLocal()
	ctx := context.Background()
	l.Allow(ctx, "k", perMinute(1), 1, t0)
	if d := l.Allow(ctx, "k", perMinute(1), 1, t0); d.Allowed {
		t.Fatal("second unit admitted")
	}
	hourly := keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Hour)}
	if d := l.Allow(ctx, "k", hourly, 1, t0); !d.Allowed {
		t.Error("a new period should start a new window")
	}
}

func BenchmarkLocalAllow(b *testing.B) {
	l := ratelimit.NewLocal()
	lim := keyward.RateLimit{Limit: 1 << 40, Period: keyward.Duration(time.Minute)}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := t0
		for pb.Next() {
			now = now.Add(time.Microsecond)
			l.Allow(ctx, "bench-key", lim, 1, now)
		}
	})
}
