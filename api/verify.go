package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/keyward/keyward"
)

// VerifyBody is the body of POST /v1/keys/verify.
type VerifyBody struct {
	Key        string   `json:"key" doc:"The full key string presented by your caller."`
	Scopes     []string `json:"scopes,omitempty" nullable:"false" doc:"All required."`
	AnyScopes  []string `json:"any_scopes,omitempty" nullable:"false" doc:"If not empty, at least one of these is needed too."`
	ScopeQuery string   `json:"scope_query,omitempty"`
	Cost       *int64   `json:"cost,omitempty" minimum:"0" doc:"Units of rate limit and credits to spend; default 1, 0 checks without spending."`
	ClientIP   string   `json:"client_ip,omitempty" doc:"Your caller's address, for keys with allowed_cidrs."`
}

// NewVerifyBody is the body that asks for r.
func NewVerifyBody(r keyward.VerifyRequest) VerifyBody {
	b := VerifyBody{Key: r.Key, Scopes: r.Scopes, AnyScopes: r.AnyScope, Cost: r.Cost}
	if r.ScopeQuery != nil {
		b.ScopeQuery = r.ScopeQuery.String()
	}
	if r.ClientIP.IsValid() {
		b.ClientIP = r.ClientIP.String()
	}
	return b
}

// Request returns what the body asks for, or a *keyward.ValidationError
// for a client_ip that is not an address or a scope_query that does not
// parse.
func (b VerifyBody) Request() (keyward.VerifyRequest, error) {
	r := keyward.VerifyRequest{Key: b.Key, Scopes: b.Scopes, AnyScope: b.AnyScopes, Cost: b.Cost}
	var probs []keyward.Problem
	if b.ClientIP != "" {
		ip, err := netip.ParseAddr(b.ClientIP)
		if err != nil {
			probs = append(probs, keyward.Problem{Field: "client_ip", Message: "must be an IPv4 or IPv6 address"})
		}
		r.ClientIP = ip
	}
	if b.ScopeQuery != "" {
		q, err := ParseScopeQuery(b.ScopeQuery)
		var ve *keyward.ValidationError
		if errors.As(err, &ve) {
			probs = append(probs, ve.Problems...)
		}
		r.ScopeQuery = q
	}
	if len(probs) > 0 {
		return keyward.VerifyRequest{}, &keyward.ValidationError{Problems: probs}
	}
	return r, nil
}

// ParseScopeQuery parses the scope_query of a verify body or of /v1/auth. A
// query that does not parse is a *keyward.ValidationError on the field
// scope_query whose message names the position.
func ParseScopeQuery(s string) (*keyward.ScopeQuery, error) {
	q, err := keyward.ParseScopeQuery(s)
	if err != nil {
		msg := err.Error()
		var qe *keyward.ScopeQueryError
		if errors.As(err, &qe) {
			msg = fmt.Sprintf("does not parse at position %d: %s", qe.Pos, qe.Msg)
		}
		return nil, &keyward.ValidationError{Problems: []keyward.Problem{{Field: "scope_query", Message: msg}}}
	}
	return q, nil
}

// RateLimitState is the state of a key's rate limit after a verification.
type RateLimitState struct {
	Limit     int64 `json:"limit"`
	Remaining int64 `json:"remaining"`
	Reset     int64 `json:"reset" doc:"Seconds until a unit returns."`
}

// Scopes of a LimitStateBody: whose limit it is.
const (
	LimitScopeKey   = "key"
	LimitScopeOwner = "owner"
)

// LimitStateBody is the state of one rate limit checked by a verification.
type LimitStateBody struct {
	Name  string `json:"name" doc:"The limit's name: default for the key's rate_limit."`
	Scope string `json:"scope" enum:"key,owner" doc:"key for the key's own limits, owner for the limits its owner shares with its other keys."`
	RateLimitState
	Period keyward.Duration `json:"period" doc:"The limit's window, a Go duration."`
}

// OwnerState is the owner record of a verified key, in the answer.
type OwnerState struct {
	Name      string          `json:"name"`
	Metadata  json.RawMessage `json:"metadata"`
	Remaining *int64          `json:"remaining" doc:"The owner's shared credits left after this verification; null when the owner counts none."`
}

// VerifyResult is the answer of POST /v1/keys/verify, 200 for every outcome.
type VerifyResult struct {
	Valid           bool             `json:"valid"`
	Code            string           `json:"code" doc:"The outcome: VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, FORBIDDEN_ADDRESS, INSUFFICIENT_SCOPE, RATE_LIMITED, USAGE_EXCEEDED."`
	Key             *KeyView         `json:"key,omitempty" doc:"Absent for MALFORMED and NOT_FOUND."`
	EffectiveScopes []string         `json:"effective_scopes,omitzero" nullable:"false" doc:"The key's scopes and those of its roles, each once; absent when key is."`
	Owner           *OwnerState      `json:"owner,omitempty" doc:"Present when the key's owner has a record."`
	RateLimit       *RateLimitState  `json:"ratelimit,omitempty" doc:"The limit with the fewest units left (of ratelimits); absent when no limit was checked."`
	RateLimits      []LimitStateBody `json:"ratelimits,omitempty" nullable:"false" doc:"Every limit checked, the key's then the owner's; with cost 0 they spend nothing but still report their state. Absent when none was checked."`
	MissingScope    string           `json:"missing_scope,omitempty" doc:"For INSUFFICIENT_SCOPE: the first required scope not granted."`
	RetryAfter      int64            `json:"retry_after,omitempty" doc:"Seconds, for RATE_LIMITED (the longest wait among the limits that refused), and for USAGE_EXCEEDED when a refill will restore credits."`
}

