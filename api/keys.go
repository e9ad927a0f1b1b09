package api

import (
	"encoding/json"
	"time"

	"github.com/keyward/keyward"
)

// RateLimitBody is a rate limit in a request.
type RateLimitBody struct {
	Limit  int64            `json:"limit" minimum:"1" doc:"At most this many units are admitted in any window of period."`
	Period keyward.Duration `json:"period"`
}

// NamedRateLimitBody is one entry of rate_limits in a request.
type NamedRateLimitBody struct {
	Name   string           `json:"name" doc:"Unique within the list. The entry named default is the rate_limit field."`
	Limit  int64            `json:"limit" minimum:"1" doc:"At most this many units are admitted in any window of period."`
	Period keyward.Duration `json:"period"`
}

// limitBodies converts a list of limits for a request body; nil stays nil.
func limitBodies(l []keyward.NamedRateLimit) []NamedRateLimitBody {
	return convertAll(l, func(n keyward.NamedRateLimit) NamedRateLimitBody { return NamedRateLimitBody(n) })
}

// namedLimits converts the limits of a request body; nil stays nil.
func namedLimits(l []NamedRateLimitBody) []keyward.NamedRateLimit {
	return convertAll(l, func(n NamedRateLimitBody) keyward.NamedRateLimit { return keyward.NamedRateLimit(n) })
}

// limitBodiesPtr and namedLimitsPtr convert an optional list (PATCH).
func limitBodiesPtr(l *[]keyward.NamedRateLimit) *[]NamedRateLimitBody {
	if l == nil {
		return nil
	}
	out := limitBodies(*l)
	return &out
}

func namedLimitsPtr(l *[]NamedRateLimitBody) *[]keyward.NamedRateLimit {
	if l == nil {
		return nil
	}
	out := namedLimits(*l)
	return &out
}

// RefillBody is a credit refill in a request.
type RefillBody struct {
	Interval string `json:"interval" enum:"daily,monthly" doc:"Refill at the start of each UTC day or month."`
	Amount   int64  `json:"amount" minimum:"1"`
}

// CreateKeyBody is the body of POST /v1/keys.
type CreateKeyBody struct {
	Name         string                          `json:"name"`
	Description  string                          `json:"description,omitempty"`
	Owner        string                          `json:"owner,omitempty" doc:"Who the key belongs to (user, team, tenant)."`
	Scopes       []string                        `json:"scopes,omitempty" nullable:"false"`
	Metadata     json.RawMessage                 `json:"metadata,omitempty"`
	Prefix       string                          `json:"prefix,omitempty" doc:"Prefix of the key string; default kw."`
	ExpiresAt    keyward.Nullable[time.Time]     `json:"expires_at,omitzero" doc:"In the future, within the maximum key lifetime if one is set (GET /v1/policy). Not with expires_in. Without either (null is the same as leaving it out), the key gets the default key lifetime if one is set, else no expiry."`
	ExpiresIn    *keyward.Duration               `json:"expires_in,omitempty" doc:"A Go duration, e.g. 720h, within the maximum key lifetime if one is set; or \"never\": no expiry, opting out of the default key lifetime (a 422 when a maximum is set). Not with expires_at."`
	RateLimit    keyward.Nullable[RateLimitBody] `json:"rate_limit,omitzero" doc:"The entry of rate_limits named default; not together with such an entry. null: none, as when left out."`
	RateLimits   []NamedRateLimitBody            `json:"rate_limits,omitempty" nullable:"false" doc:"Named limits; every one must admit a request."`
	Roles        []string                        `json:"roles,omitempty" nullable:"false" doc:"Existing roles whose scopes the key gets too."`
	Remaining    keyward.Nullable[int64]         `json:"remaining,omitzero" minimum:"0" doc:"Credits; absent or null means unlimited."`
	Refill       keyward.Nullable[RefillBody]    `json:"refill,omitzero" doc:"Needs remaining. null: none, as when left out."`
	AllowedCIDRs []string                        `json:"allowed_cidrs,omitempty" nullable:"false" doc:"If not empty, the client address must fall in one of them."`
	Enabled      *bool                           `json:"enabled,omitempty" doc:"Default true."`
}

// NewCreateKeyBody is the body that asks for p.
func NewCreateKeyBody(p keyward.CreateParams) CreateKeyBody {
	return CreateKeyBody{
		Name: p.Name, Description: p.Description, Owner: p.Owner, Scopes: p.Scopes, Metadata: p.Metadata,
		Prefix: p.Prefix, ExpiresAt: present(p.ExpiresAt), ExpiresIn: p.ExpiresIn, RateLimit: present((*RateLimitBody)(p.RateLimit)),
		RateLimits: limitBodies(p.RateLimits), Roles: p.Roles, Remaining: present(p.Remaining), Refill: present((*RefillBody)(p.Refill)),
		AllowedCIDRs: p.AllowedCIDRs, Enabled: p.Enabled,
	}
}

// Params returns what the body asks for.
func (b CreateKeyBody) Params() keyward.CreateParams {
	return keyward.CreateParams{
		Name: b.Name, Description: b.Description, Owner: b.Owner, Scopes: b.Scopes, Metadata: object(b.Metadata),
		Prefix: b.Prefix, ExpiresAt: b.ExpiresAt.Value, ExpiresIn: b.ExpiresIn, RateLimit: (*keyward.RateLimit)(b.RateLimit.Value),
		RateLimits: namedLimits(b.RateLimits), Roles: b.Roles, Remaining: b.Remaining.Value, Refill: (*keyward.Refill)(b.Refill.Value),
		AllowedCIDRs: b.AllowedCIDRs, Enabled: b.Enabled,
	}
}

