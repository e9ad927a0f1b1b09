// Package limitertest is the conformance suite of keyward's rate limiters:
// the clauses of the [keyward.Limiter] contract that every limiter (package
// ratelimit's Local, package ratelimit/redis) must pass. A limiter's tests
// call [Run].
package limitertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Factory returns two limiters that share their counters (two instances on
// one backend; a limiter without a shared backend returns itself twice),
// with no counter in use. Each clause calls it once.
type Factory func(t *testing.T) (a, b keyward.Limiter)

// T0 is the start of every clause's clock: a whole second, so that times
// stay whole microseconds (the Redis limiter's resolution).
var T0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Run runs every clause against limiters from newLimiters.
func Run(t *testing.T, newLimiters Factory) {
	t.Run("AllOrNothing", func(t *testing.T) {
		a, b := newLimiters(t)
		testAllOrNothing(t, a, b)
	})
	t.Run("ConcurrentSharedLimit", func(t *testing.T) {
		a, b := newLimiters(t)
		testConcurrentShared(t, a, b)
	})
	t.Run("WaitsWithinPeriodAndExact", func(t *testing.T) {
		a, b := newLimiters(t)
		testWaits(t, a, b)
	})
	t.Run("RetryAfterWithinPeriod", func(t *testing.T) {
		testRetryAfterWithinPeriod(t, newLimiters)
	})
}

// Allow1 decides one check alone, and fails the test if Allow's result and
// the check's decision disagree.
func Allow1(tb testing.TB, l keyward.Limiter, bucket string, lim keyward.RateLimit, cost int64, now time.Time) keyward.RateDecision {
	tb.Helper()
	return allowIn(tb, l, "g", bucket, lim, cost, now)
}

// allowIn is Allow1 in a group: a counter belongs to the group it is used
// in (the Redis limiter keeps a group's counters together).
func allowIn(tb testing.TB, l keyward.Limiter, group, bucket string, lim keyward.RateLimit, cost int64, now time.Time) keyward.RateDecision {
	tb.Helper()
	var out [1]keyward.RateDecision
	ok := l.Allow(context.Background(), group, []keyward.RateCheck{{Bucket: bucket, Limit: lim}}, cost, now, out[:])
	if ok != out[0].Allowed {
		tb.Errorf("one check: Allow returned %v, its decision says %v", ok, out[0].Allowed)
	}
	return out[0]
}

func per(n int64, p time.Duration) keyward.RateLimit {
	return keyward.RateLimit{Limit: n, Period: keyward.Duration(p)}
}

// threeChecks is a key's burst and daily limits and its owner's shared limit
// of owner per hour.
func threeChecks(key string, owner int64) []keyward.RateCheck {
	return []keyward.RateCheck{
		{Bucket: "k:" + key + ":burst", Limit: per(10, time.Second)},
		{Bucket: "k:" + key + ":daily", Limit: per(1000, 24*time.Hour)},
		{Bucket: "o:acme:hourly", Limit: per(owner, time.Hour)},
	}
}

func remaining(out []keyward.RateDecision) [3]int64 {
	return [3]int64{out[0].Remaining, out[1].Remaining, out[2].Remaining}
}

// testAllOrNothing: a call where one check refuses takes nothing from the
// others, whichever instance asks.
func testAllOrNothing(t *testing.T, a, b keyward.Limiter) {
	ctx := context.Background()
	var out [3]keyward.RateDecision
	// The owner's hourly limit of 5 is spent through key "one" on a.
	if !a.Allow(ctx, "acme", threeChecks("one", 5), 5, T0, out[:]) {
		t.Fatalf("first call refused: %+v", out)
	}
	// Key "two" on b: its own limits admit 2, the owner's refuses.
	if b.Allow(ctx, "acme", threeChecks("two", 5), 2, T0.Add(time.Millisecond), out[:]) {
		t.Fatalf("the owner's spent limit admitted: %+v", out)
	}
	if !out[0].Allowed || !out[1].Allowed || out[2].Allowed {
		t.Errorf("per-check Allowed: %v %v %v; want true true false", out[0].Allowed, out[1].Allowed, out[2].Allowed)
	}
	if got, want := remaining(out[:]), [3]int64{10, 1000, 0}; got != want {
		t.Errorf("remaining after the refusal: %v; want %v (nothing taken)", got, want)
	}
	if out[0].Reset != 0 || out[2].RetryAfter <= 0 || out[2].RetryAfter > time.Hour {
		t.Errorf("waits after the refusal: %+v %+v", out[0], out[2])
	}
	// Cost 0 on a reports the states: key "two" spent nothing.
	if !a.Allow(ctx, "acme", threeChecks("two", 100), 0, T0.Add(2*time.Millisecond), out[:]) {
		t.Fatal("cost 0 refused")
	}
	if got, want := remaining(out[:]), [3]int64{10, 1000, 95}; got != want {
		t.Errorf("cost 0: remaining %v; want %v", got, want)
	}
	// With room for the owner, key "two" spends in all three.
	if !b.Allow(ctx, "acme", threeChecks("two", 100), 2, T0.Add(3*time.Millisecond), out[:]) {
		t.Fatalf("refused with room everywhere: %+v", out)
	}
	if got, want := remaining(out[:]), [3]int64{8, 998, 93}; got != want {
		t.Errorf("after spending 2: remaining %v; want %v", got, want)
	}
	// Release on a gives the 2 back to all three.
	a.Release(ctx, "acme", threeChecks("two", 100), 2, T0.Add(4*time.Millisecond))
	b.Allow(ctx, "acme", threeChecks("two", 100), 0, T0.Add(5*time.Millisecond), out[:])
	if got, want := remaining(out[:]), [3]int64{10, 1000, 95}; got != want {
		t.Errorf("after Release: remaining %v; want %v", got, want)
	}
}

// testConcurrentShared: 200 concurrent calls over both instances and 4 keys
// of one owner with a shared 50 per minute; each call checks its key's own
// limit too, the two checks in varying order. Exactly 50 are admitted, and
// every key's own limit spent exactly what was admitted through it.
func testConcurrentShared(t *testing.T, a, b keyward.Limiter) {
	ctx := context.Background()
	owner := keyward.RateCheck{Bucket: "o:acme:minute", Limit: per(50, time.Minute)}
	var mu sync.Mutex
	admitted := map[string]int64{}
	var wg sync.WaitGroup
	for i := range 200 {
		l, key := a, fmt.Sprintf("k:%d:default", i%4)
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			checks := []keyward.RateCheck{{Bucket: key, Limit: per(1000, time.Minute)}, owner}
			if i%3 == 0 {
				checks[0], checks[1] = checks[1], checks[0]
			}
			var out [2]keyward.RateDecision
			if l.Allow(ctx, "acme", checks, 1, T0.Add(time.Duration(i)*time.Millisecond), out[:]) {
				mu.Lock()
				admitted[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := int64(0)
	for key, n := range admitted {
		total += n
		if d := allowIn(t, a, "acme", key, per(1000, time.Minute), 0, T0.Add(time.Second)); d.Remaining != 1000-n {
			t.Errorf("%s: %d remaining, want %d (it admitted %d)", key, d.Remaining, 1000-n, n)
		}
	}
	if total != 50 {
		t.Errorf("200 calls over two instances admitted %d, want exactly 50", total)
	}
	if d := allowIn(t, b, "acme", owner.Bucket, owner.Limit, 1, T0.Add(time.Second)); d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
		t.Errorf("after the burst: %+v; want denied within a minute", d)
	}
}

// testWaits drives random traffic with random costs over both instances and
// checks every decision's waits: never more than the period, and exact: a
// denied request asked again 1µs before RetryAfter is denied, at RetryAfter
// it is admitted; a unit returns at Reset, not 1µs before.
func testWaits(t *testing.T, a, b keyward.Limiter) {
	const µs = time.Microsecond
	for _, lim := range []keyward.RateLimit{per(1, time.Second), per(5, time.Minute), per(20, 7*time.Second)} {
		period := time.Duration(lim.Period)
		bucket := fmt.Sprintf("k:waits:%d", lim.Limit)
		r := rand.New(rand.NewPCG(uint64(lim.Limit), 9))
		now := T0.Add(time.Duration(r.Int64N(int64(period/µs))) * µs)
		check := func(what string, d keyward.RateDecision) {
			t.Helper()
			if d.Reset < 0 || d.Reset > period || d.RetryAfter < 0 || d.RetryAfter > period {
				t.Fatalf("%d per %v, %s at %v: Reset %v RetryAfter %v; want within [0, %v]", lim.Limit, period, what, now.Sub(T0), d.Reset, d.RetryAfter, period)
			}
		}
		denials := 0
		for i := range 600 {
			l := a
			if i%2 == 1 {
				l = b
			}
			now = now.Add(time.Duration(r.Int64N(int64(period/8/µs))) * µs)
			cost := 1 + r.Int64N(min(lim.Limit, 3))
			d := Allow1(t, l, bucket, lim, cost, now)
			check("a request", d)
			if d.Allowed {
				continue
			}
			denials++
			if d.RetryAfter <= 0 {
				t.Fatalf("denied at %v with RetryAfter %v", now.Sub(T0), d.RetryAfter)
			}
			if r.IntN(2) == 0 {
				before := Allow1(t, l, bucket, lim, 0, now.Add(d.Reset-µs))
				at := Allow1(t, l, bucket, lim, 0, now.Add(d.Reset))
				check("a peek", before)
				if at.Remaining <= before.Remaining {
					t.Fatalf("at %v: Reset %v, but Remaining is %d 1µs before and %d at it", now.Sub(T0), d.Reset, before.Remaining, at.Remaining)
				}
			}
			if before := Allow1(t, l, bucket, lim, cost, now.Add(d.RetryAfter-µs)); before.Allowed {
				t.Fatalf("at %v: RetryAfter %v, but cost %d is admitted 1µs before", now.Sub(T0), d.RetryAfter, cost)
			}
			now = now.Add(d.RetryAfter)
			if at := Allow1(t, l, bucket, lim, cost, now); !at.Allowed {
				t.Fatalf("RetryAfter %v, but cost %d is denied then: %+v", d.RetryAfter, cost, at)
			}
		}
		if denials < 30 {
			t.Errorf("%d per %v: only %d denials to check", lim.Limit, period, denials)
		}
	}
}

// testRetryAfterWithinPeriod is the example users reported: the Retry-After header
// (the wait rounded up to seconds) never exceeds the period: 1 for 1 per
// second, 60 for 5 per minute.
func testRetryAfterWithinPeriod(t *testing.T, newLimiters Factory) {
	for _, tc := range []struct {
		limit  int64
		period time.Duration
		header int64 // most seconds Retry-After may say
	}{{1, time.Second, 1}, {5, time.Minute, 60}} {
		lim := per(tc.limit, tc.period)
		// Spend the budget at the start, the middle and the end of a bucket,
		// and ask again right away and a little later.
		for _, at := range []time.Duration{0, tc.period / 20, tc.period/10 - time.Microsecond} {
			for _, wait := range []time.Duration{0, time.Microsecond, tc.period / 3} {
				l, _ := newLimiters(t)
				bucket := fmt.Sprintf("k:%d:%v:%v", tc.limit, at, wait)
				Allow1(t, l, bucket, lim, tc.limit, T0.Add(at))
				d := Allow1(t, l, bucket, lim, 1, T0.Add(at+wait))
				header := int64((d.RetryAfter + time.Second - 1) / time.Second)
				if d.Allowed || d.RetryAfter > tc.period || d.Reset > tc.period || header > tc.header {
					t.Errorf("%d per %v, spent at %v, asked %v later: %+v (Retry-After %d); want denied within %v", tc.limit, tc.period, at, wait, d, header, tc.period)
				}
			}
		}
	}
}
