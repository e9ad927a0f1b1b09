package keyward

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Verify checks a presented key and, when every check passes, spends its
// cost. The checks run in the contract's order and the first that fails is
// the outcome: MALFORMED (no lookup is made), NOT_FOUND (unknown id or wrong
// secret, which cost the same hash comparison), REVOKED, EXPIRED, DISABLED,
// FORBIDDEN_ADDRESS, INSUFFICIENT_SCOPE (against the key's effective scopes:
// its own and its roles'), RATE_LIMITED (any limit of the key or of its
// owner), USAGE_EXCEEDED (the key's or the owner's credits), VALID. A
// verification that fails a check spends nothing anywhere: no rate-limit
// unit and no credit, of the key or of its owner.
//
// A failed verification is an outcome, not an error: the error is for the
// store being unreachable (ErrUnavailable), a negative cost (ErrInvalid) or a
// rate-limited key without a Limiter (ErrNoLimiter). Verify never waits on a
// usage write: counts are aggregated in memory and flushed in batches.
func (s *Service) Verify(ctx context.Context, req VerifyRequest) (Result, error) {
	var start time.Time
	if s.lookup != nil {
		start = time.Now()
	}
	cost := int64(1)
	if req.Cost != nil {
		cost = *req.Cost
		if cost < 0 {
			return Result{}, invalid("cost", "must be at least 0")
		}
	}
	tok, err := Parse(req.Key)
	if err != nil {
		return s.finish(Result{Outcome: OutcomeMalformed, Remaining: -1, OwnerRemaining: -1}), nil
	}
	k, err := s.store.Get(ctx, tok.ID)
	if errors.Is(err, ErrNotFound) {
		s.checkUnknown(tok.Secret) // same work as a wrong secret
		return s.notFound(ctx, start), nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("keyward: verifying key: %w", err)
	}
	ok, rehash := s.checkSecret(k, tok.Secret)
	now := s.now()
	if !ok || tok.Prefix != k.Prefix {
		// A guessing attempt shows up in the key's usage; the caller learns nothing.
		s.usage.add(k.ID, k.Owner, OutcomeNotFound, false, now)
		return s.notFound(ctx, start), nil
	}
	if rehash && !s.noRehash {
		s.rehash(k.ID, k.Hash, tok.Secret)
	}
	r := Result{Key: k, Remaining: credits(k.Remaining, k.Refill, k.RefilledAt, now), OwnerRemaining: -1}
	if k.Owner != "" {
		o, err := s.store.GetOwner(ctx, k.Owner)
		switch {
		case err == nil:
			r.Owner, r.OwnerRemaining = o, credits(o.Remaining, o.Refill, o.RefilledAt, now)
		case !errors.Is(err, ErrNotFound):
			return Result{}, fmt.Errorf("keyward: verifying key: reading its owner: %w", err)
		}
	}
	switch {
	case k.RevokedAt != nil:
		r.Outcome = OutcomeRevoked
	case k.Expired(now):
		r.Outcome = OutcomeExpired
	case !k.Enabled:
		r.Outcome = OutcomeDisabled
	case len(k.AllowedCIDRs) > 0 && !addressAllowed(k.AllowedCIDRs, req.ClientIP):
		r.Outcome = OutcomeForbiddenAddress
	default:
		if err := s.loadRoles(ctx, k, &r); err != nil {
			return Result{}, err
		}
		if missing := missingScope(&r, &req); missing != "" {
			r.Outcome, r.MissingScope = OutcomeInsufficientScope, missing
			break
		}
		if err := s.spend(ctx, k, cost, now, &r); err != nil {
			return Result{}, err
		}
	}
	s.usage.add(k.ID, k.Owner, r.Outcome, true, now)
	return s.finish(r), nil
}

// credits returns the credits left as a check at now sees them (a refill
// that is due counts), or -1 without a credit limit.
func credits(remaining *int64, refill *Refill, refilledAt *time.Time, now time.Time) int64 {
	switch {
	case remaining == nil:
		return -1
	case refillDue(refill, remaining, refilledAt, now):
		return refill.Amount
	}
	return *remaining
}

