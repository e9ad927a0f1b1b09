package cache

import (
	"context"
	"time"
)

// DefaultMaxKeys is the number of keys a cache holds when Options.MaxKeys is
// 0. A cached key costs about 1 KiB of resident memory (docs/benchmarks.md,
// issue 17): a full cache of this size takes about 0.5 GiB, and about
// 0.6 GiB at its peak with Go's default GOGC, and holds the keys of 8,500
// distinct keys a second over a 30s TTL twice over.
const DefaultMaxKeys = 500_000

// refreshAt is the age, in nanoseconds, from which a hit on a key cached
// for ttl reloads it in the background: RefreshAhead before the end, and
// no earlier than half-way. With refreshing off it is never reached.
func (s *Store) refreshAt(ttl time.Duration) int64 {
	if s.refreshAhead < 0 {
		return int64(ttl)
	}
	return int64(ttl - min(s.refreshAhead, ttl/2))
}

// refreshSoon reloads the key of e in the background, once for all the
// hits that find e in its last RefreshAhead. A reload that fails leaves e
// to expire as any entry does, and the next miss reads the store (or
// serves e stale during an outage).
func (s *Store) refreshSoon(id string, e *entry) {
	if !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.refreshing.Add(1)
	go func() {
		defer s.refreshing.Done()
		s.refreshes.Add(1)
		// In the key's flight, so that a miss meanwhile waits for this read
		// rather than making a second one. The result is cached by fetch.
		s.flight.Do(id, func() (any, error) {
			if cur, ok := s.entries.GetIfPresent(id); ok && cur != e && s.now().UnixNano()-cur.loaded < s.refreshAt(s.effectiveTTL()) {
				return cur.key, nil // reloaded meanwhile
			}
			return s.fetch(context.Background(), id)
		})
	}()
}
