package keyward

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The windows of [Service.Hygiene].
const (
	HygieneUnusedFor     = 90 * 24 * time.Hour
	HygieneExpiresWithin = 7 * 24 * time.Hour
)

// Hygiene counts the active keys that deserve a look: the overview of the
// admin page. Each count is the length of the list that [Service.List]
// returns for status active and one filter.
type Hygiene struct {
	// NeverUsed: keys never used (NeverUsed).
	NeverUsed int64 `json:"never_used"`
	// Unused: keys not used for UnusedFor (90 days).
	Unused    int64    `json:"unused"`
	UnusedFor Duration `json:"unused_for"`
	// Expiring: keys that expire within ExpiresWithin (7 days).
	Expiring      int64    `json:"expiring"`
	ExpiresWithin Duration `json:"expires_within"`
	// NoExpiry: keys without expiry (NoExpiry).
	NoExpiry int64 `json:"no_expiry"`
}

// Hygiene returns the counts of active keys never used, unused for
// [HygieneUnusedFor], expiring within [HygieneExpiresWithin] and without
// expiry. The four counts run at once.
func (s *Service) Hygiene(ctx context.Context) (Hygiene, error) {
	now := s.Now()
	h := Hygiene{UnusedFor: Duration(HygieneUnusedFor), ExpiresWithin: Duration(HygieneExpiresWithin)}
	counts := []struct {
		n *int64
		p ListParams
	}{
		{&h.NeverUsed, ListParams{NeverUsed: true}},
		{&h.Unused, ListParams{UnusedFor: HygieneUnusedFor}},
		{&h.Expiring, ListParams{ExpiresWithin: HygieneExpiresWithin}},
		{&h.NoExpiry, ListParams{NoExpiry: true}},
	}
	errs := make([]error, len(counts))
	var wg sync.WaitGroup
	for i, c := range counts {
		wg.Go(func() {
			f := ListFilter{Status: StatusActive, Now: now}
			hygieneFilter(&f, c.p, nil)
			*c.n, errs[i] = s.store.CountKeys(ctx, f)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Hygiene{}, fmt.Errorf("keyward: counting keys: %w", err)
	}
	return h, nil
}

// hygieneFilter sets the filters on use and expiry of p in f, judged at
// f.Now, adding the problems of p to probs (if not nil).
func hygieneFilter(f *ListFilter, p ListParams, probs *problems) {
	if p.UnusedFor < 0 && probs != nil {
		probs.add("unused_for", "must be a positive duration")
	}
	if p.ExpiresWithin < 0 && probs != nil {
		probs.add("expires_within", "must be a positive duration")
	}
	// Stores keep times to the millisecond.
	if p.UnusedFor > 0 {
		f.UnusedSince = f.Now.Add(-p.UnusedFor).Truncate(time.Millisecond)
	}
	if p.ExpiresWithin > 0 {
		f.ExpiresBy = f.Now.Add(p.ExpiresWithin).Truncate(time.Millisecond)
	}
	f.NeverUsed, f.NoExpiry = p.NeverUsed, p.NoExpiry
}