// has reports whether the key's effective scopes (its own and those of the
// roles read into r) grant need.
func (r *Result) has(need string) bool {
	if ScopeGranted(r.Key.Scopes, need) {
		return true
	}
	for _, role := range r.roles[:r.nroles] {
		if ScopeGranted(role.Scopes, need) {
			return true
		}
	}
	return false
}

// loadRoles reads the key's roles into r (cache hits in production). A role
// that no longer exists grants nothing.
func (s *Service) loadRoles(ctx context.Context, k *Key, r *Result) error {
	for _, name := range k.Roles {
		role, err := s.store.GetRole(ctx, name)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("keyward: verifying key: reading role %q: %w", name, err)
		}
		if int(r.nroles) < len(r.roles) {
			r.roles[r.nroles] = role
			r.nroles++
		}
	}
	return nil
}

// missingScope returns the scope to report when the key's effective scopes
// (roles read into r) do not satisfy the request, or "".
func missingScope(r *Result, req *VerifyRequest) string {
	for _, need := range req.Scopes {
		if !r.has(need) {
			return need
		}
	}
	if len(req.AnyScope) > 0 && !slices.ContainsFunc(req.AnyScope, r.has) {
		return req.AnyScope[0]
	}
	if q := req.ScopeQuery; q != nil {
		var bits uint64
		missing := ""
		for i, n := range q.names {
			if r.has(n) {
				bits |= 1 << uint(i)
			} else if missing == "" {
				missing = n
			}
		}
		if !q.eval(bits) {
			return missing
		}
	}
	return ""
}

// EffectiveScopes returns the key's own scopes followed by those of its
// roles, each once.
func (s *Service) EffectiveScopes(ctx context.Context, k *Key) ([]string, error) {
	r := Result{Key: k}
	if err := s.loadRoles(ctx, k, &r); err != nil {
		return nil, err
	}
	return r.EffectiveScopes(), nil
}

// spend takes the rate-limit units of the key and its owner, then the
// credits, giving the units back when the credits are short.
func (s *Service) spend(ctx context.Context, k *Key, cost int64, now time.Time, r *Result) error {
	plan := s.plan(k, r.Owner)
	if len(plan.checks) > 0 {
		if s.limiter == nil {
			return fmt.Errorf("keyward: key %s: %w", k.ID, ErrNoLimiter)
		}
		sc := s.getScratch()
		defer s.putScratch(sc)
		out := sc.out[:len(plan.checks)]
		allowed := s.limiter.Allow(ctx, plan.group, plan.checks, cost, now, out)
		r.setLimits(plan, out)
		if !allowed {
			r.Outcome = OutcomeRateLimited
			return nil
		}
	}
	ownerCredits := r.Owner != nil && r.Owner.Remaining != nil
	if cost > 0 && (k.Remaining != nil || ownerCredits) {
		sp := CreditSpend{KeyID: k.ID, Cost: cost, Now: now}
		if ownerCredits {
			sp.Owner = k.Owner
		}
		bal, err := s.store.SpendCredits(ctx, sp)
		if err != nil || !bal.Spent {
			s.release(ctx, plan, cost, now, r)
		}
		switch {
		case errors.Is(err, ErrNotFound): // deleted since it was read
			*r = Result{Outcome: OutcomeNotFound, Remaining: -1, OwnerRemaining: -1}
			return nil
		case err != nil:
			return fmt.Errorf("keyward: spending credits: %w", err)
		}
		r.Remaining, r.OwnerRemaining = bal.Key, bal.Owner
		if !bal.Spent {
			r.Outcome, r.RetryAfter = OutcomeUsageExceeded, creditWait(k, r.Owner, bal, cost, now)
			s.events.creditsExhausted(k, r.Owner, bal, cost, now)
			return nil
		}
	}
	r.Outcome = OutcomeValid
	return nil
}