// present is a Nullable that gives *v, or leaves the member out when v is
// nil: a body that creates something sends only what its params give.
func present[T any](v *T) keyward.Nullable[T] { return keyward.Nullable[T]{Set: v != nil, Value: v} }

// UpdateKeyBody is the body of PATCH /v1/keys/{id}: only the members present
// change; null clears the nullable ones.
type UpdateKeyBody struct {
	Name         *string                            `json:"name,omitempty"`
	Description  *string                            `json:"description,omitempty"`
	Owner        *string                            `json:"owner,omitempty"`
	Scopes       *[]string                          `json:"scopes,omitempty"`
	Metadata     json.RawMessage                    `json:"metadata,omitempty"`
	Enabled      *bool                              `json:"enabled,omitempty"`
	ExpiresAt    keyward.Nullable[time.Time]        `json:"expires_at,omitzero" doc:"In the future, within the maximum key lifetime if one is set; null removes the expiry (a 422 when a maximum is set). Not with expires_in."`
	ExpiresIn    keyward.Nullable[keyward.Duration] `json:"expires_in,omitzero" doc:"Renew: expire this long from now (within the maximum key lifetime if one is set); \"never\" or null removes the expiry (a 422 when a maximum is set)."`
	RateLimit    keyward.Nullable[RateLimitBody]    `json:"rate_limit,omitzero" doc:"Sets or clears (null) the entry of rate_limits named default."`
	RateLimits   *[]NamedRateLimitBody              `json:"rate_limits,omitempty" doc:"Replaces every limit, the default entry included (give rate_limit too to set it apart)."`
	Roles        *[]string                          `json:"roles,omitempty" doc:"Replaces the key's roles."`
	Remaining    keyward.Nullable[int64]            `json:"remaining,omitzero"`
	Refill       keyward.Nullable[RefillBody]       `json:"refill,omitzero"`
	AllowedCIDRs *[]string                          `json:"allowed_cidrs,omitempty"`
}

// NewUpdateKeyBody is the body that asks for p.
func NewUpdateKeyBody(p keyward.UpdateParams) UpdateKeyBody {
	return UpdateKeyBody{
		Name: p.Name, Description: p.Description, Owner: p.Owner, Scopes: p.Scopes, Metadata: p.Metadata,
		Enabled: p.Enabled, ExpiresAt: p.ExpiresAt, ExpiresIn: present(p.ExpiresIn),
		RateLimit:    keyward.Nullable[RateLimitBody]{Set: p.RateLimit.Set, Value: (*RateLimitBody)(p.RateLimit.Value)},
		RateLimits:   limitBodiesPtr(p.RateLimits),
		Roles:        p.Roles,
		Remaining:    p.Remaining,
		Refill:       keyward.Nullable[RefillBody]{Set: p.Refill.Set, Value: (*RefillBody)(p.Refill.Value)},
		AllowedCIDRs: p.AllowedCIDRs,
	}
}

// Params returns what the body asks for.
func (b UpdateKeyBody) Params() keyward.UpdateParams {
	return keyward.UpdateParams{
		Name: b.Name, Description: b.Description, Owner: b.Owner, Scopes: b.Scopes, Metadata: object(b.Metadata),
		Enabled: b.Enabled, ExpiresAt: b.ExpiresAt, ExpiresIn: expiresIn(b.ExpiresIn),
		RateLimit:    keyward.Nullable[keyward.RateLimit]{Set: b.RateLimit.Set, Value: (*keyward.RateLimit)(b.RateLimit.Value)},
		RateLimits:   namedLimitsPtr(b.RateLimits),
		Roles:        b.Roles,
		Remaining:    b.Remaining,
		Refill:       keyward.Nullable[keyward.Refill]{Set: b.Refill.Set, Value: (*keyward.Refill)(b.Refill.Value)},
		AllowedCIDRs: b.AllowedCIDRs,
	}
}

// expiresIn reads a PATCH's expires_in: null, like "never", removes the
// expiry (the contract's "null clears").
func expiresIn(n keyward.Nullable[keyward.Duration]) *keyward.Duration {
	if n.Set && n.Value == nil {
		return keyward.Ptr(keyward.Never)
	}
	return n.Value
}

// RotateBody is the optional body of POST /v1/keys/{id}/rotate.
type RotateBody struct {
	GracePeriod *keyward.Duration `json:"grace_period,omitempty" doc:"How long the old key keeps working; default 1h, 0s ends it now."`
	ExpiresAt   *time.Time        `json:"expires_at,omitempty" doc:"Expiry of the new key, within the maximum key lifetime if one is set. Default: the old key's if still in the future, shortened to the default key lifetime (else the maximum) if the policy sets one."`
	ExpiresIn   *keyward.Duration `json:"expires_in,omitempty" doc:"Expiry of the new key, this long from now; \"never\": no expiry (a 422 when a maximum key lifetime is set). Not with expires_at."`
}

// NewRotateBody is the body that asks for p.
func NewRotateBody(p keyward.RotateParams) RotateBody { return RotateBody(p) }

// Params returns what the body asks for; a nil body asks for the defaults.
func (b *RotateBody) Params() keyward.RotateParams {
	if b == nil {
		return keyward.RotateParams{}
	}
	return keyward.RotateParams(*b)
}
