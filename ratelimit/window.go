// Package ratelimit enforces the per-key rate limits of keyward keys: a
// [Local] limiter in process memory, and (in package ratelimit/redis) one
// shared by every instance through Redis. Both implement [keyward.Limiter]
// with the same algorithm.
//
// # Algorithm
//
// A limit of L units per period P must admit at most L units in any window
// of length P, while still allowing a burst of L. Token buckets and GCRA
// allow a burst of L and then refill gradually, so a sliding window of length
// P can see up to 2L-1 admissions. keyward instead splits time into buckets of
// P/10 (aligned to the Unix epoch) and counts the units admitted in each. A
// request at time t is admitted if the units in the current bucket and the 10
// before it (which together cover every instant in (t-P, t]) plus its cost
// stay within L. Counting the oldest, partly covered bucket in full makes the
// guarantee exact at the price of a unit returning up to P/10 late. Memory is
// 11 counters per active key.
//
// Remaining is L minus the units counted; Reset is the time until the oldest
// counted bucket leaves the window (a unit returns); RetryAfter is the time
// until enough units have returned for the request's cost.
package ratelimit

import (
	"time"

	"github.com/keyward/keyward"
)

// Buckets is the number of buckets a period is split into.
const Buckets = 10

// bucketWidth is the width of one bucket for a period, at least 1ns.
func bucketWidth(period time.Duration) int64 {
	return max(int64(period)/Buckets, 1)
}

// BucketIndex returns the index of the bucket holding now for a period.
func BucketIndex(period time.Duration, now time.Time) int64 {
	return now.UnixNano() / bucketWidth(period)
}

// Counts is the units admitted per bucket, for the buckets idx-Buckets..idx
// of a decision at bucket idx (older buckets no longer count).
type Counts struct {
	// Index is the bucket of the decision.
	Index int64
	// N[i] holds bucket Index-Buckets+i.
	N [Buckets + 1]int64
}

// Sum returns the units counted in the window.
func (c *Counts) Sum() int64 {
	var s int64
	for _, n := range c.N {
		s += n
	}
	return s
}

// Decide computes the decision for cost units at now under limit, given the
// counts before the request; if allowed, the caller adds cost to the current
// bucket. It is the one place where the algorithm lives: the local and the
// Redis limiter both call it.
func Decide(c *Counts, limit keyward.RateLimit, cost int64, now time.Time) keyward.RateDecision {
	w := bucketWidth(time.Duration(limit.Period))
	used := c.Sum()
	d := keyward.RateDecision{
		Limit:  limit.Limit,
		Period: time.Duration(limit.Period),
	}
	d.Allowed = used+cost <= limit.Limit
	if d.Allowed {
		used += cost
	}
	d.Remaining = max(limit.Limit-used, 0)
	// Time until bucket Index-Buckets+i leaves the window.
	until := func(i int) time.Duration {
		leaves := (c.Index - Buckets + int64(i) + Buckets + 1) * w
		return time.Duration(leaves - now.UnixNano())
	}
	counts := c.N
	if d.Allowed {
		counts[Buckets] += cost
	}
	for i, n := range counts {
		if n > 0 {
			d.Reset = until(i)
			break
		}
	}
	if !d.Allowed {
		if cost > limit.Limit {
			d.RetryAfter = d.Period // can never pass; say "not within this window"
		} else {
			left := used
			for i, n := range counts {
				left -= n
				if left+cost <= limit.Limit {
					d.RetryAfter = until(i)
					break
				}
			}
		}
	}
	return d
}
