package cache

import (
	"context"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/keyward/keyward"
)

// Warm loads into the cache the keys in use lately: those that from (the
// store of record behind the cache, or a Store that reads it) reports used
// in the minute of since or later, the ones used last first, up to the
// cache's MaxKeys. It returns how many it cached. keyward serve calls it in
// the background when it starts, with since one TTL back: what a server
// that had not restarted would hold, so that a restart under load does not
// send each key in use to the store on its first request.
//
// A warmed key is cached as a miss would cache it, with the age of the read
// (its TTL counts from when Warm began). A key written while Warm runs, on
// this instance or on another through the bus, is left out, as a key that
// a miss meanwhile loaded is left as it is: Warm never undoes a write. Warm
// stops early, returning keyward.ErrClosed, when the cache is closed.
func (s *Store) Warm(ctx context.Context, from keyward.RecentKeys, since time.Time) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, keyward.ErrClosed
	}
	s.refreshing.Add(1) // Close waits for it, and it stops at Close
	s.mu.Unlock()
	defer s.refreshing.Done()

	// A write after this point moves its stripe's generation; a key read
	// after the move may be older than the write, so its stripe must not
	// have moved when it is cached.
	var gens [genStripes]uint64
	for i := range s.gens {
		gens[i] = s.gens[i].Load()
	}
	loaded := s.now().UnixNano()
	fresh := returnsFresh(from)
	n := 0
	err := from.RecentKeys(ctx, since, int(s.entries.GetMaximum()), func(k *keyward.Key) error {
		select {
		case <-s.stop:
			return keyward.ErrClosed
		default:
		}
		if i := maphash.String(s.seed, k.ID) % genStripes; s.gens[i].Load() != gens[i] {
			return nil // written meanwhile
		}
		// The instance is shared by every hit and carries their memo; a
		// store may hand out its own instance, so copy it (as fetch does).
		if !fresh {
			k = k.Clone()
		}
		k.EnableVerifyMemo()
		s.filter.add(k.ID)
		if _, stored := s.entries.SetIfAbsent(k.ID, &entry{key: k, loaded: loaded}); stored {
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("cache: warming: %w", err)
	}
	return n, nil
}
