package main

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// rateLimitUsage is the help of --rate-limit on keys and owners.
const rateLimitUsage = "[NAME=]N/PERIOD: at most N per period, e.g. 100/1m; repeat with names for more limits, all of which must admit a request, e.g. burst=10/1s (without NAME= it is the \"default\" limit)"

// rateLimitFlags are the values of a repeated --rate-limit, parsed: the
// "default" limit (given without NAME=, or as default=) apart from the named
// ones, each with the value it came from, for messages.
type rateLimitFlags struct {
	def      *keyward.RateLimit
	defRaw   string
	named    []keyward.NamedRateLimit
	namedRaw []string
}

// parseRateLimits parses the values of --rate-limit, in order.
func parseRateLimits(values []string) (rateLimitFlags, error) {
	var r rateLimitFlags
	for _, s := range values {
		name, rl, err := parseRateLimit(s)
		if err != nil {
			return r, err
		}
		if name != keyward.DefaultLimitName {
			r.named = append(r.named, keyward.NamedRateLimit{Name: name, Limit: rl.Limit, Period: rl.Period})
			r.namedRaw = append(r.namedRaw, s)
			continue
		}
		if r.def != nil {
			return r, usagef("--rate-limit %q and %q both set the %q limit: name the others, e.g. burst=10/1s", r.defRaw, s, keyward.DefaultLimitName)
		}
		r.def, r.defRaw = &rl, s
	}
	return r, nil
}

// parseRateLimit parses one [NAME=]N/PERIOD; the name is "default" when
// none is given.
func parseRateLimit(s string) (string, keyward.RateLimit, error) {
	name, spec, named := strings.Cut(s, "=")
	if !named {
		name, spec = keyward.DefaultLimitName, s
	}
	n, period, ok := strings.Cut(spec, "/")
	limit, err := strconv.ParseInt(n, 10, 64)
	if name == "" || !ok || err != nil {
		return "", keyward.RateLimit{}, usagef("--rate-limit %q: want [NAME=]N/PERIOD, e.g. 100/1m or burst=10/1s", s)
	}
	d, err := time.ParseDuration(period)
	if err != nil {
		return "", keyward.RateLimit{}, usagef("--rate-limit %q: the period must be a Go duration, e.g. 1m", s)
	}
	return name, keyward.RateLimit{Limit: limit, Period: keyward.Duration(d)}, nil
}

// all returns every limit as one list, the "default" limit first, and the
// values they came from in the same order.
func (r rateLimitFlags) all() ([]keyward.NamedRateLimit, []string) {
	list := make([]keyward.NamedRateLimit, 0, len(r.named)+1)
	raw := make([]string, 0, len(r.named)+1)
	if r.def != nil {
		list = append(list, keyward.NamedRateLimit{Name: keyward.DefaultLimitName, Limit: r.def.Limit, Period: r.def.Period})
		raw = append(raw, r.defRaw)
	}
	return append(list, r.named...), append(raw, r.namedRaw...)
}

// keyFields names the flags of a key's rate_limit (the "default" limit)
// and rate_limits (the named ones) in ff.
func (r rateLimitFlags) keyFields(ff fieldFlags) {
	ff["rate_limit"] = flagRef{flag: "--rate-limit"}
	if r.def != nil {
		ff["rate_limit"] = flagRef{flag: "--rate-limit", values: []string{r.defRaw}}
	}
	ff["rate_limits"] = flagRef{flag: "--rate-limit", values: r.namedRaw}
}

// uniq returns s without repeats, keeping the first of each, so that the
// positions of the Service's problems match the values sent.
func uniq(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
