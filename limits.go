package keyward

import (
	"fmt"
	"time"
)

// Limits on rate limits.
const (
	// MaxRateLimits is the most named rate limits a key or an owner has.
	MaxRateLimits = 8
	// MaxLimitNameLength is the longest name of a rate limit.
	MaxLimitNameLength = 32
	// DefaultLimitName names the entry of a key's rate_limits that its
	// rate_limit field reads and writes.
	DefaultLimitName = "default"
)

// NamedRateLimit is one entry of a key's or an owner's rate_limits: at most
// Limit units in any window of Period. Every limit of a key and of its owner
// must admit a request.
type NamedRateLimit struct {
	Name   string   `json:"name"`
	Limit  int64    `json:"limit"`
	Period Duration `json:"period"`
}

// RateLimit returns the limit without its name.
func (n NamedRateLimit) RateLimit() RateLimit { return RateLimit{Limit: n.Limit, Period: n.Period} }

// validLimitName reports whether s matches [a-z0-9][a-z0-9_-]{0,31}.
func validLimitName(s string) bool {
	if s == "" || len(s) > MaxLimitNameLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// validateRateLimit checks one limit; field is its JSON location.
func validateRateLimit(field string, limit int64, period Duration, p *problems) {
	if limit < 1 {
		p.add(field+".limit", "must be at least 1")
	}
	if d := time.Duration(period); d < MinRateLimitPeriod || d > MaxRateLimitPeriod {
		p.add(field+".period", "must be between 1s and 8784h (366 days)")
	}
}

// validateRateLimits checks a list of named limits (field is its JSON name).
func validateRateLimits(field string, list []NamedRateLimit, p *problems) {
	if len(list) > MaxRateLimits {
		p.add(field, fmt.Sprintf("at most %d rate limits", MaxRateLimits))
	}
	seen := make(map[string]bool, len(list))
	for i, l := range list {
		at := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !validLimitName(l.Name):
			p.add(at+".name", "must match [a-z0-9][a-z0-9_-]{0,31}")
		case seen[l.Name]:
			p.add(at+".name", fmt.Sprintf("%q is named twice; names are unique within the list", l.Name))
		}
		seen[l.Name] = true
		validateRateLimit(at, l.Limit, l.Period, p)
	}
}

// mergeRateLimits builds a key's list of limits from its rate_limit (the
// "default" entry, first) and rate_limits, refusing a default given twice.
func mergeRateLimits(def *RateLimit, list []NamedRateLimit, p *problems) []NamedRateLimit {
	out := make([]NamedRateLimit, 0, len(list)+1)
	if def != nil {
		for _, l := range list {
			if l.Name == DefaultLimitName {
				p.add("rate_limit", `give rate_limit or a "default" entry in rate_limits, not both`)
				return list
			}
		}
		out = append(out, NamedRateLimit{Name: DefaultLimitName, Limit: def.Limit, Period: def.Period})
	}
	return append(out, list...)
}

// defaultRateLimit returns the "default" entry of list as a RateLimit, or nil.
func defaultRateLimit(list []NamedRateLimit) *RateLimit {
	for _, l := range list {
		if l.Name == DefaultLimitName {
			rl := l.RateLimit()
			return &rl
		}
	}
	return nil
}