// NewVerifyResult shows r, with the key's status at now and its credits
// after the verification.
func NewVerifyResult(r keyward.Result, now time.Time) VerifyResult {
	out := VerifyResult{Valid: r.Valid(), Code: r.Outcome.String(), MissingScope: r.MissingScope, RetryAfter: ceilSeconds(r.RetryAfter)}
	if r.Key != nil {
		v := NewKeyView(r.Key, now)
		if r.Remaining >= 0 {
			v.Remaining = &r.Remaining
		}
		out.Key = &v
		out.EffectiveScopes = nonNil(r.EffectiveScopes())
	}
	if o := r.Owner; o != nil {
		out.Owner = &OwnerState{Name: o.Name, Metadata: NewOwnerView(o).Metadata}
		if r.OwnerRemaining >= 0 {
			out.Owner.Remaining = &r.OwnerRemaining
		}
	}
	if d := r.RateLimit; d.Limit > 0 {
		out.RateLimit = &RateLimitState{Limit: d.Limit, Remaining: d.Remaining, Reset: ceilSeconds(d.Reset)}
	}
	for _, l := range r.RateLimits() {
		scope := LimitScopeKey
		if l.Owner {
			scope = LimitScopeOwner
		}
		out.RateLimits = append(out.RateLimits, LimitStateBody{
			Name: l.Name, Scope: scope, Period: keyward.Duration(l.Period),
			RateLimitState: RateLimitState{Limit: l.Limit, Remaining: l.Remaining, Reset: ceilSeconds(l.Reset)},
		})
	}
	return out
}

// Result returns the outcome the answer reports: the key, its effective
// scopes, its owner and the state of every limit checked. Durations have the
// answer's precision: whole seconds. A limit reports Allowed false when the
// outcome is RATE_LIMITED. It fails for a code that is not an outcome.
func (v VerifyResult) Result() (keyward.Result, error) {
	o, ok := keyward.ParseOutcome(v.Code)
	if !ok {
		return keyward.Result{}, fmt.Errorf("api: unknown verification outcome %q", v.Code)
	}
	res := keyward.Result{
		Outcome: o, MissingScope: v.MissingScope, Remaining: -1, OwnerRemaining: -1,
		RetryAfter: time.Duration(v.RetryAfter) * time.Second,
	}
	if v.Key != nil {
		res.Key = &v.Key.Key
		if v.Key.Remaining != nil {
			res.Remaining = *v.Key.Remaining
		}
		if v.EffectiveScopes != nil {
			res.SetEffectiveScopes(v.EffectiveScopes)
		}
	}
	if ow := v.Owner; ow != nil {
		res.Owner = &keyward.Owner{Name: ow.Name, Metadata: ow.Metadata, Remaining: ow.Remaining}
		if ow.Remaining != nil {
			res.OwnerRemaining = *ow.Remaining
		}
	}
	if rl := v.RateLimit; rl != nil {
		res.RateLimit = v.decision(*rl, res.RetryAfter)
		if res.Key != nil && res.Key.RateLimit != nil {
			res.RateLimit.Period = time.Duration(res.Key.RateLimit.Period)
		}
	}
	if len(v.RateLimits) > 0 {
		states := make([]keyward.LimitState, len(v.RateLimits))
		fewest := 0
		for i, l := range v.RateLimits {
			states[i] = keyward.LimitState{Name: l.Name, Owner: l.Scope == LimitScopeOwner, RateDecision: v.decision(l.RateLimitState, res.RetryAfter)}
			states[i].Period = time.Duration(l.Period)
			if l.Remaining < v.RateLimits[fewest].Remaining {
				fewest = i
			}
		}
		res.SetRateLimits(states)
		res.RateLimit = states[fewest].RateDecision
	}
	return res, nil
}

// decision is the RateDecision that a limit's state in the answer reports.
func (v VerifyResult) decision(s RateLimitState, retryAfter time.Duration) keyward.RateDecision {
	return keyward.RateDecision{
		Allowed: v.Code != keyward.OutcomeRateLimited.String(), Limit: s.Limit, Remaining: s.Remaining,
		Reset: time.Duration(s.Reset) * time.Second, RetryAfter: retryAfter,
	}
}

// ceilSeconds rounds d up to whole seconds; 0 for d <= 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
