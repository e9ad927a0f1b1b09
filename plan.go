package keyward

import "sync/atomic"

// limitPlan is the rate checks of a key and its owner's record, in the order
// the Service reports them: the key's limits, then the owner's.
type limitPlan struct {
	owner     *Owner // the record instance the plan was built with (nil: none)
	group     string // the key's owner, or its id when it has none
	checks    []RateCheck
	names     []string
	keyChecks int                    // checks[:keyChecks] are the key's
	policy    atomic.Pointer[string] // the RateLimit-Policy value, once built (see RateLimitPolicy)
}

var emptyPlan = &limitPlan{}

// plan returns the rate checks of k with owner record o. A key that keeps a
// memo (a cached instance) builds them once per owner instance.
func (s *Service) plan(k *Key, o *Owner) *limitPlan {
	if len(k.RateLimits) == 0 && (o == nil || len(o.RateLimits) == 0) {
		return emptyPlan
	}
	if m := k.memo; m != nil {
		if p := m.plan.Load(); p != nil && p.owner == o {
			return p
		}
		p := buildPlan(k, o)
		m.plan.Store(p)
		return p
	}
	return buildPlan(k, o)
}

func buildPlan(k *Key, o *Owner) *limitPlan {
	p := &limitPlan{owner: o, group: k.ID, keyChecks: len(k.RateLimits)}
	if k.Owner != "" {
		p.group = k.Owner
	}
	for _, l := range k.RateLimits {
		p.checks = append(p.checks, RateCheck{Bucket: "k:" + k.ID + ":" + l.Name, Limit: l.RateLimit()})
		p.names = append(p.names, l.Name)
	}
	if o != nil {
		for _, l := range o.RateLimits {
			p.checks = append(p.checks, RateCheck{Bucket: "o:" + o.Name + ":" + l.Name, Limit: l.RateLimit()})
			p.names = append(p.names, l.Name)
		}
	}
	return p
}

// scratch is per-verification space for the limiter's answers, pooled (in
// Service.scratch) so that a verification allocates nothing.
type scratch struct {
	out [MaxRateChecks]RateDecision
}

func (s *Service) getScratch() *scratch {
	if sc, ok := s.scratch.Get().(*scratch); ok {
		return sc
	}
	return new(scratch)
}

func (s *Service) putScratch(sc *scratch) { s.scratch.Put(sc) }
