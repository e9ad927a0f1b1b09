package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// keyFlags are the settings of create and update.
type keyFlags struct {
	description, owner, metadata, prefix string
	scopes, cidrs, roles                 []string
	rateLimits                           []string
	expiresIn, expiresAt                 string
	refill                               string
	remaining                            int64
	disabled                             bool

	limits rateLimitFlags // rateLimits, parsed
}

func (f *keyFlags) register(cmd *cobra.Command, create bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.description, "description", "", "what the key is for")
	fl.StringVar(&f.owner, "owner", "", "who the key belongs to (user, team, tenant)")
	fl.StringArrayVar(&f.scopes, "scope", nil, "a granted scope (repeat for more); \"res:*\" grants every res: scope")
	fl.StringVar(&f.metadata, "metadata", "", `a JSON object, e.g. '{"plan":"pro"}'`)
	fl.StringVar(&f.expiresIn, "expires-in", "", `expire after this Go duration, e.g. 720h; "never": no expiry, even under a default key lifetime (refused under a maximum; see keyward policy)`)
	fl.StringVar(&f.expiresAt, "expires-at", "", "expire at this RFC 3339 time")
	fl.StringArrayVar(&f.rateLimits, "rate-limit", nil, rateLimitUsage)
	fl.StringArrayVar(&f.roles, "role", nil, "a role whose scopes the key gets too (repeat for more); it must exist (keyward roles put)")
	fl.Int64Var(&f.remaining, "remaining", 0, "credits: uses left (default unlimited)")
	fl.StringVar(&f.refill, "refill", "", "reset credits each day or month, e.g. daily:1000 or monthly:50000")
	fl.StringArrayVar(&f.cidrs, "allowed-cidr", nil, "a CIDR the client address must be in (repeat for more)")
	if create {
		fl.StringVar(&f.prefix, "prefix", "", "prefix of the key string (default kw), e.g. sk_live")
		fl.BoolVar(&f.disabled, "disabled", false, "create the key disabled")
	}
}

func parseRefill(s string) (*keyward.Refill, error) {
	iv, n, ok := strings.Cut(s, ":")
	amount, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil {
		return nil, usagef("--refill %q: want daily:N or monthly:N", s)
	}
	return &keyward.Refill{Interval: iv, Amount: amount}, nil
}

func parseExpiry(in, at string) (*keyward.Duration, *time.Time, error) {
	var d *keyward.Duration
	var t *time.Time
	if in != "" {
		v, err := parseExpiresIn(in)
		if err != nil {
			return nil, nil, err
		}
		d = v
	}
	if at != "" {
		v, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return nil, nil, usagef("--expires-at %q: want an RFC 3339 time, e.g. 2027-01-31T00:00:00Z", at)
		}
		t = &v
	}
	return d, t, nil
}

// fields names the flags of the problems the Service finds in a key's
// settings, once the flags are parsed.
func (f *keyFlags) fields() fieldFlags {
	ff := fieldFlags{"roles": {flag: "--role", values: f.roles}, "scopes": {flag: "--scope", values: f.scopes},
		"allowed_cidrs": {flag: "--allowed-cidr", values: f.cidrs}}
	f.limits.keyFields(ff)
	return ff
}

// parseLists parses --rate-limit and drops repeated --role values.
func (f *keyFlags) parseLists() error {
	f.roles = uniq(f.roles)
	var err error
	f.limits, err = parseRateLimits(f.rateLimits)
	return err
}

// createParams turns the flags of keys create into the Service's parameters.
func (f *keyFlags) createParams(name string, changed func(string) bool) (keyward.CreateParams, error) {
	p := keyward.CreateParams{Name: name, Description: f.description, Owner: f.owner, Scopes: f.scopes, Prefix: f.prefix, AllowedCIDRs: f.cidrs}
	if err := f.parseLists(); err != nil {
		return p, err
	}
	p.RateLimit, p.RateLimits, p.Roles = f.limits.def, f.limits.named, f.roles
	if f.metadata != "" {
		p.Metadata = json.RawMessage(f.metadata)
	}
	var err error
	if p.ExpiresIn, p.ExpiresAt, err = parseExpiry(f.expiresIn, f.expiresAt); err != nil {
		return p, err
	}
	if changed("remaining") {
		p.Remaining = &f.remaining
	}
	if f.refill != "" {
		if p.Refill, err = parseRefill(f.refill); err != nil {
			return p, err
		}
	}
	if f.disabled {
		p.Enabled = keyward.Ptr(false)
	}
	return p, nil
}

// updateFlags are the flags of keys update: the settings of create, a new
// name, and the switches that clear a setting.
type updateFlags struct {
	keyFlags
	name                                                        string
	enable, disable, noExpiry, noRateLimit, unlimited, noRefill bool
	clearScopes, clearCIDRs, noRoles                            bool
}

