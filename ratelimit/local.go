package ratelimit

import (
	"context"
	"hash/maphash"
	"math/bits"
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

// Local is an in-process limiter. It keeps one window (11 counts and times)
// per active counter and forgets a counter once its window has emptied
// (swept lazily, no goroutine). The checks of one call are decided under the
// locks of all their shards, so a call is one atomic step. A call allocates
// nothing once its counters exist. It is safe for concurrent use; the zero
// value is not usable: call [NewLocal].
type Local struct {
	seed   maphash.Seed
	shards [shardCount]shard
	ops    atomic.Uint64
	// allowed and denied count Allow calls with a cost by result, for
	// metrics.
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

// advance moves the window to bucket idx, dropping buckets that left it. A
// time before the newest bucket (a clock step back) counts in the newest.
func (w *window) advance(idx int64) {
	shift := idx - w.counts.Index
	switch {
	case shift <= 0:
		return
	case shift > Buckets:
		w.counts.N = [Buckets + 1]int64{}
		w.counts.Last = [Buckets + 1]int64{}
	default:
		copy(w.counts.N[:], w.counts.N[shift:])
		clear(w.counts.N[Buckets+1-int(shift):])
		copy(w.counts.Last[:], w.counts.Last[shift:])
		clear(w.counts.Last[Buckets+1-int(shift):])
	}
	w.counts.Index = idx
}

// shardsOf returns the shards of checks as a set (bit i: shard i) and, in
// of[i], the shard of each of the first len(of) checks.
func (l *Local) shardsOf(checks []keyward.RateCheck, of *[keyward.MaxRateChecks]uint8) uint64 {
	var set uint64
	for i := range checks {
		s := l.shardOf(checks[i].Bucket)
		if i < len(of) {
			of[i] = s
		}
		set |= 1 << s
	}
	return set
}

func (l *Local) shardOf(bucket string) uint8 {
	return uint8(maphash.String(l.seed, bucket) % shardCount)
}

// lock locks a set of shards in ascending order, so that two calls never
// wait on each other in a cycle.
func (l *Local) lock(set uint64) {
	for ; set != 0; set &= set - 1 {
		l.shards[bits.TrailingZeros64(set)].mu.Lock()
	}
}

func (l *Local) unlock(set uint64) {
	for ; set != 0; set &= set - 1 {
		l.shards[bits.TrailingZeros64(set)].mu.Unlock()
	}
}

// shardAt returns the shard of checks[i].
func (l *Local) shardAt(checks []keyward.RateCheck, of *[keyward.MaxRateChecks]uint8, i int) *shard {
	if i < len(of) {
		return &l.shards[of[i]]
	}
	return &l.shards[l.shardOf(checks[i].Bucket)]
}

// Allow decides checks together: every counter admits cost and each takes
// it, or none takes anything. A counter is named by its bucket alone (group
// does not matter in process); the buckets of one call must be distinct, as
// a verification's are. A counter whose period changed starts over.
func (l *Local) Allow(_ context.Context, _ string, checks []keyward.RateCheck, cost int64, now time.Time, out []keyward.RateDecision) bool {
	if len(checks) == 0 {
		return true
	}
	var of [keyward.MaxRateChecks]uint8
	var cbuf [keyward.MaxRateChecks]*Counts
	counts := cbuf[:0]
	if len(checks) > len(cbuf) {
		counts = make([]*Counts, 0, len(checks)) // more than a verification makes
	}
	set := l.shardsOf(checks, &of)
	l.lock(set)
	t := now.UnixNano()
	for i := range checks {
		c := &checks[i]
		s := l.shardAt(checks, &of, i)
		period := time.Duration(c.Limit.Period)
		idx := t / bucketWidth(period)
		w := s.windows[c.Bucket]
		switch {
		case w == nil:
			w = &window{period: period, counts: Counts{Index: idx}}
			s.windows[c.Bucket] = w
		case w.period != period:
			*w = window{period: period, counts: Counts{Index: idx}}
		}
		w.advance(idx)
		counts = append(counts, &w.counts)
	}
	allowed := DecideAll(counts, checks, cost, now, out)
	l.unlock(set)
	if n := l.ops.Add(1); n%sweepEvery == 0 {
		l.shards[(n/sweepEvery)%shardCount].sweep(now)
	}
	if cost > 0 {
		if allowed {
			l.allowed.Add(1)
		} else {
			l.denied.Add(1)
		}
	}
	return allowed
}

// Release gives back cost units to each counter of checks, newest bucket
// first. A counter that is gone, or whose period changed, is left alone.
func (l *Local) Release(_ context.Context, _ string, checks []keyward.RateCheck, cost int64, now time.Time) {
	if len(checks) == 0 || cost <= 0 {
		return
	}
	var of [keyward.MaxRateChecks]uint8
	set := l.shardsOf(checks, &of)
	l.lock(set)
	defer l.unlock(set)
	for i := range checks {
		c := &checks[i]
		w := l.shardAt(checks, &of, i).windows[c.Bucket]
		if w == nil || w.period != time.Duration(c.Limit.Period) {
			continue
		}
		w.advance(BucketIndex(w.period, now))
		left := cost
		for j := Buckets; j >= 0 && left > 0; j-- {
			take := min(left, w.counts.N[j])
			w.counts.N[j] -= take
			left -= take
		}
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

// Len returns the number of counters the limiter currently tracks.
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
