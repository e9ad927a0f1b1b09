package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

var _ keyward.RecentKeys = (*Store)(nil)

// RecentKeys calls fn with the keys that have usage counts in the minute of
// since or later (see keyward.RecentKeys), the ones used last first.
func (s *Store) RecentKeys(_ context.Context, since time.Time, limit int, fn func(*keyward.Key) error) error {
	from := since.Truncate(time.Minute).Unix()
	s.mu.RLock()
	if err := s.check(); err != nil {
		s.mu.RUnlock()
		return err
	}
	latest := map[string]int64{}
	for u := range s.usage {
		if _, ok := s.keys[u.id]; ok && u.minute >= from {
			latest[u.id] = max(latest[u.id], u.minute)
		}
	}
	type used struct {
		k      *keyward.Key
		minute int64
	}
	keys := make([]used, 0, len(latest))
	for id, m := range latest {
		keys = append(keys, used{s.keyView(s.keys[id]), m})
	}
	s.mu.RUnlock()
	slices.SortFunc(keys, func(a, b used) int { return cmp.Or(cmp.Compare(b.minute, a.minute), cmp.Compare(a.k.ID, b.k.ID)) })
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	for _, u := range keys {
		if err := fn(u.k); err != nil {
			return err
		}
	}
	return nil
}
