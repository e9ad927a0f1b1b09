package api

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/keyward/keyward"
)

// VerifyBody is the body of POST /v1/keys/verify.
type VerifyBody struct {
	Key       string   `json:"key" doc:"The full key string presented by your caller."`
	Scopes    []string `json:"scopes,omitempty" nullable:"false" doc:"All required."`
	AnyScopes []string `json:"any_scopes,omitempty" nullable:"false" doc:"If not empty, at least one of these is needed too."`
	Cost      *int64   `json:"cost,omitempty" minimum:"0" doc:"Units of rate limit and credits to spend; default 1, 0 checks without spending."`
	ClientIP  string   `json:"client_ip,omitempty" doc:"Your caller's address, for keys with allowed_cidrs."`
}

// NewVerifyBody is the body that asks for r.
func NewVerifyBody(r keyward.VerifyRequest) VerifyBody {
	b := VerifyBody{Key: r.Key, Scopes: r.Scopes, AnyScopes: r.AnyScope, Cost: r.Cost}
	if r.ClientIP.IsValid() {
		b.ClientIP = r.ClientIP.String()
	}
	return b
}

// Request returns what the body asks for, or a *keyward.ValidationError
// (field client_ip) for a client_ip that is not an address.
func (b VerifyBody) Request() (keyward.VerifyRequest, error) {
	r := keyward.VerifyRequest{Key: b.Key, Scopes: b.Scopes, AnyScope: b.AnyScopes, Cost: b.Cost}
	if b.ClientIP != "" {
		ip, err := netip.ParseAddr(b.ClientIP)
		if err != nil {
			return keyward.VerifyRequest{}, &keyward.ValidationError{Problems: []keyward.Problem{
				{Field: "client_ip", Message: "must be an IPv4 or IPv6 address"},
			}}
		}
		r.ClientIP = ip
	}
	return r, nil
}

// RateLimitState is the state of a key's rate limit after a verification.
type RateLimitState struct {
	Limit     int64 `json:"limit"`
	Remaining int64 `json:"remaining"`
	Reset     int64 `json:"reset" doc:"Seconds until a unit returns."`
}

// VerifyResult is the answer of POST /v1/keys/verify, 200 for every outcome.
type VerifyResult struct {
	Valid        bool            `json:"valid"`
	Code         string          `json:"code" doc:"The outcome: VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, FORBIDDEN_ADDRESS, INSUFFICIENT_SCOPE, RATE_LIMITED, USAGE_EXCEEDED."`
	Key          *KeyView        `json:"key,omitempty" doc:"Absent for MALFORMED and NOT_FOUND."`
	RateLimit    *RateLimitState `json:"ratelimit,omitempty" doc:"Absent when the key has no rate limit."`
	MissingScope string          `json:"missing_scope,omitempty" doc:"For INSUFFICIENT_SCOPE: the first required scope not granted."`
	RetryAfter   int64           `json:"retry_after,omitempty" doc:"Seconds, for RATE_LIMITED, and for USAGE_EXCEEDED when a refill will restore credits."`
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
	}
	if d := r.RateLimit; d.Limit > 0 {
		out.RateLimit = &RateLimitState{Limit: d.Limit, Remaining: d.Remaining, Reset: ceilSeconds(d.Reset)}
	}
	return out
}

// Result returns the outcome the answer reports. Durations have the
// answer's precision: whole seconds. It fails for a code that is not an
// outcome.
func (v VerifyResult) Result() (keyward.Result, error) {
	o, ok := keyward.ParseOutcome(v.Code)
	if !ok {
		return keyward.Result{}, fmt.Errorf("api: unknown verification outcome %q", v.Code)
	}
	res := keyward.Result{Outcome: o, MissingScope: v.MissingScope, Remaining: -1, RetryAfter: time.Duration(v.RetryAfter) * time.Second}
	if v.Key != nil {
		res.Key = &v.Key.Key
		if v.Key.Remaining != nil {
			res.Remaining = *v.Key.Remaining
		}
	}
	if rl := v.RateLimit; rl != nil {
		res.RateLimit = keyward.RateDecision{
			Allowed: o != keyward.OutcomeRateLimited, Limit: rl.Limit, Remaining: rl.Remaining,
			Reset: time.Duration(rl.Reset) * time.Second, RetryAfter: res.RetryAfter,
		}
		if res.Key != nil && res.Key.RateLimit != nil {
			res.RateLimit.Period = time.Duration(res.Key.RateLimit.Period)
		}
	}
	return res, nil
}

// ceilSeconds rounds d up to whole seconds; 0 for d <= 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
