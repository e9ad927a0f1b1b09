package keyward

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Verify checks a presented key and, when every check passes, spends its
// cost. The checks run in the contract's order and the first that fails is
// the outcome: MALFORMED (neither a native key nor a key string in one of
// the legacy formats recorded in the store, see [LegacyFormat]; no key
// lookup is made), NOT_FOUND (unknown id or wrong secret, which cost the
// same hash comparison), REVOKED, EXPIRED, DISABLED, FORBIDDEN_ADDRESS,
// INSUFFICIENT_SCOPE (against the key's effective scopes: its own and its
// roles'), RATE_LIMITED (any limit of the key or of its owner),
// USAGE_EXCEEDED (the key's or the owner's credits), VALID. A verification
// that fails a check spends nothing anywhere: no rate-limit unit and no
// credit, of the key or of its owner.
//
// A failed verification is an outcome, not an error: the error is for the
// store being unreachable (ErrUnavailable), a negative cost (ErrInvalid) or a
// rate-limited key without a Limiter (ErrNoLimiter). Verify never waits on a
// usage write: counts are aggregated in memory and flushed in batches.
func (s *Service) Verify(ctx context.Context, req VerifyRequest) (Result, error) {
	var r Result
	err := s.verify(ctx, &req, &r)
	return r, err
}

// verify does Verify's work into r, so that the Result is built in place.
func (s *Service) verify(ctx context.Context, req *VerifyRequest, r *Result) error {
	var start time.Time
	if s.lookup != nil {
		start = time.Now()
	}
	r.Remaining, r.OwnerRemaining = -1, -1
	cost := int64(1)
	if req.Cost != nil {
		cost = *req.Cost
		if cost < 0 {
			return invalid("cost", "must be at least 0")
		}
	}
	tok, err := Parse(req.Key)
	if err != nil {
		// Not a native key: perhaps one imported from another system.
		return s.verifyLegacy(ctx, req, r, start, cost)
	}
	return s.verifyKey(ctx, req, r, start, cost, tok, nil)
}

// decisionTime is the time a verification decides at (expiry, rate limits,
// usage): the reading of the wall clock taken as its pacing start when there
// is one, which saves a second reading on the hot path (a clock reading is
// about 0.4% of a /v1/auth request's CPU). The store lookup between the two
// takes microseconds on a cache hit and at most a lookup's time on a miss,
// well under the granularity of anything decided at that time.
func (s *Service) decisionTime(start time.Time) time.Time {
	if s.wallClock && !start.IsZero() {
		return start
	}
	return s.now()
}

// verifyKey verifies the presented id and secret (tok; its Prefix is
// checked against the key's for a native key string, legacy is nil then)
// from the lookup on.
func (s *Service) verifyKey(ctx context.Context, req *VerifyRequest, r *Result, start time.Time, cost int64, tok Token, legacy *LegacyFormat) error {
	k, err := s.getKey(ctx, tok.ID, start)
	if errors.Is(err, ErrNotFound) {
		s.checkUnknown(tok.Secret) // same work as a wrong secret
		if legacy != nil {
			s.checkLegacyDummy(legacy, "", tok.Secret)
		}
		s.notFound(ctx, start, r)
		return nil
	}
	if err != nil {
		return fmt.Errorf("keyward: verifying key: %w", err)
	}
	ok, rehash := s.checkSecret(k, tok.Secret)
	now := s.decisionTime(start)
	if !ok || (legacy == nil && tok.Prefix != k.Prefix) {
		if legacy != nil {
			s.checkLegacyDummy(legacy, k.Hash, tok.Secret)
		}
		// A guessing attempt shows up in the key's usage; the caller learns nothing.
		s.usage.add(k.ID, k.Owner, OutcomeNotFound, false, now)
		s.notFound(ctx, start, r)
		return nil
	}
	if rehash && !s.noRehash {
		s.rehash(k.ID, k.Hash, tok.Secret)
	}
	r.Key, r.Remaining = k, credits(k.Remaining, k.Refill, k.RefilledAt, now)
	rm := s.keyRecords(ctx, k, start)
	if rm != nil {
		if o := rm.owner; o != nil {
			r.Owner, r.OwnerRemaining = o, credits(o.Remaining, o.Refill, o.RefilledAt, now)
		}
	} else if k.Owner != "" {
		o, err := s.store.GetOwner(ctx, k.Owner)
		switch {
		case err == nil:
			r.Owner, r.OwnerRemaining = o, credits(o.Remaining, o.Refill, o.RefilledAt, now)
		case !errors.Is(err, ErrNotFound):
			*r = Result{}
			return fmt.Errorf("keyward: verifying key: reading its owner: %w", err)
		}
	}
	outcome, err := s.check(ctx, k, req, cost, now, r, rm)
	if err != nil {
		*r = Result{}
		return err
	}
	i := s.usage.add(k.ID, k.Owner, outcome, outcome != OutcomeNotFound, now)
	r.Outcome = outcome
	s.outcomes[outcome].AddAt(i, 1)
	return nil
}

