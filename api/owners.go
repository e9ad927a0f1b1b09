package api

import (
	"encoding/json"

	"github.com/keyward/keyward"
)

// OwnerBody is the body of PUT /v1/owners/{name}: the whole record, omitted
// fields taking their defaults.
type OwnerBody struct {
	Metadata   json.RawMessage              `json:"metadata,omitempty"`
	RateLimits []NamedRateLimitBody         `json:"rate_limits,omitempty" nullable:"false" doc:"Counted across all the owner's keys: each admitted request spends its cost in each."`
	Remaining  keyward.Nullable[int64]      `json:"remaining,omitzero" minimum:"0" doc:"Credits shared by all the owner's keys; absent or null means none are counted at the owner."`
	Refill     keyward.Nullable[RefillBody] `json:"refill,omitzero" doc:"Needs remaining. null: none, as when left out."`
}

// NewOwnerBody is the body that asks for p.
func NewOwnerBody(p keyward.OwnerParams) OwnerBody {
	return OwnerBody{Metadata: p.Metadata, RateLimits: limitBodies(p.RateLimits), Remaining: present(p.Remaining), Refill: present((*RefillBody)(p.Refill))}
}

// Params returns what the body asks for; a nil body asks for the defaults.
func (b *OwnerBody) Params() keyward.OwnerParams {
	if b == nil {
		return keyward.OwnerParams{}
	}
	return keyward.OwnerParams{
		Metadata: object(b.Metadata), RateLimits: namedLimits(b.RateLimits), Remaining: b.Remaining.Value, Refill: (*keyward.Refill)(b.Refill.Value),
	}
}

// UpdateOwnerBody is the body of PATCH /v1/owners/{name}: only the members
// present change; null clears the nullable ones.
type UpdateOwnerBody struct {
	Metadata   json.RawMessage              `json:"metadata,omitempty"`
	RateLimits *[]NamedRateLimitBody        `json:"rate_limits,omitempty" doc:"Replaces every shared limit."`
	Remaining  keyward.Nullable[int64]      `json:"remaining,omitzero" doc:"The new balance of shared credits (a top-up); null stops counting credits at the owner."`
	Refill     keyward.Nullable[RefillBody] `json:"refill,omitzero"`
}

// NewUpdateOwnerBody is the body that asks for p.
func NewUpdateOwnerBody(p keyward.OwnerUpdate) UpdateOwnerBody {
	return UpdateOwnerBody{
		Metadata: p.Metadata, RateLimits: limitBodiesPtr(p.RateLimits), Remaining: p.Remaining,
		Refill: keyward.Nullable[RefillBody]{Set: p.Refill.Set, Value: (*RefillBody)(p.Refill.Value)},
	}
}

// Params returns what the body asks for.
func (b UpdateOwnerBody) Params() keyward.OwnerUpdate {
	return keyward.OwnerUpdate{
		Metadata: object(b.Metadata), RateLimits: namedLimitsPtr(b.RateLimits), Remaining: b.Remaining,
		Refill: keyward.Nullable[keyward.Refill]{Set: b.Refill.Set, Value: (*keyward.Refill)(b.Refill.Value)},
	}
}

// OwnerView is an owner record as the API shows it.
type OwnerView struct {
	keyward.Owner
}

// NewOwnerView shows o; its lists are never null, its metadata never.
func NewOwnerView(o *keyward.Owner) OwnerView {
	v := OwnerView{Owner: *o}
	v.RateLimits = nonNil(v.RateLimits)
	if len(v.Metadata) == 0 {
		v.Metadata = json.RawMessage(`{}`)
	}
	return v
}
