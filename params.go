package keyward

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
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
	RateLimit *RateLimit
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
	Name         *string
	Description  *string
	Owner        *string
	Scopes       *[]string
	Metadata     json.RawMessage
	Enabled      *bool
	ExpiresAt    Nullable[time.Time]
	ExpiresIn    *Duration
	RateLimit    Nullable[RateLimit]
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
	// Cost is the number of rate-limit units and credits to spend; nil
	// means 1, 0 checks without spending.
	Cost *int64
	// ClientIP is the caller's address, checked against allowed_cidrs; the
	// zero Addr means unknown.
	ClientIP netip.Addr
}

// Result is the outcome of a verification.
type Result struct {
	Outcome Outcome
	// Key is the verified key (read-only); nil for MALFORMED and NOT_FOUND.
	Key *Key
	// MissingScope is the first required scope not granted, for
	// INSUFFICIENT_SCOPE.
	MissingScope string
	// RateLimit is the state of the key's rate limit; its zero value means
	// the key has none.
	RateLimit RateDecision
	// Remaining is the credits left after this verification, -1 if the key
	// has no credit limit.
	Remaining int64
	// RetryAfter is when to try again, for RATE_LIMITED, and for
	// USAGE_EXCEEDED when a refill will restore credits; otherwise 0.
	RetryAfter time.Duration
}

// Valid reports whether the outcome is VALID.
func (r Result) Valid() bool { return r.Outcome == OutcomeValid }

// keyFields is the part of a key that create, update and rotate share, so one
// validation covers all of them.
type keyFields struct {
	name, description, owner string
	scopes                   []string
	metadata                 json.RawMessage
	rateLimit                *RateLimit
	remaining                *int64
	refill                   *Refill
	cidrs                    []string
}

func (f *keyFields) validate(p *problems) {
	if n := utf8.RuneCountInString(f.name); n == 0 || n > MaxNameLength {
		p.add("name", fmt.Sprintf("must be 1-%d characters", MaxNameLength))
	} else if !utf8.ValidString(f.name) || strings.ContainsFunc(f.name, isControl) {
		p.add("name", "must be valid UTF-8 without control characters")
	}
	if utf8.RuneCountInString(f.description) > MaxDescriptionLength || !utf8.ValidString(f.description) || strings.ContainsRune(f.description, 0) {
		p.add("description", fmt.Sprintf("must be valid UTF-8 of at most %d characters, without NUL", MaxDescriptionLength))
	}
	if utf8.RuneCountInString(f.owner) > MaxOwnerLength || !utf8.ValidString(f.owner) || strings.ContainsFunc(f.owner, isControl) {
		p.add("owner", fmt.Sprintf("must be at most %d characters without control characters", MaxOwnerLength))
	}
	if len(f.scopes) > MaxScopes {
		p.add("scopes", fmt.Sprintf("at most %d scopes", MaxScopes))
	}
	for i, s := range f.scopes {
		if msg := validateScope(s); msg != "" {
			p.add(fmt.Sprintf("scopes[%d]", i), msg)
		}
	}
	f.scopes = dedupe(f.scopes)
	if m, msg := normalizeMetadata(f.metadata); msg != "" {
		p.add("metadata", msg)
	} else {
		f.metadata = m
	}
	if rl := f.rateLimit; rl != nil {
		if rl.Limit < 1 {
			p.add("rate_limit.limit", "must be at least 1")
		}
		if d := time.Duration(rl.Period); d < MinRateLimitPeriod || d > MaxRateLimitPeriod {
			p.add("rate_limit.period", "must be between 1s and 8784h (366 days)")
		}
	}
	if f.remaining != nil && *f.remaining < 0 {
		p.add("remaining", "must be at least 0")
	}
	if r := f.refill; r != nil {
		if r.Interval != RefillDaily && r.Interval != RefillMonthly {
			p.add("refill.interval", `must be "daily" or "monthly"`)
		}
		if r.Amount < 1 {
			p.add("refill.amount", "must be at least 1")
		}
		if f.remaining == nil {
			p.add("refill", "needs remaining to be set")
		}
	}
	if len(f.cidrs) > MaxCIDRs {
		p.add("allowed_cidrs", fmt.Sprintf("at most %d entries", MaxCIDRs))
	}
	for i, c := range f.cidrs {
		norm, err := normalizeCIDR(c)
		if err != nil {
			p.add(fmt.Sprintf("allowed_cidrs[%d]", i), err.Error())
			continue
		}
		f.cidrs[i] = norm
	}
	f.cidrs = dedupe(f.cidrs)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// dedupe removes repeated strings, keeping the first of each; it never
// returns nil.
func dedupe(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// normalizeMetadata checks that m is a JSON object of at most 16 KiB and
// returns it compacted; nil becomes {}.
func normalizeMetadata(m json.RawMessage) (json.RawMessage, string) {
	if len(m) == 0 {
		return json.RawMessage("{}"), ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, m); err != nil {
		return nil, "must be a JSON object"
	}
	b := buf.Bytes()
	if b[0] != '{' {
		return nil, "must be a JSON object"
	}
	if bytes.Contains(b, []byte(`\u0000`)) {
		return nil, `must not contain NUL characters (\u0000)`
	}
	if len(b) > MaxMetadataBytes {
		return nil, fmt.Sprintf("must be at most %d bytes encoded (is %d)", MaxMetadataBytes, len(b))
	}
	return json.RawMessage(b), ""
}

// normalizeCIDR accepts a CIDR ("10.0.0.0/8") or a bare address (taken as
// /32 or /128) and returns the masked canonical form.
func normalizeCIDR(s string) (string, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", fmt.Errorf("not a valid CIDR: %q", s)
		}
		return p.Masked().String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("not a valid CIDR or address: %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()).String(), nil
}

// addressAllowed reports whether addr falls in one of the CIDRs; an unknown
// (zero) address never does.
func addressAllowed(cidrs []string, addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// expiry resolves an expires_at / expires_in pair against now.
func expiry(at *time.Time, in *Duration, now time.Time, p *problems) *time.Time {
	switch {
	case at != nil && in != nil:
		p.add("expires_in", "give expires_at or expires_in, not both")
	case at != nil:
		t := at.UTC().Truncate(time.Millisecond)
		if !t.After(now) {
			p.add("expires_at", "must be in the future")
			return nil
		}
		return &t
	case in != nil:
		if *in <= 0 {
			p.add("expires_in", "must be a positive duration")
			return nil
		}
		t := now.Add(time.Duration(*in)).Truncate(time.Millisecond)
		return &t
	}
	return nil
}