// creditWait is how long until a refill restores the credits that were
// short, or 0 when no refill will.
func creditWait(k *Key, o *Owner, bal CreditBalance, cost int64, now time.Time) time.Duration {
	var ownerRefill *Refill
	if o != nil {
		ownerRefill = o.Refill
	}
	var wait time.Duration
	for _, c := range [2]struct {
		left   int64
		refill *Refill
	}{{bal.Key, k.Refill}, {bal.Owner, ownerRefill}} {
		if c.left < 0 || c.left >= cost {
			continue // these credits were not short
		}
		if c.refill == nil || c.refill.Amount < cost {
			return 0 // no refill restores them
		}
		wait = max(wait, nextRefill(c.refill.Interval, now).Sub(now))
	}
	return wait
}

// release gives back the rate-limit units of a verification that failed
// after taking them.
func (s *Service) release(ctx context.Context, plan *limitPlan, cost int64, now time.Time, r *Result) {
	if len(plan.checks) == 0 || cost == 0 {
		return
	}
	s.limiter.Release(ctx, plan.group, plan.checks, cost, now)
	fewest := -1
	for i := range r.limits[:r.nlimits] {
		d := &r.limits[i].RateDecision
		d.Remaining = min(d.Remaining+cost, d.Limit)
		if d.Remaining == d.Limit {
			d.Reset = 0 // the budget is full again: nothing is waiting to return
		}
		if fewest < 0 || d.Remaining < r.limits[fewest].Remaining {
			fewest = i
		}
	}
	r.RateLimit = r.limits[fewest].RateDecision
}

// setLimits records the limiter's decisions: every state, the one with the
// fewest units left as RateLimit, and the longest wait among refusals.
func (r *Result) setLimits(plan *limitPlan, out []RateDecision) {
	fewest := 0
	for i, d := range out {
		r.limits[i] = LimitState{Name: plan.names[i], Owner: i >= plan.keyChecks, RateDecision: d}
		if d.Remaining < out[fewest].Remaining {
			fewest = i
		}
		if !d.Allowed {
			r.RetryAfter = max(r.RetryAfter, d.RetryAfter)
		}
	}
	r.nlimits = uint8(len(out))
	r.RateLimit = out[fewest]
}

// notFound answers NOT_FOUND, paced (see Options.LookupTime): never sooner
// than a store lookup takes after start, and always behind a timer, so that
// every NOT_FOUND answer has the same shape in time whatever path found it.
func (s *Service) notFound(ctx context.Context, start time.Time) Result {
	if s.lookup != nil {
		wait := max(time.Until(start.Add(s.lookup())), time.Nanosecond)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return s.finish(Result{Outcome: OutcomeNotFound, Remaining: -1, OwnerRemaining: -1})
}

func (s *Service) finish(r Result) Result {
	s.outcomes[r.Outcome].Add(1)
	return r
}

// rehash replaces an outdated hash (older scheme, parameters or pepper) in
// the background, once per key at a time.
func (s *Service) rehash(id, oldHash, secret string) {
	s.rehashMu.Lock()
	if s.rehashes[id] || s.stopped {
		s.rehashMu.Unlock()
		return
	}
	s.rehashes[id] = true
	s.rehashWG.Add(1)
	s.rehashMu.Unlock()
	secret = strings.Clone(secret) // do not keep the caller's string alive
	go func() {
		defer func() {
			s.rehashMu.Lock()
			delete(s.rehashes, id)
			s.rehashMu.Unlock()
			s.rehashWG.Done()
		}()
		hash, err := s.hasher.Hash(secret)
		if err != nil {
			s.log.Error("rehashing key", "key_id", id, "err", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = s.store.Update(ctx, id, func(k *Key) (*AuditEntry, error) {
			if k.Hash != oldHash {
				return nil, ErrNoChange
			}
			k.Hash = hash
			return nil, nil
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			s.log.Error("rehashing key", "key_id", id, "err", err)
		}
	}()
}
