// Package ratelimit enforces the rate limits of keyward keys and owners: a
// [Local] limiter in process memory, and (in package ratelimit/redis) one
// shared by every instance through Redis. Both implement [keyward.Limiter]
// with the same algorithm, and both decide the several limits of one
// verification together: either every limit admits the cost and each spends
// it, or none spends anything.
//
// # Algorithm
//
// A limit of L units per period P must admit at most L units in any window
// of length P, while still allowing a burst of L. Token buckets and GCRA
// allow a burst of L and then refill gradually, so a sliding window of length
// P can see up to 2L-1 admissions. keyward instead splits time into buckets
// of P/10 (rounded up to the nanosecond, aligned to the Unix epoch) and keeps,
// for each bucket, the units admitted in it and the time of the last unit
// admitted in it. A bucket counts at time t while its last unit is within the
// window, that is, later than t-P; the window at t spans the current bucket
// and the 10 before it. A request is admitted if the units of the buckets
// that count, plus its cost, stay within L.
//
// The guarantee is exact: every unit admitted in (t-P, t] lies in one of the
// 11 buckets, and its bucket's last unit is no earlier than it, so it is
// counted. The price is that a bucket's units return together, when its last
// unit leaves the window (at last+P): a unit may return up to P/10 after it
// left the window itself. Memory is 11 counts and 11 times per active limit.
//
// Remaining is L minus the units counted. Reset is the time until the oldest
// counted bucket's units return; RetryAfter is the time until enough of them
// have returned for the request's cost (a whole period for a cost above L).
// Both are measured from the last units' own times, so neither ever exceeds
// the period: 1 per second never reports more than 1s, 5 per minute never
// more than 60s. (Only a clock that disagrees, a step back or another
// instance's clock running ahead, could place a last unit after now; the
// answer is then capped at P.)
package ratelimit

import (
	"time"

	"github.com/keyward/keyward"
)

// Buckets is the number of buckets a period is split into.
const Buckets = 10

// bucketWidth is the width of one bucket for a period: P/10 rounded up, at
// least 1ns. Rounding up keeps (t-P, t] within the 11 buckets of a window.
func bucketWidth(period time.Duration) int64 {
	return max((int64(period)+Buckets-1)/Buckets, 1)
}

// BucketIndex returns the index of the bucket holding now for a period.
func BucketIndex(period time.Duration, now time.Time) int64 {
	return now.UnixNano() / bucketWidth(period)
}

// Counts is one limit's window at a decision in bucket Index: the units
// admitted in buckets Index-Buckets..Index (older buckets no longer count),
// and the time of the last unit admitted in each.
type Counts struct {
	// Index is the bucket of the decision.
	Index int64
	// N[i] is the units admitted in bucket Index-Buckets+i.
	N [Buckets + 1]int64
	// Last[i] is when (Unix nanoseconds) the last unit of bucket
	// Index-Buckets+i was admitted; it matters only while N[i] > 0.
	Last [Buckets + 1]int64
}

// Take adds cost units admitted at now to the current bucket.
func (c *Counts) Take(cost int64, now time.Time) {
	c.take(cost, now.UnixNano())
}

func (c *Counts) take(cost, t int64) {
	c.N[Buckets] += cost
	c.Last[Buckets] = max(c.Last[Buckets], t)
}

// Decide computes the decision for cost units at now under limit, given the
// counts before the request. When the limit admits the cost, the decision
// reports the state after the cost is taken (the caller then calls
// [Counts.Take]). It is the one place where the algorithm lives: the local
// and the Redis limiter both call it (through [DecideAll]).
func Decide(c *Counts, limit keyward.RateLimit, cost int64, now time.Time) keyward.RateDecision {
	var d keyward.RateDecision
	decide(&d, c, limit, cost, now.UnixNano())
	return d
}

// decide is Decide at t (Unix nanoseconds), into d.
func decide(d *keyward.RateDecision, c *Counts, limit keyward.RateLimit, cost, t int64) {
	p := int64(limit.Period)
	since := t - p // bucket i counts while its last unit is later
	ns, lasts := &c.N, &c.Last
	var used int64
	oldest := -1
	for i := range ns {
		if n := ns[i]; n > 0 && lasts[i] > since {
			used += n
			if oldest < 0 {
				oldest = i
			}
		}
	}
	allowed := used+cost <= limit.Limit
	taken := allowed && cost > 0
	if taken {
		used += cost
		if oldest < 0 {
			oldest = Buckets
		}
	}
	var reset time.Duration
	if oldest >= 0 {
		last := c.Last[oldest]
		if taken && oldest == Buckets {
			last = max(last, t)
		}
		reset = within(last+p, t, p)
	}
	*d = keyward.RateDecision{
		Allowed:   allowed,
		Limit:     limit.Limit,
		Period:    time.Duration(limit.Period),
		Remaining: max(limit.Limit-used, 0),
		Reset:     reset,
	}
	if allowed {
		return
	}
	if cost > limit.Limit {
		d.RetryAfter = d.Period // can never pass; say "not within this window"
		return
	}
	// Buckets return in order; the running maximum keeps the answer an upper
	// bound should two buckets' times be out of order.
	var returns int64
	for i := range ns {
		n := ns[i]
		if n == 0 || lasts[i] <= since {
			continue
		}
		returns = max(returns, lasts[i]+p)
		used -= n
		if used+cost <= limit.Limit {
			break
		}
	}
	d.RetryAfter = within(returns, t, p)
}

// within is the wait from t until at, capped at the period p (see the
// package doc).
func within(at, t, p int64) time.Duration {
	return time.Duration(min(max(at-t, 0), p))
}

// DecideAll decides checks together at now: counts[i] is the window of
// checks[i] before the request. If every check admits cost, it takes cost in
// each window and returns true; otherwise it takes nothing and returns false.
// out[i] receives the state of checks[i] after the decision, with Allowed
// telling whether that limit alone admits the cost. Cost 0 takes nothing and
// returns true. The windows of one call must be distinct.
func DecideAll(counts []*Counts, checks []keyward.RateCheck, cost int64, now time.Time, out []keyward.RateDecision) bool {
	t := now.UnixNano()
	counts, out = counts[:len(checks)], out[:len(checks)]
	all := true
	for i := range checks {
		decide(&out[i], counts[i], checks[i].Limit, cost, t)
		all = all && out[i].Allowed
	}
	if all {
		if cost > 0 {
			for _, c := range counts {
				c.take(cost, t)
			}
		}
		return true
	}
	// Refused: the limits that would have admitted the cost report their
	// state without it.
	for i := range checks {
		if out[i].Allowed && cost > 0 {
			decide(&out[i], counts[i], checks[i].Limit, 0, t)
		}
	}
	return false
}