// check runs the checks after the secret's, in the contract's order, and
// spends the cost when they pass. rm, if not nil, holds the key's effective
// scopes (see keyRecords).
func (s *Service) check(ctx context.Context, k *Key, req *VerifyRequest, cost int64, now time.Time, r *Result, rm *recordsMemo) (Outcome, error) {
	switch {
	case k.RevokedAt != nil:
		return OutcomeRevoked, nil
	case k.Expired(now):
		return OutcomeExpired, nil
	case !k.Enabled:
		return OutcomeDisabled, nil
	case len(k.AllowedCIDRs) > 0 && !addressAllowed(k.AllowedCIDRs, req.ClientIP):
		return OutcomeForbiddenAddress, nil
	}
	switch {
	case len(k.Roles) == 0:
	case rm != nil:
		r.scopes = rm.scopes
	default:
		scopes, err := s.effectiveScopes(ctx, k)
		if err != nil {
			return 0, err
		}
		r.scopes = scopes
	}
	if missing := missingScope(r.EffectiveScopes(), req); missing != "" {
		r.MissingScope = missing
		return OutcomeInsufficientScope, nil
	}
	return s.spend(ctx, k, cost, now, r)
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

// effectiveScopes returns the key's scopes followed by those of its roles
// (cache hits in production), each once. A role that no longer exists
// grants nothing.
func (s *Service) effectiveScopes(ctx context.Context, k *Key) ([]string, error) {
	var buf [MaxKeyRoles]*Role
	roles, err := s.readRoles(ctx, k, buf[:0])
	if err != nil {
		return nil, err
	}
	return scopesOf(k, roles), nil
}

// readRoles appends to roles those of k's roles that exist, read from the
// store, up to cap(roles).
func (s *Service) readRoles(ctx context.Context, k *Key, roles []*Role) ([]*Role, error) {
	for _, name := range k.Roles {
		role, err := s.store.GetRole(ctx, name)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("keyward: verifying key: reading role %q: %w", name, err)
		}
		if len(roles) < cap(roles) {
			roles = append(roles, role)
		}
	}
	return roles, nil
}

// scopesOf returns k's scopes followed by those of roles, each once. A key
// that keeps a memo (a cached instance) builds the list once per set of role
// instances.
func scopesOf(k *Key, roles []*Role) []string {
	m := k.memo
	if m == nil {
		return joinScopes(k.Scopes, roles)
	}
	if e := m.scopes.Load(); e != nil && slices.Equal(e.roles, roles) {
		return e.scopes
	}
	e := &scopeSet{roles: slices.Clone(roles), scopes: joinScopes(k.Scopes, roles)}
	m.scopes.Store(e)
	return e.scopes
}

// scopeSet is a key's effective scopes with the role instances they came
// from.
type scopeSet struct {
	roles  []*Role
	scopes []string
}

func joinScopes(own []string, roles []*Role) []string {
	out := append(make([]string, 0, len(own)), own...)
	for _, r := range roles {
		out = append(out, r.Scopes...)
	}
	return dedupe(out)
}

// missingScope returns the scope to report when the granted scopes do not
// satisfy the request, or "".
func missingScope(granted []string, req *VerifyRequest) string {
	if need, missing := MissingScope(granted, req.Scopes); missing {
		return need
	}
	if len(req.AnyScope) > 0 && !anyGranted(granted, req.AnyScope) {
		return req.AnyScope[0]
	}
	if q := req.ScopeQuery; q != nil {
		if ok, missing := q.Eval(granted); !ok {
			return missing
		}
	}
	return ""
}

func anyGranted(granted, any []string) bool {
	for _, need := range any {
		if ScopeGranted(granted, need) {
			return true
		}
	}
	return false
}

