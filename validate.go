package keyward

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// keyFields is the part of a key that create, update and rotate share, so one
// validation covers all of them.
type keyFields struct {
	name, description, owner string
	scopes                   []string
	metadata                 json.RawMessage
	rateLimit                *RateLimit       // the "default" entry, when given apart
	rateLimits               []NamedRateLimit // the other entries (or all, when rateLimit is nil)
	remaining                *int64
	refill                   *Refill
	cidrs                    []string
	roles                    []string
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
	f.scopes = validateScopes(f.scopes, p)
	if m, msg := normalizeMetadata(f.metadata); msg != "" {
		p.add("metadata", msg)
	} else {
		f.metadata = m
	}
	if rl := f.rateLimit; rl != nil {
		validateRateLimit("rate_limit", rl.Limit, rl.Period, p)
	}
	validateRateLimits("rate_limits", f.rateLimits, p)
	named := len(f.rateLimits)
	f.rateLimits, f.rateLimit = mergeRateLimits(f.rateLimit, f.rateLimits, p), nil
	if named <= MaxRateLimits && len(f.rateLimits) > MaxRateLimits {
		p.add("rate_limits", fmt.Sprintf("at most %d rate limits, rate_limit (the %q entry) included", MaxRateLimits, DefaultLimitName))
	}
	validateCredits(f.remaining, f.refill, p)
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
	if len(f.roles) > MaxKeyRoles {
		p.add("roles", fmt.Sprintf("at most %d roles", MaxKeyRoles))
	}
	for i, r := range f.roles {
		if !validRoleName(r) {
			p.add(fmt.Sprintf("roles[%d]", i), "must match [a-z0-9][a-z0-9:_.-]{0,63}")
		}
	}
	f.roles = dedupe(f.roles)
}

// validateScopes checks a list of scopes and returns it without repeats.
func validateScopes(scopes []string, p *problems) []string {
	if len(scopes) > MaxScopes {
		p.add("scopes", fmt.Sprintf("at most %d scopes", MaxScopes))
	}
	for i, s := range scopes {
		if msg := validateScope(s); msg != "" {
			p.add(fmt.Sprintf("scopes[%d]", i), msg)
		}
	}
	return dedupe(scopes)
}

// validateCredits checks remaining credits and their refill, as keys and
// owners have them.
func validateCredits(remaining *int64, refill *Refill, p *problems) {
	if remaining != nil && *remaining < 0 {
		p.add("remaining", "must be at least 0")
	}
	if r := refill; r != nil {
		if r.Interval != RefillDaily && r.Interval != RefillMonthly {
			p.add("refill.interval", `must be "daily" or "monthly"`)
		}
		if r.Amount < 1 {
			p.add("refill.amount", "must be at least 1")
		}
		if remaining == nil {
			p.add("refill", "needs remaining to be set")
		}
	}
}

// limits returns the validated list of limits and its "default" entry.
func (f *keyFields) limits() ([]NamedRateLimit, *RateLimit) {
	return f.rateLimits, defaultRateLimit(f.rateLimits)
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
			return "", errors.New("not a valid CIDR") // never the value: it may be a secret pasted in the wrong field
		}
		return unmapPrefix(p).Masked().String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", errors.New("not a valid CIDR or address")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()).String(), nil
}

// unmapPrefix writes a prefix of IPv4-mapped IPv6 addresses
// (::ffff:10.0.0.0/104) as the IPv4 prefix it is (10.0.0.0/8): client
// addresses are compared unmapped, so the mapped form would match none.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
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
		if err == nil && unmapPrefix(p).Contains(addr) { // stored before prefixes were unmapped
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
