package api

import (
	"time"

	"github.com/keyward/keyward"
)

// PolicyBody is the key lifetime policy: the answer of GET /v1/policy.
type PolicyBody struct {
	DefaultKeyLifetime *keyward.Duration `json:"default_key_lifetime" required:"true" nullable:"true" doc:"How long a key created without expires_at or expires_in lives (keyward serve --default-key-lifetime); null: no default, such a key does not expire."`
	MaxKeyLifetime     *keyward.Duration `json:"max_key_lifetime" required:"true" nullable:"true" doc:"The longest a create, update, rotate or import may let a key live (keyward serve --max-key-lifetime); null: no maximum."`
}

// NewPolicyBody shows p.
func NewPolicyBody(p keyward.Policy) PolicyBody {
	return PolicyBody{DefaultKeyLifetime: (*keyward.Duration)(p.DefaultKeyLifetime), MaxKeyLifetime: (*keyward.Duration)(p.MaxKeyLifetime)}
}

// Policy returns the policy the body shows.
func (b PolicyBody) Policy() keyward.Policy {
	return keyward.Policy{DefaultKeyLifetime: (*time.Duration)(b.DefaultKeyLifetime), MaxKeyLifetime: (*time.Duration)(b.MaxKeyLifetime)}
}

// HygieneBody counts the active keys that deserve a look: the answer of
// GET /v1/stats/hygiene. Each count is the number of keys GET /v1/keys lists
// with status=active and one filter.
type HygieneBody struct {
	NeverUsed     int64            `json:"never_used" doc:"Active keys never used (never_used=true)."`
	Unused        int64            `json:"unused" doc:"Active keys not used for unused_for (unused_for=<unused_for>)."`
	UnusedFor     keyward.Duration `json:"unused_for" doc:"The window of unused: 2160h (90 days)."`
	Expiring      int64            `json:"expiring" doc:"Active keys that expire within expires_within (expires_within=<expires_within>)."`
	ExpiresWithin keyward.Duration `json:"expires_within" doc:"The window of expiring: 168h (7 days)."`
	NoExpiry      int64            `json:"no_expiry" doc:"Active keys without expiry (no_expiry=true)."`
}

// NewHygieneBody shows h.
func NewHygieneBody(h keyward.Hygiene) HygieneBody { return HygieneBody(h) }

// Hygiene returns the counts the body shows.
func (b HygieneBody) Hygiene() keyward.Hygiene { return keyward.Hygiene(b) }
