// Package pace keeps a window of the latest durations of some work and their
// 99th percentile: the time that work takes. keyward holds every NOT_FOUND
// answer until such a time (see keyward.Options.LookupTime), so that the
// path that found a key missing does not show in the answer's timing.
//
// It depends on the standard library only.
package pace

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// size is how many of the latest durations a Window keeps.
const size = 128

// Window keeps the latest 128 durations recorded and their 99th percentile.
// The zero Window is ready to use; it is safe for concurrent use.
type Window struct {
	mu      sync.Mutex
	samples [size]time.Duration
	n       int // durations recorded so far
	p99     atomic.Int64
}

// Add records d. The percentile is recomputed for each of the first 16
// durations, then every 16th. A caller that finds another recording in
// progress skips its own (TryAdd), so that a flood of recordings never
// queues on the lock.
func (w *Window) Add(d time.Duration) {
	w.mu.Lock()
	w.add(d)
	w.mu.Unlock()
}

// TryAdd records d unless another goroutine is recording at that moment,
// and reports whether it did: under contention the window samples.
func (w *Window) TryAdd(d time.Duration) bool {
	if !w.mu.TryLock() {
		return false
	}
	w.add(d)
	w.mu.Unlock()
	return true
}

func (w *Window) add(d time.Duration) {
	w.samples[w.n%size] = d
	w.n++
	if w.n <= 16 || w.n%16 == 0 {
		s := slices.Clone(w.samples[:min(w.n, size)])
		slices.Sort(s)
		w.p99.Store(int64(s[len(s)*99/100]))
	}
}

// P99 returns the 99th percentile of the latest durations recorded (0
// before the first).
func (w *Window) P99() time.Duration { return time.Duration(w.p99.Load()) }
