package keyward

import (
	"context"
	"time"
)

// RateCheck is one rate limit a verification must pass: the counter it
// spends from and the limit on that counter.
type RateCheck struct {
	// Bucket names the counter. The Service names a key's limit
	// "k:<key id>:<limit name>" and an owner's "o:<owner name>:<limit name>",
	// so that every key of an owner spends from the same owner counters.
	Bucket string
	// Limit is the limit on the counter.
	Limit RateLimit
}

// MaxRateChecks is the most checks one verification makes: every limit of
// the key and of its owner.
const MaxRateChecks = 2 * MaxRateLimits

// Limiter enforces rate limits. Implementations are in package ratelimit;
// they must be safe for concurrent use. A limiter decides; it does not fail:
// a backend outage is handled inside (by deciding locally).
type Limiter interface {
	// Allow decides checks together at now: if every one admits cost units,
	// it takes them from each counter and returns true; otherwise it takes
	// nothing anywhere and returns false. It writes the state of checks[i]
	// after the decision to out[i] (len(out) >= len(checks)); Allowed in
	// out[i] reports whether that limit alone admits the cost. Cost 0 only
	// reports the states (and returns true).
	//
	// group is shared by every counter of one call (the Service passes the
	// key's owner, or the key's id when it has none): a shared backend keeps
	// one group's counters together, so that one call is one atomic step.
	Allow(ctx context.Context, group string, checks []RateCheck, cost int64, now time.Time, out []RateDecision) bool

	// Release gives back cost units that Allow took for checks, for a
	// verification that failed a later check.
	Release(ctx context.Context, group string, checks []RateCheck, cost int64, now time.Time)
}

// RateDecision is the state of one rate limit after a decision. The zero
// value means "no rate limit".
type RateDecision struct {
	// Allowed reports whether the limit admits the units asked for.
	Allowed bool
	// Limit is the limit per period.
	Limit int64
	// Period is the window.
	Period time.Duration
	// Remaining is how many units are left in the current window.
	Remaining int64
	// Reset is the time until the next unit returns to the budget (0 when
	// the budget is full).
	Reset time.Duration
	// RetryAfter, when not Allowed, is the time until the requested units
	// are available.
	RetryAfter time.Duration
}
