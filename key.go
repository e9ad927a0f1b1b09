package keyward

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Key is the stored record of an API key. It never holds the secret: only
// Hash, which never marshals to JSON.
//
// A *Key returned by a Store may be shared by a cache and by concurrent
// verifications: treat it as read-only and use [Key.Clone] before changing it.
type Key struct {
	ID          string          `json:"id"`
	Prefix      string          `json:"prefix"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Owner       string          `json:"owner"`
	Scopes      []string        `json:"scopes"`
	Metadata    json.RawMessage `json:"metadata"`
	Enabled     bool            `json:"enabled"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	ExpiresAt   *time.Time      `json:"expires_at"`
	LastUsedAt  *time.Time      `json:"last_used_at"`
	RevokedAt   *time.Time      `json:"revoked_at"`
	// RateLimit is the entry of RateLimits named "default" (nil when there
	// is none); the Service keeps the two in step.
	RateLimit *RateLimit `json:"rate_limit"`
	// RateLimits are every limit of the key, "default" first when it is set.
	RateLimits []NamedRateLimit `json:"rate_limits"`
	// Roles name roles whose scopes the key has too (see [Role]).
	Roles []string `json:"roles"`
	// Remaining is the number of credits left; nil means unlimited.
	Remaining    *int64   `json:"remaining"`
	Refill       *Refill  `json:"refill"`
	AllowedCIDRs []string `json:"allowed_cidrs"`
	ReplacedBy   *string  `json:"replaced_by"`
	Replaces     *string  `json:"replaces"`

	// Hash is the self-describing hash string of the secret (see [Hasher]).
	Hash string `json:"-"`
	// RefilledAt is the start of the refill period that last reset
	// Remaining; stores keep it so that a refill happens once per period.
	RefilledAt *time.Time `json:"-"`

	memo *verifyMemo // see EnableVerifyMemo
}

// RateLimit admits at most Limit units in any window of Period.
type RateLimit struct {
	Limit  int64    `json:"limit"`
	Period Duration `json:"period"`
}

// Refill intervals.
const (
	RefillDaily   = "daily"
	RefillMonthly = "monthly"
)

// Refill resets Remaining to Amount at the start of each UTC day or month.
type Refill struct {
	Interval string `json:"interval"`
	Amount   int64  `json:"amount"`
}

// Status is the state of a key for filters and display.
type Status string

// Key states; see [Key.Status].
const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
	StatusRevoked  Status = "revoked"
	StatusExpired  Status = "expired"
)

// Valid reports whether s is one of the four states.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusDisabled, StatusRevoked, StatusExpired:
		return true
	}
	return false
}

// Status returns revoked if the key is revoked, else expired if expires_at is
// at or before now, else disabled if not enabled, else active.
func (k *Key) Status(now time.Time) Status {
	switch {
	case k.RevokedAt != nil:
		return StatusRevoked
	case k.Expired(now):
		return StatusExpired
	case !k.Enabled:
		return StatusDisabled
	}
	return StatusActive
}

// Expired reports whether the key has an expiry at or before now.
func (k *Key) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// Clone returns a deep copy of k.
func (k *Key) Clone() *Key {
	c := *k
	c.Scopes = slices.Clone(k.Scopes)
	c.Metadata = slices.Clone(k.Metadata)
	c.AllowedCIDRs = slices.Clone(k.AllowedCIDRs)
	c.RateLimits = slices.Clone(k.RateLimits)
	c.Roles = slices.Clone(k.Roles)
	c.ExpiresAt = clonePtr(k.ExpiresAt)
	c.LastUsedAt = clonePtr(k.LastUsedAt)
	c.RevokedAt = clonePtr(k.RevokedAt)
	c.RefilledAt = clonePtr(k.RefilledAt)
	c.RateLimit = clonePtr(k.RateLimit)
	c.Remaining = clonePtr(k.Remaining)
	c.Refill = clonePtr(k.Refill)
	c.ReplacedBy = clonePtr(k.ReplacedBy)
	c.Replaces = clonePtr(k.Replaces)
	c.memo = nil
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Ptr returns a pointer to v: handy for the optional fields of params.
func Ptr[T any](v T) *T { return &v }

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("90s", "1h30m"), or "never" for [Never].
type Duration time.Duration

// Never, given as a key's expires_in, gives it no expiry: it opts a new key
// out of the default key lifetime (see [Policy]). It reads and writes as
// "never"; anywhere else a duration is expected it is refused as negative.
const Never Duration = math.MinInt64

// String returns the Go duration string, or "never" for [Never].
func (d Duration) String() string {
	if d == Never {
		return "never"
	}
	return time.Duration(d).String()
}

// MarshalText encodes d as a Go duration string, or "never".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes a Go duration string such as "720h", or "never".
func (d *Duration) UnmarshalText(b []byte) error {
	if string(b) == "never" {
		*d = Never
		return nil
	}
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a Go duration (like \"90s\" or \"720h\"): %q", b)
	}
	*d = Duration(v)
	return nil
}

// refillPeriodStart returns the start of the UTC day or month holding now.
func refillPeriodStart(interval string, now time.Time) time.Time {
	now = now.UTC()
	if interval == RefillMonthly {
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

// nextRefill returns when the next refill period starts after now.
func nextRefill(interval string, now time.Time) time.Time {
	start := refillPeriodStart(interval, now)
	if interval == RefillMonthly {
		return start.AddDate(0, 1, 0)
	}
	return start.AddDate(0, 0, 1)
}

// RefillDue reports whether, at now, the key's credits are due for a refill
// (a refill is set and the current period has not been refilled yet).
func (k *Key) RefillDue(now time.Time) bool {
	return refillDue(k.Refill, k.Remaining, k.RefilledAt, now)
}

// refillDue reports whether credits with that refill, last refilled at
// refilledAt, are due for a refill at now.
func refillDue(r *Refill, remaining *int64, refilledAt *time.Time, now time.Time) bool {
	if r == nil || remaining == nil {
		return false
	}
	return refilledAt == nil || refilledAt.Before(refillPeriodStart(r.Interval, now))
}

// RefillBoundaries returns the starts of the UTC day and month holding now;
// stores use them in the atomic credit update (see [Store.SpendCredits]).
func RefillBoundaries(now time.Time) (day, month time.Time) {
	return refillPeriodStart(RefillDaily, now), refillPeriodStart(RefillMonthly, now)
}
