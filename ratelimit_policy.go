package keyward

import (
	"strconv"
	"time"
)

// The RateLimit-Policy field of the IETF httpapi rate-limit headers draft,
// which package httpauth and the server send: its value depends only on the
// limits checked, so a cached key builds it once per key instance and owner
// record (in the key's limitPlan).

// RateLimitPolicy returns the value of the RateLimit-Policy field for the
// limits the verification checked, in the order of RateLimitAt: the key's
// "default" limit as "key", its other limits by name, its owner's as
// "owner.<name>", each with its limit and its period in seconds (rounded
// up), comma-separated; for example `"key";q=100;w=60, "burst";q=10;w=1,
// "owner.daily";q=10000;w=86400`. It returns "" when no limit was checked.
func (r *Result) RateLimitPolicy() string {
	p := r.plan
	if p == nil || r.states != nil {
		return r.buildPolicy()
	}
	if v := p.policy.Load(); v != nil {
		return *v
	}
	v := r.buildPolicy()
	p.policy.Store(&v)
	return v
}

func (r *Result) buildPolicy() string {
	n := r.NumRateLimits()
	if n == 0 {
		return ""
	}
	var buf [512]byte
	b := buf[:0]
	for i := range n {
		l := r.RateLimitAt(i)
		if i > 0 {
			b = append(b, ", "...)
		}
		b = AppendRateLimitName(b, l)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, l.Limit, 10)
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, ceilSeconds(l.Period), 10)
	}
	return string(b)
}

// AppendRateLimitName appends the quoted name of limit l as the RateLimit
// and RateLimit-Policy fields give it: "key" for the key's "default" limit,
// "owner.<name>" for an owner's limit, else the limit's name.
func AppendRateLimitName(b []byte, l LimitState) []byte {
	b = append(b, '"')
	switch {
	case l.Owner:
		b = append(b, "owner."...)
		b = append(b, l.Name...)
	case l.Name == DefaultLimitName:
		b = append(b, "key"...)
	default:
		b = append(b, l.Name...)
	}
	return append(b, '"')
}

// ceilSeconds returns d in whole seconds, rounded up; 0 for d <= 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
