package keyward

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Verify checks a presented key and, when every check passes, spends its
// cost. The checks run in the contract's order and the first that fails is
// the outcome: MALFORMED (no lookup is made), NOT_FOUND (unknown id or wrong
// secret, which cost the same hash comparison), REVOKED, EXPIRED, DISABLED,
// FORBIDDEN_ADDRESS, INSUFFICIENT_SCOPE, RATE_LIMITED, USAGE_EXCEEDED, VALID.
// A key that fails a check spends no rate-limit unit and no credit.
//
// A failed verification is an outcome, not an error: the error is for the
// store being unreachable (ErrUnavailable), a negative cost (ErrInvalid) or a
// rate-limited key without a Limiter (ErrNoLimiter). Verify never waits on a
// usage write: counts are aggregated in memory and flushed in batches.
func (s *Service) Verify(ctx context.Context, req VerifyRequest) (Result, error) {
	cost := int64(1)
	if req.Cost != nil {
		cost = *req.Cost
		if cost < 0 {
			return Result{}, invalid("cost", "must be at least 0")
		}
	}
	tok, err := Parse(req.Key)
	if err != nil {
		return s.finish(Result{Outcome: OutcomeMalformed, Remaining: -1}), nil
	}
	k, err := s.store.Get(ctx, tok.ID)
	if errors.Is(err, ErrNotFound) {
		s.checkUnknown(tok.Secret) // same work as a wrong secret
		return s.finish(Result{Outcome: OutcomeNotFound, Remaining: -1}), nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("keyward: verifying key: %w", err)
	}
	ok, rehash := s.checkSecret(k, tok.Secret)
	now := s.now()
	if !ok || tok.Prefix != k.Prefix {
		// A guessing attempt shows up in the key's usage; the caller learns nothing.
		s.usage.add(k.ID, OutcomeNotFound, false, now)
		return s.finish(Result{Outcome: OutcomeNotFound, Remaining: -1}), nil
	}
	if rehash && !s.noRehash {
		s.rehash(k.ID, k.Hash, tok.Secret)
	}
	r := Result{Key: k, Remaining: -1}
	if k.Remaining != nil {
		r.Remaining = *k.Remaining
		if k.RefillDue(now) {
			r.Remaining = k.Refill.Amount
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
		if need, missing := MissingScope(k.Scopes, req.Scopes); missing {
			r.Outcome, r.MissingScope = OutcomeInsufficientScope, need
			break
		}
		if len(req.AnyScope) > 0 && !anyGranted(k.Scopes, req.AnyScope) {
			r.Outcome, r.MissingScope = OutcomeInsufficientScope, req.AnyScope[0]
			break
		}
		if r, err = s.spend(ctx, k, cost, now, r); err != nil {
			return Result{}, err
		}
	}
	s.usage.add(k.ID, r.Outcome, true, now)
	return s.finish(r), nil
}

// spend takes a rate-limit unit and the credits, in that order, giving the
// unit back when the credits are short.
func (s *Service) spend(ctx context.Context, k *Key, cost int64, now time.Time, r Result) (Result, error) {
	if k.RateLimit != nil {
		if s.limiter == nil {
			return Result{}, fmt.Errorf("keyward: key %s: %w", k.ID, ErrNoLimiter)
		}
		r.RateLimit = s.limiter.Allow(ctx, k.ID, *k.RateLimit, cost, now)
		if !r.RateLimit.Allowed {
			r.Outcome, r.RetryAfter = OutcomeRateLimited, r.RateLimit.RetryAfter
			return r, nil
		}
	}
	if k.Remaining != nil && cost > 0 {
		left, spent, err := s.store.SpendCredits(ctx, k.ID, cost, now)
		if err != nil || !spent {
			s.release(ctx, k, cost, now, &r)
		}
		switch {
		case errors.Is(err, ErrNotFound): // deleted since it was read
			r = Result{Outcome: OutcomeNotFound, Remaining: -1}
			return r, nil
		case err != nil:
			return Result{}, fmt.Errorf("keyward: spending credits: %w", err)
		}
		r.Remaining = left
		if !spent {
			r.Outcome = OutcomeUsageExceeded
			if k.Refill != nil && k.Refill.Amount >= cost {
				r.RetryAfter = nextRefill(k.Refill.Interval, now).Sub(now)
			}
			return r, nil
		}
	}
	r.Outcome = OutcomeValid
	return r, nil
}

// release gives back the rate-limit units of a verification that failed after
// taking them.
func (s *Service) release(ctx context.Context, k *Key, cost int64, now time.Time, r *Result) {
	if k.RateLimit == nil || !r.RateLimit.Allowed || cost == 0 {
		return
	}
	s.limiter.Release(ctx, k.ID, *k.RateLimit, cost, now)
	r.RateLimit.Remaining = min(r.RateLimit.Remaining+cost, r.RateLimit.Limit)
	if r.RateLimit.Remaining == r.RateLimit.Limit {
		r.RateLimit.Reset = 0 // the budget is full again: nothing is waiting to return
	}
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

func anyGranted(granted, any []string) bool {
	for _, s := range any {
		if ScopeGranted(granted, s) {
			return true
		}
	}
	return false
}
