package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

const (
	shardCount = 64
	// sweepEvery is how many decisions pass between sweeps of one shard's
	// idle windows (shards take turns, so every shard is swept every
	// shardCount*sweepEvery decisions).
	sweepEvery = 1024
)

// Local is an in-process limiter. It keeps one window of 11 counters per
// active key and forgets a key once its window has emptied (swept lazily, no
// goroutine). It is safe for concurrent use; the zero value is not usable:
// call [NewLocal].
type Local struct {
	seed   maphash.Seed
	shards [shardCount]shard
	ops    atomic.Uint64
	// Decisions counts Allow calls by result, for metrics.
	allowed, denied atomic.Uint64
}

type shard struct {
	mu      sync.Mutex
	windows map[string]*window
}

type window struct {
	period time.Duration
	counts Counts // Index is the newest bucket seen
}

var _ keyward.Limiter = (*Local)(nil)

// NewLocal returns an empty in-process limiter.
func NewLocal() *Local {
	l := &Local{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].windows = make(map[string]*window)
	}
	return l
}

func (l *Local) shard(id string) *shard {
	return &l.shards[maphash.String(l.seed, id)%shardCount]
}

// advance moves the window to bucket idx, dropping buckets that left it. A
// time before the newest bucket (a clock step back) counts in the newest.
func (w *window) advance(idx int64) {
	shift := idx - w.counts.Index
	switch {
	case shift <= 0:
		return
	case shift > Buckets:
		w.counts.N = [Buckets + 1]int64{}
	default:
		copy(w.counts.N[:], w.counts.N[shift:])
		clear(w.counts.N[Buckets+1-int(shift):])
	}
	w.counts.Index = idx
}

// Allow takes cost units from the key's window if the limit allows it.
func (l *Local) Allow(_ context.Context, id string, limit keyward.RateLimit, cost int64, now time.Time) keyward.RateDecision {
	s := l.shard(id)
	period := time.Duration(limit.Period)
	idx := BucketIndex(period, now)
	s.mu.Lock()
	w := s.windows[id]
	if w == nil || w.period != period {
		w = &window{period: period, counts: Counts{Index: idx}}
		s.windows[id] = w
	}
	w.advance(idx)
	d := Decide(&w.counts, limit, cost, now)
	if d.Allowed {
		w.counts.N[Buckets] += cost
	}
	s.mu.Unlock()
	if n := l.ops.Add(1); n%sweepEvery == 0 {
		l.shards[(n/sweepEvery)%shardCount].sweep(now)
	}
	if cost > 0 {
		if d.Allowed {
			l.allowed.Add(1)
		} else {
			l.denied.Add(1)
		}
	}
	return d
}

// Release gives back cost units to the newest bucket that holds them.
func (l *Local) Release(_ context.Context, id string, limit keyward.RateLimit, cost int64, now time.Time) {
	s := l.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[id]
	if w == nil || w.period != time.Duration(limit.Period) {
		return
	}
	w.advance(BucketIndex(w.period, now))
	for i := Buckets; i >= 0 && cost > 0; i-- {
		take := min(cost, w.counts.N[i])
		w.counts.N[i] -= take
		cost -= take
	}
}

// sweep forgets windows whose buckets have all left.
func (s *shard) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, w := range s.windows {
		if BucketIndex(w.period, now)-w.counts.Index > Buckets {
			delete(s.windows, id)
		}
	}
}

// Len returns the number of keys the limiter currently tracks.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.windows)
		s.mu.Unlock()
	}
	return n
}

// Stats returns how many Allow calls with a cost were admitted and denied.
func (l *Local) Stats() (allowed, denied uint64) {
	return l.allowed.Load(), l.denied.Load()
}
