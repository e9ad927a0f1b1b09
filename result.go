package keyward

import "time"

// LimitState is the state of one rate limit after a verification.
type LimitState struct {
	// Name is the limit's name ("default" for a key's rate_limit).
	Name string
	// Owner reports whether the limit is the owner's (shared by its keys)
	// rather than the key's.
	Owner bool
	RateDecision
}

// inlineLimits is how many limit states a Result holds without allocating:
// a key with two limits and an owner with two verify without allocation.
const inlineLimits = 4

// limitCell is what a decision adds to a limit of the plan.
type limitCell struct {
	remaining  int64
	reset      time.Duration
	retryAfter time.Duration
	allowed    bool
}

// Result is the outcome of a verification. It is a value: keep it as long
// as needed.
type Result struct {
	Outcome Outcome
	// Key is the verified key (read-only); nil for MALFORMED and NOT_FOUND.
	Key *Key
	// Owner is the record of the key's owner (read-only), nil when the key
	// has no owner or the owner no record.
	Owner *Owner
	// MissingScope is the first required scope not granted, for
	// INSUFFICIENT_SCOPE.
	MissingScope string
	// RateLimit is the state of the limit with the fewest units left among
	// those checked (see [Result.RateLimits]); its zero value means the key
	// and its owner have no limit.
	RateLimit RateDecision
	// Remaining is the key's credits left after this verification, -1 if
	// the key has no credit limit. When a check before the credits failed
	// (any outcome but VALID and USAGE_EXCEEDED), the credits were not read
	// and it is the record's as cached: [Service.RefreshCredits] reads them.
	Remaining int64
	// OwnerRemaining is the owner's credits left, -1 if there are none; as
	// Remaining, from the cached record when a check before them failed.
	OwnerRemaining int64
	// RetryAfter is when to try again, for RATE_LIMITED (the longest wait
	// among the limits that refused), and for USAGE_EXCEEDED when a refill
	// will restore credits; otherwise 0.
	RetryAfter time.Duration

	plan   *limitPlan // the limits checked (shared, read-only)
	cells  [inlineLimits]limitCell
	more   []limitCell  // cells of the limits past inlineLimits
	states []LimitState // set by SetRateLimits instead of plan and cells
	scopes []string     // effective scopes; nil: the key's own
}

// Valid reports whether the outcome is VALID.
func (r Result) Valid() bool { return r.Outcome == OutcomeValid }

// NumRateLimits returns how many rate limits the verification checked.
func (r *Result) NumRateLimits() int {
	if r.states != nil {
		return len(r.states)
	}
	if r.plan == nil {
		return 0
	}
	return len(r.plan.checks)
}

// RateLimitAt returns the state of limit i (0 <= i < NumRateLimits): the
// key's limits first, then the owner's. It does not allocate.
func (r *Result) RateLimitAt(i int) LimitState {
	if r.states != nil {
		return r.states[i]
	}
	c := r.cell(i)
	check := r.plan.checks[i]
	return LimitState{
		Name:  r.plan.names[i],
		Owner: i >= r.plan.keyChecks,
		RateDecision: RateDecision{
			Allowed: c.allowed, Limit: check.Limit.Limit, Period: time.Duration(check.Limit.Period),
			Remaining: c.remaining, Reset: c.reset, RetryAfter: c.retryAfter,
		},
	}
}

func (r *Result) cell(i int) *limitCell {
	if i < inlineLimits {
		return &r.cells[i]
	}
	return &r.more[i-inlineLimits]
}

// RateLimits returns the state of every rate limit checked, the key's
// first, then the owner's (a new slice; RateLimitAt reads one without
// allocating). With cost 0 the limits spend nothing but still report their
// state.
func (r *Result) RateLimits() []LimitState {
	n := r.NumRateLimits()
	if n == 0 {
		return nil
	}
	out := make([]LimitState, n)
	for i := range out {
		out[i] = r.RateLimitAt(i)
	}
	return out
}

// SetRateLimits records the states of the limits checked (at most
// MaxRateChecks are kept: no verification checks more), for a Verifier that
// learns them from elsewhere (package client, from the server's answer).
func (r *Result) SetRateLimits(states []LimitState) {
	r.states, r.plan = states[:min(len(states), MaxRateChecks)], nil
}

// EffectiveScopes returns the verified key's effective scopes: its own,
// then those of its roles, each once (nil when there is no key). Do not
// modify the result.
func (r *Result) EffectiveScopes() []string {
	switch {
	case r.scopes != nil:
		return r.scopes
	case r.Key == nil:
		return nil
	}
	return r.Key.Scopes
}

// SetEffectiveScopes records the key's effective scopes, for a Verifier that
// learns them from elsewhere (package client, from the server's answer).
func (r *Result) SetEffectiveScopes(scopes []string) { r.scopes = scopes }

// setLimits records the limiter's decisions: every cell, the state with the
// fewest units left as RateLimit, and the longest wait among refusals.
func (r *Result) setLimits(plan *limitPlan, out []RateDecision) {
	r.plan = plan
	if len(out) > inlineLimits {
		r.more = make([]limitCell, len(out)-inlineLimits)
	}
	fewest := 0
	for i, d := range out {
		*r.cell(i) = limitCell{remaining: d.Remaining, reset: d.Reset, retryAfter: d.RetryAfter, allowed: d.Allowed}
		if d.Remaining < out[fewest].Remaining {
			fewest = i
		}
		if !d.Allowed {
			r.RetryAfter = max(r.RetryAfter, d.RetryAfter)
		}
	}
	r.RateLimit = out[fewest]
}

// released updates the states after the units of cost were given back.
func (r *Result) released(cost int64) {
	fewest := 0
	for i := range r.NumRateLimits() {
		c := r.cell(i)
		limit := r.plan.checks[i].Limit.Limit
		c.remaining = min(c.remaining+cost, limit)
		if c.remaining == limit {
			c.reset = 0 // the budget is full again: nothing is waiting to return
		}
		if c.remaining < r.cell(fewest).remaining {
			fewest = i
		}
	}
	r.RateLimit = r.RateLimitAt(fewest).RateDecision
}
