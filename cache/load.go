package cache

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// DefaultMaxKeys is the number of keys a cache holds when Options.MaxKeys is
// 0. A cached key costs a little under 1 KiB of resident memory
// (docs/benchmarks.md): a full cache of this size takes about 0.45 GiB, and
// about 0.6 GiB at its peak with Go's default GOGC, and holds the keys of
// 8,500 distinct keys a second over a 30s TTL twice over; over keyward
// serve's 5-minute TTL it keeps the most used (otter's admission policy).
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
	s.background(func() {
		// In the key's flight, so that a miss meanwhile waits for this read
		// rather than making a second one. The result is cached by fetch.
		s.flight.Do(id, func() (any, error) {
			if cur, ok := s.entries.GetIfPresent(id); ok && cur != e && s.now().UnixNano()-cur.loaded < s.refreshAt(s.effectiveTTL()) {
				return cur.key, nil // reloaded meanwhile
			}
			return s.fetch(context.Background(), id, e.key)
		})
	})
}

// background runs a reload of a key, owner or role in use in a goroutine
// that Close waits for, unless the store is closed.
func (s *Store) background(reload func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.refreshing.Add(1)
	go func() {
		defer s.refreshing.Done()
		s.refreshes.Add(1)
		reload()
	}()
}

// load reads the key once for all concurrent callers and caches the result
// unless a write to the key happened meanwhile.
func (s *Store) load(ctx context.Context, id string) (*keyward.Key, error) {
	v, err, _ := s.flight.Do(id, func() (any, error) {
		// A flight that ended between our cache miss and this call has
		// cached the key already.
		if e, ok := s.entries.GetIfPresent(id); ok && s.now().UnixNano()-e.loaded < int64(s.effectiveTTL()) {
			return e.key, nil
		}
		return s.fetch(ctx, id, nil)
	})
	if err != nil {
		return nil, err
	}
	return v.(*keyward.Key), nil
}

// fetch reads the key from the store and caches it unless a write to the
// key happened meanwhile; it runs inside a flight for id. prev is the
// cached instance a background reload replaces (nil for a miss): the
// reload reads with the store's ReloadKey when it has one
// (keyward.KeyReloader) and keeps the later of the two last uses.
func (s *Store) fetch(ctx context.Context, id string, prev *keyward.Key) (*keyward.Key, error) {
	gen := s.stripe(id).Load()
	// The load outlives a caller that gives up, for the others waiting.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.loads.Add(1)
	// The entry's age counts from before the read, so that it is never
	// older than it says.
	loaded := s.now().UnixNano()
	var k *keyward.Key
	var err error
	reload := prev != nil && s.reloader != nil
	if reload {
		// Not timed into lookups: NOT_FOUND answers are paced to a miss's
		// read, which Get makes.
		k, err = s.reloader.ReloadKey(lctx, id)
	} else {
		began := time.Now()
		k, err = s.next.Get(lctx, id)
		if err == nil || errors.Is(err, keyward.ErrNotFound) {
			s.lookups.Add(time.Since(began)) // failures say nothing of a lookup's time
		}
	}
	if err != nil {
		if errors.Is(err, keyward.ErrNotFound) {
			if s.stripe(id).Load() == gen {
				s.negative.Set(strings.Clone(id), struct{}{})
			}
			s.entries.Invalidate(id)
			return nil, err
		}
		s.loadErrors.Add(1)
		return nil, err
	}
	if s.outage.CompareAndSwap(true, false) {
		s.log.Info("cache: the store is reachable again")
	}
	// What the cache keeps is named by the key's own id, never by id: that
	// may be a slice of the presented key string, secret and all (see
	// keyward.Parse), which would stay in memory as long as the entry.
	if k.ID == id {
		id = k.ID
	} else {
		id = strings.Clone(id)
	}
	s.filter.add(id)
	// This instance is shared by every hit and carries their memo; a store
	// may hand out its own instance (package memory does), so copy it
	// unless the store says each Get's is new (keyward.FreshKeyReader).
	if !s.freshGets {
		k = k.Clone()
	}
	if reload {
		k.LastUsedAt = laterUse(k.LastUsedAt, prev.LastUsedAt)
	}
	k.EnableVerifyMemo()
	if s.stripe(id).Load() == gen {
		s.entries.Set(id, &entry{key: k, loaded: loaded})
	}
	return k, nil
}

// laterUse returns the later of two last uses (nil: never used), b as a
// copy of its own.
func laterUse(a, b *time.Time) *time.Time {
	if b != nil && (a == nil || b.After(*a)) {
		t := *b
		return &t
	}
	return a
}
