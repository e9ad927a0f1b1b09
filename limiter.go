package keyward

import (
	"context"
	"time"
)

// Limiter enforces per-key rate limits. Implementations are in package
// ratelimit; they must be safe for concurrent use. A limiter decides; it does
// not fail: a backend outage is handled inside (by deciding locally).
type Limiter interface {
	// Allow takes cost units from the budget of key id under limit at now,
	// if the budget allows it. Cost 0 only reports the state.
	Allow(ctx context.Context, id string, limit RateLimit, cost int64, now time.Time) RateDecision
	// Release gives back cost units taken by Allow for a verification that
	// failed a later check.
	Release(ctx context.Context, id string, limit RateLimit, cost int64, now time.Time)
}

// RateDecision is a limiter's answer. The zero value means "no rate limit".
type RateDecision struct {
	// Allowed reports whether the units were taken.
	Allowed bool
	// Limit is the key's limit per period.
	Limit int64
	// Period is the key's window.
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