func (f *updateFlags) register(cmd *cobra.Command) {
	f.keyFlags.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "a new name")
	fl.BoolVar(&f.enable, "enable", false, "enable the key")
	fl.BoolVar(&f.disable, "disable", false, "disable the key (it can be enabled again)")
	fl.BoolVar(&f.noExpiry, "no-expiry", false, "remove the expiry")
	fl.BoolVar(&f.noRateLimit, "no-rate-limit", false, "remove every rate limit")
	fl.BoolVar(&f.noRoles, "no-roles", false, "remove every role")
	fl.BoolVar(&f.unlimited, "unlimited", false, "remove the credit limit")
	fl.BoolVar(&f.noRefill, "no-refill", false, "remove the refill")
	fl.BoolVar(&f.clearScopes, "clear-scopes", false, "remove every scope")
	fl.BoolVar(&f.clearCIDRs, "clear-allowed-cidrs", false, "allow every address")
}

// params turns the flags given (changed reports which) into the Service's
// parameters; the settings of flags not given stay as they are.
func (f *updateFlags) params(changed func(string) bool) (keyward.UpdateParams, error) {
	var p keyward.UpdateParams
	if err := contradiction(changed, [2]string{"enable", "disable"}, [2]string{"scope", "clear-scopes"},
		[2]string{"allowed-cidr", "clear-allowed-cidrs"}, [2]string{"expires-at", "no-expiry"}, [2]string{"expires-in", "no-expiry"},
		[2]string{"rate-limit", "no-rate-limit"}, [2]string{"role", "no-roles"}, [2]string{"remaining", "unlimited"},
		[2]string{"refill", "no-refill"}); err != nil {
		return p, err
	}
	if changed("name") {
		p.Name = &f.name
	}
	if changed("description") {
		p.Description = &f.description
	}
	if changed("owner") {
		p.Owner = &f.owner
	}
	if changed("scope") || f.clearScopes {
		p.Scopes = &f.scopes
	}
	if changed("allowed-cidr") || f.clearCIDRs {
		p.AllowedCIDRs = &f.cidrs
	}
	if f.metadata != "" {
		p.Metadata = json.RawMessage(f.metadata)
	}
	if f.enable || f.disable {
		p.Enabled = keyward.Ptr(f.enable)
	}
	in, at, err := parseExpiry(f.expiresIn, f.expiresAt)
	if err != nil {
		return p, err
	}
	p.ExpiresIn = in
	if at != nil {
		p.ExpiresAt = keyward.SetTo(*at)
	}
	if f.noExpiry {
		p.ExpiresAt = keyward.Clear[time.Time]()
	}
	if err := f.limitsAndRoles(&p); err != nil {
		return p, err
	}
	p.Remaining, p.Refill, err = creditUpdate(changed("remaining"), f.remaining, f.unlimited, f.refill, f.noRefill)
	return p, err
}

// contradiction returns the bad usage of the first pair of flags given
// together: a setting and the switch that clears it, or two switches that
// undo each other.
func contradiction(changed func(string) bool, pairs ...[2]string) error {
	for _, c := range pairs {
		if changed(c[0]) && changed(c[1]) {
			return usagef("--%s and --%s contradict each other", c[0], c[1])
		}
	}
	return nil
}

// creditUpdate returns the changes to credits and their refill that the
// flags of keys update or owners update ask for: set (--remaining given)
// sets the credits to remaining, unset removes them; refill, if not "", sets
// the refill (daily:N or monthly:N), noRefill removes it. What no flag
// names stays unset (unchanged).
func creditUpdate(set bool, remaining int64, unset bool, refill string, noRefill bool) (keyward.Nullable[int64], keyward.Nullable[keyward.Refill], error) {
	var n keyward.Nullable[int64]
	var r keyward.Nullable[keyward.Refill]
	if set {
		n = keyward.SetTo(remaining)
	}
	if unset {
		n = keyward.Clear[int64]()
	}
	if refill != "" {
		parsed, err := parseRefill(refill)
		if err != nil {
			return n, r, err
		}
		r = keyward.SetTo(*parsed)
	}
	if noRefill {
		r = keyward.Clear[keyward.Refill]()
	}
	return n, r, nil
}

// limitsAndRoles sets the rate limits and roles of p from the flags: any
// --rate-limit replaces the key's whole list of limits, --no-rate-limit
// clears it, and --role replaces the list of roles, --no-roles clears it.
func (f *updateFlags) limitsAndRoles(p *keyward.UpdateParams) error {
	if err := f.parseLists(); err != nil {
		return err
	}
	if len(f.rateLimits) > 0 || f.noRateLimit {
		named := append([]keyward.NamedRateLimit{}, f.limits.named...)
		p.RateLimits = &named
		if f.limits.def != nil {
			p.RateLimit = keyward.SetTo(*f.limits.def)
		}
	}
	if len(f.roles) > 0 || f.noRoles {
		roles := append([]string{}, f.roles...)
		p.Roles = &roles
	}
	return nil
}
