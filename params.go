package keyward

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Limits on key fields.
const (
	MaxNameLength        = 200
	MaxDescriptionLength = 2000
	MaxOwnerLength       = 200
	MaxMetadataBytes     = 16 << 10
	MaxCIDRs             = 100
	MaxRateLimitPeriod   = 366 * 24 * time.Hour
	MinRateLimitPeriod   = time.Second
	// DefaultGracePeriod is how long a rotated key keeps working by default.
	DefaultGracePeriod = time.Hour
)

// CreateParams describes a new key. Only Name is required.
type CreateParams struct {
	Name        string
	Description string
	Owner       string
	Scopes      []string
	// Metadata must be a JSON object of at most 16 KiB; nil means {}.
	Metadata json.RawMessage
	// Prefix of the key string; "" means the Service's default.
	Prefix string
	// ExpiresAt (in the future) or ExpiresIn (positive), not both.
	ExpiresAt *time.Time
	ExpiresIn *Duration
	// RateLimit is the "default" entry of the key's limits; it may not be
	// given together with a "default" entry in RateLimits.
	RateLimit  *RateLimit
	RateLimits []NamedRateLimit
	// Roles name existing roles whose scopes the key gets too.
	Roles []string
	// Remaining credits; nil means unlimited.
	Remaining *int64
	// Refill needs Remaining.
	Refill       *Refill
	AllowedCIDRs []string
	// Enabled; nil means true.
	Enabled *bool
}

// Nullable is an optional update of a field that may be null: Set reports
// whether the field is changed; a nil Value clears it.
//
// In JSON it is the value or null; an absent member leaves it unset. Tag
// the field `json:",omitzero"` so that an unset Nullable is left out.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// MarshalJSON writes Value, or null when it is nil.
func (n Nullable[T]) MarshalJSON() ([]byte, error) {
	if n.Value == nil {
		return []byte("null"), nil
	}
	return json.Marshal(n.Value)
}

// UnmarshalJSON records that the member is present (encoding/json calls it
// for null too): null clears Value, anything else is decoded into it.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set, n.Value = true, nil
	if string(b) == "null" {
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// IsZero reports whether n is unset, so that omitzero leaves it out.
func (n Nullable[T]) IsZero() bool { return !n.Set }

// SetTo returns a Nullable that sets the field to v.
func SetTo[T any](v T) Nullable[T] { return Nullable[T]{Set: true, Value: &v} }

// Clear returns a Nullable that sets the field to null.
func Clear[T any]() Nullable[T] { return Nullable[T]{Set: true} }

// UpdateParams changes some fields of a key; nil and unset fields stay.
type UpdateParams struct {
	Name        *string
	Description *string
	Owner       *string
	Scopes      *[]string
	Metadata    json.RawMessage
	Enabled     *bool
	ExpiresAt   Nullable[time.Time]
	ExpiresIn   *Duration
	// RateLimit sets or clears the "default" entry of the key's limits.
	RateLimit Nullable[RateLimit]
	// RateLimits, if not nil, replaces the whole list of limits, the
	// "default" entry included (give RateLimit too to set it apart).
	RateLimits   *[]NamedRateLimit
	Roles        *[]string
	Remaining    Nullable[int64]
	Refill       Nullable[Refill]
	AllowedCIDRs *[]string
}

// RotateParams tunes [Service.Rotate].
type RotateParams struct {
	// GracePeriod is how long the old key keeps working; nil means
	// DefaultGracePeriod, 0 ends it now.
	GracePeriod *Duration
	// ExpiresAt or ExpiresIn set the new key's expiry (not both); by default
	// it keeps the old key's expiry if that is still in the future.
	ExpiresAt *time.Time
	ExpiresIn *Duration
}

// Page sizes of [Service.List] and [Service.Audit], and the longest cursor
// they accept.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
	MaxCursorLength = 64
)

// ListParams selects a page of keys for [Service.List].
type ListParams struct {
	Owner  string
	Status Status
	// Query keeps keys whose name contains it, ignoring case.
	Query string
	// Cursor is the NextCursor of the previous page, or "".
	Cursor string
	// Limit is 1 to MaxPageSize; 0 means DefaultPageSize.
	Limit int
}

// Page is one page of keys. NextCursor is "" when no keys follow.
type Page struct {
	Items      []*Key `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Issued is a key just created or rotated, with its full key string. This is
// the only time the secret is available.
type Issued struct {
	Key    *Key   `json:"key"`
	Secret string `json:"secret"`
}

// VerifyRequest is what [Service.Verify] checks.
type VerifyRequest struct {
	// Key is the full key string presented by the caller.
	Key string
	// Scopes are all required.
	Scopes []string
	// AnyScope, if not empty, requires at least one of these scopes too.
	AnyScope []string
	// ScopeQuery, if not nil, must hold too (see [ParseScopeQuery]).
	ScopeQuery *ScopeQuery
	// Cost is the number of rate-limit units and credits to spend; nil
	// means 1, 0 checks without spending.
	Cost *int64
	// ClientIP is the caller's address, checked against allowed_cidrs; the
	// zero Addr means unknown.
	ClientIP netip.Addr
}

// LimitState is the state of one rate limit after a verification.
type LimitState struct {
	// Name is the limit's name ("default" for a key's rate_limit).
	Name string
	// Owner reports whether the limit is the owner's (shared by its keys)
	// rather than the key's.
	Owner bool
	RateDecision
}

// Result is the outcome of a verification.
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
	// the key has no credit limit.
	Remaining int64
	// OwnerRemaining is the owner's credits left, -1 if there are none.
	OwnerRemaining int64
	// RetryAfter is when to try again, for RATE_LIMITED (the longest wait
	// among the limits that refused), and for USAGE_EXCEEDED when a refill
	// will restore credits; otherwise 0.
	RetryAfter time.Duration

	limits  [MaxRateChecks]LimitState
	nlimits uint8
	roles   [MaxKeyRoles]*Role // the key's roles, read for the scope checks
	nroles  uint8
	scopes  []string // effective scopes given by SetEffectiveScopes
}

// EffectiveScopes returns the verified key's effective scopes: its own, then
// those of its roles, each once (nil when there is no key). It allocates
// only for a key with roles.
func (r *Result) EffectiveScopes() []string {
	switch {
	case r.scopes != nil:
		return r.scopes
	case r.Key == nil:
		return nil
	case r.nroles == 0:
		return r.Key.Scopes
	}
	out := append([]string(nil), r.Key.Scopes...)
	for _, role := range r.roles[:r.nroles] {
		out = append(out, role.Scopes...)
	}
	return dedupe(out)
}

// SetEffectiveScopes records the key's effective scopes, for a Verifier that
// learns them from elsewhere (package client, from the server's answer).
func (r *Result) SetEffectiveScopes(scopes []string) { r.scopes = scopes }

// SetRateLimits records the state of every rate limit checked (at most
// MaxRateChecks; more are dropped), for a Verifier that learns them from
// elsewhere (package client, from the server's answer), as
// [Result.SetEffectiveScopes] does for scopes. RateLimit is left as it is:
// set it to the state with the fewest units left.
func (r *Result) SetRateLimits(limits []LimitState) {
	r.nlimits = uint8(copy(r.limits[:], limits))
}

// RateLimits returns the state of every rate limit checked, the key's
// first, then the owner's. With cost 0 the limits spend nothing but still
// report their state. The slice points into r: copy it to keep it longer.
func (r *Result) RateLimits() []LimitState { return r.limits[:r.nlimits] }

// Valid reports whether the outcome is VALID.
func (r Result) Valid() bool { return r.Outcome == OutcomeValid }
