package cache

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// lookupTimes keeps the durations of the latest store lookups and their
// 99th percentile, the time a lookup takes (see Store.LookupTime).
type lookupTimes struct {
	mu      sync.Mutex
	samples [128]time.Duration
	n       int // samples recorded so far
	p99     atomic.Int64
}

// add records one lookup; every 16 lookups the percentile is recomputed.
func (l *lookupTimes) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples[l.n%len(l.samples)] = d
	l.n++
	if l.n <= 16 || l.n%16 == 0 {
		s := slices.Clone(l.samples[:min(l.n, len(l.samples))])
		slices.Sort(s)
		l.p99.Store(int64(s[len(s)*99/100]))
	}
}

// LookupTime returns how long a lookup in the store behind the cache takes:
// the 99th percentile of the latest 128 (0 before the first). Give it to
// keyward.Options.LookupTime, so that NOT_FOUND answers from the cache take
// as long as those that read the store.
func (s *Store) LookupTime() time.Duration { return time.Duration(s.lookups.p99.Load()) }
