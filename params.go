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
	// UnusedFor, if positive, keeps keys not used for that long: last used
	// longer ago, or never used and created longer ago.
	UnusedFor time.Duration
	// ExpiresWithin, if positive, keeps keys that expire within that time
	// from now (keys already expired are not kept).
	ExpiresWithin time.Duration
	// NeverUsed keeps keys never used.
	NeverUsed bool
	// NoExpiry keeps keys without expiry.
	NoExpiry bool
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