// EffectiveScopes returns the key's own scopes followed by those of its
// roles, each once.
func (s *Service) EffectiveScopes(ctx context.Context, k *Key) ([]string, error) {
	if len(k.Roles) == 0 {
		return k.Scopes, nil
	}
	return s.effectiveScopes(ctx, k)
}

// spend takes the rate-limit units of the key and its owner, then the
// credits, giving the units back when the credits are short.
func (s *Service) spend(ctx context.Context, k *Key, cost int64, now time.Time, r *Result) (Outcome, error) {
	plan := s.plan(k, r.Owner)
	if len(plan.checks) > 0 {
		if s.limiter == nil {
			return 0, fmt.Errorf("keyward: key %s: %w", k.ID, ErrNoLimiter)
		}
		sc := s.getScratch()
		out := sc.out[:]
		if n := len(plan.checks); n <= len(out) {
			out = out[:n]
		} else { // a key stored before its limits were counted with its default
			out = make([]RateDecision, n)
		}
		allowed := s.limiter.Allow(ctx, plan.group, plan.checks, cost, now, out)
		r.setLimits(plan, out)
		s.putScratch(sc)
		if !allowed {
			return OutcomeRateLimited, nil
		}
	}
	ownerCredits := r.Owner != nil && r.Owner.Remaining != nil
	// Credits are never cached: a spend (or, with cost 0, a read that spends
	// nothing) goes to the store and reports the balances as they are.
	if k.Remaining != nil || ownerCredits {
		sp := CreditSpend{KeyID: k.ID, Cost: cost, Now: now}
		if ownerCredits {
			sp.Owner = k.Owner
		}
		bal, err := s.spendCredits(ctx, sp, k, r.Owner)
		if err != nil || !bal.Spent {
			s.release(ctx, plan, cost, now, r)
		}
		switch {
		case errors.Is(err, ErrNotFound): // deleted since it was read
			*r = Result{Remaining: -1, OwnerRemaining: -1}
			return OutcomeNotFound, nil
		case err != nil:
			return 0, fmt.Errorf("keyward: spending credits: %w", err)
		}
		r.Remaining, r.OwnerRemaining = bal.Key, bal.Owner
		if !bal.Spent {
			r.RetryAfter = creditWait(k, r.Owner, bal, cost, now)
			s.events.creditsExhausted(k, r.Owner, bal, cost, now)
			return OutcomeUsageExceeded, nil
		}
	}
	return OutcomeValid, nil
}

// spendCredits spends sp from a lease when the Service has them, else in the
// store.
func (s *Service) spendCredits(ctx context.Context, sp CreditSpend, k *Key, o *Owner) (CreditBalance, error) {
	if s.leases == nil {
		return s.store.SpendCredits(ctx, sp)
	}
	var ownerVer time.Time
	if sp.Owner != "" {
		ownerVer = o.UpdatedAt
	}
	return s.leases.spend(ctx, sp, k, ownerVer)
}

// RefreshCredits reads the credits left of r's key and of its owner into
// r.Remaining and r.OwnerRemaining, as a verification with cost 0 reports
// them (leases counted, a due refill applied), for a result whose check
// failed before the credits: their values then come from the records as
// cached, which may be older than the last spends. It does nothing for
// other results, or when neither counts credits. POST /v1/keys/verify calls
// it so that every answer shows the balance as it is; a forward-auth check,
// which shows no balance, does not pay for the read.
func (s *Service) RefreshCredits(ctx context.Context, r *Result) error {
	k := r.Key
	if k == nil || r.Outcome == OutcomeValid || r.Outcome == OutcomeUsageExceeded || r.Outcome == OutcomeNotFound {
		return nil
	}
	ownerCredits := r.Owner != nil && r.Owner.Remaining != nil
	if k.Remaining == nil && !ownerCredits {
		return nil
	}
	sp := CreditSpend{KeyID: k.ID, Now: s.now()}
	if ownerCredits {
		sp.Owner = k.Owner
	}
	bal, err := s.spendCredits(ctx, sp, k, r.Owner)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil // deleted since: the answer keeps what the check saw
	case err != nil:
		return fmt.Errorf("keyward: reading credits: %w", err)
	}
	r.Remaining, r.OwnerRemaining = bal.Key, bal.Owner
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
	r.released(cost)
}

// notFound answers NOT_FOUND, paced (see Options.LookupTime): never sooner
// after start than a store lookup takes, nor than the 99th percentile of
// what recent NOT_FOUND answers took before their wait, so that every
// NOT_FOUND answer has the same shape in time whatever path found it.
func (s *Service) notFound(ctx context.Context, start time.Time, r *Result) {
	if s.lookup != nil {
		worked := time.Since(start)
		s.rejected.TryAdd(worked) // under a flood, a sample is enough
		s.holdUntil(ctx, start.Add(max(s.lookup(), s.rejected.P99())))
	}
	s.finish(r, OutcomeNotFound)
}

// spinWindow is how long before its deadline a paced answer stops sleeping
// and spins. Two things make a sleep end late, and by more the longer or
// the shorter it is, so a path that slept most of the wait would answer
// later than one that worked most of it; ending every wait awake removes
// that difference:
//   - waking from a long sleep costs more than from a short one (an idle
//     processor, or a virtual machine's, sleeps deeper);
//   - Go's timers sleep in whole milliseconds when nothing else wakes the
//     process (on Linux, epoll_wait takes its timeout in milliseconds and
//     the runtime rounds a shorter one up to 1 ms), so a timer can fire up
//     to a millisecond late. With a window of half a millisecond, a cached
//     id's wrong secret (no lookup, the longest sleep) answered about 0.3 ms
//     after an unknown id at 50 probes a second on an idle machine, which
//     TestRejectionTimingAtLowRate in test/security tells apart.
//
// So the window is a millisecond and a half. The spin yields the processor
// at every turn, and only one held answer spins at a time (holdUntil).
const spinWindow = 1500 * time.Microsecond

// holdUntil returns at deadline (or when ctx ends): asleep until shortly
// before it, then spinning, when it is the only answer being held. With
// others held too (a flood of NOT_FOUND answers), it waits on a timer to the
// end, so that a flood costs no CPU in spinning; processors busy with a
// flood do not sleep deeply anyway.
func (s *Service) holdUntil(ctx context.Context, deadline time.Time) {
	s.held.Add(1)
	defer s.held.Add(-1)
	if !s.wait(ctx, time.Until(deadline)-spinWindow) {
		return
	}
	if s.held.Load() > 1 || !s.spinning.CompareAndSwap(false, true) {
		s.wait(ctx, time.Until(deadline))
		return
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		runtime.Gosched()
	}
	s.spinning.Store(false)
}

// wait sleeps for d on a timer (not at all if d <= 0) and reports whether
// it slept to the end rather than ctx ending first.
func (s *Service) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

// finish sets the outcome and counts it.
func (s *Service) finish(r *Result, o Outcome) {
	r.Outcome = o
	s.outcomes[o].Add(1)
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

// Identify returns the stored key that the full key string key is, read from
// the store of record: its id exists, and its secret and prefix match.
// Otherwise it returns ErrNotFound (ErrMalformed for a string that does not
// parse): a string that carries a real key's id with another secret, which
// anyone can forge with a right checksum, is not that key. It spends nothing
// and counts nothing: it is for acting on a key found somewhere (a leak
// report, a scan), never for letting a request through. A string in one of
// the legacy formats the store records (keys imported from keyshield or
// fastapi_simple_security) is identified as Verify would take it.
func (s *Service) Identify(ctx context.Context, key string) (*Key, error) {
	tok, err := Parse(key)
	var legacy *LegacyFormat
	if err != nil {
		set, lerr := s.legacyFormats(ctx)
		if lerr != nil {
			return nil, fmt.Errorf("keyward: identifying key: %w", lerr)
		}
		f, id, secret, ok := set.parse(key)
		if !ok {
			return nil, err
		}
		tok, legacy = Token{ID: id, Secret: secret}, f
	}
	k, err := s.store.Get(NewFreshContext(ctx), tok.ID)
	if errors.Is(err, ErrNotFound) {
		s.checkUnknown(tok.Secret)
		if legacy != nil {
			s.checkLegacyDummy(legacy, "", tok.Secret)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if ok, _ := s.checkSecret(k, tok.Secret); !ok || (legacy == nil && tok.Prefix != k.Prefix) {
		if legacy != nil {
			s.checkLegacyDummy(legacy, k.Hash, tok.Secret)
		}
		return nil, fmt.Errorf("keyward: key %q: %w", tok.ID, ErrNotFound)
	}
	return s.view(k), nil
}
