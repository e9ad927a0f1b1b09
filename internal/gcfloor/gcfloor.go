// Package gcfloor keeps Go's garbage collector from running every few
// megabytes while a server's live heap is small.
//
// With the default GOGC of 100 the collector starts a cycle when the heap
// reaches twice what the last cycle found live, and never later than 4 MB
// (Go's minimum heap). A keyward serve process with an empty or small cache
// holds 2-3 MB live, so under load it collects after every 2-4 MB of
// garbage, which net/http makes at about 1 KB a request: a cycle every few
// thousand requests, marking the whole heap each time. Start sets the GC
// percentage after every cycle so that the next one starts when the heap
// has grown by a floor of bytes beyond the live heap, or at GOGC=100's goal
// when that is higher: a small heap collects less often, a large one (a
// cache of a million keys) exactly as with the defaults.
//
// It leaves the collector alone when the GOGC environment variable is set:
// that is the operator's choice. GOMEMLIMIT still bounds the heap either way.
//
// It depends on the standard library only.
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// minHeap is Go's minimum heap goal at GOGC=100 (runtime.defaultHeapMinimum):
// the runtime scales it with the percentage, so a high percentage raises it.
const minHeap = 4 << 20

// basePercent is the percentage below which the floor never goes: Go's default.
const basePercent = 100

// Percent is the GC percentage that puts the next cycle's heap goal at
// live+floor bytes, or at the default goal where that is higher. The runtime's
// goal at percentage p is max(live*(1+p/100), minHeap*p/100), so p is the
// lower of the two that reach live+floor.
func Percent(live, floor uint64) int {
	if live == 0 {
		live = 1
	}
	byLive := floor * 100 / live
	byMin := (live + floor) * 100 / minHeap
	p := min(byLive, byMin)
	if p < basePercent {
		return basePercent
	}
	return int(min(p, 1<<30))
}

// tuner sets the percentage after each collection.
type tuner struct {
	floor   uint64
	stopped atomic.Bool
	mu      sync.Mutex // serialises tune with stop
	sample  []metrics.Sample
	tuned   func(percent int) // tests: called after each tuning
}

// Start keeps the next collection from starting before the heap has grown by
// floor bytes beyond the live heap, re-tuned after every collection, until
// stop is called; stop restores the percentage that was set before. It does
// nothing when floor is 0 or GOGC is set in the environment.
func Start(floor uint64) (stop func()) { return start(floor, nil) }

func start(floor uint64, tuned func(int)) (stop func()) {
	if _, set := os.LookupEnv("GOGC"); set || floor == 0 {
		return func() {}
	}
	t := &tuner{floor: floor, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, tuned: tuned}
	before := t.tune()
	t.arm()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.stopped.Store(true)
			debug.SetGCPercent(before)
		})
	}
}

// tune sets the percentage for the live heap the last collection found and
// returns the percentage set before.
func (t *tuner) tune() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Load() {
		return basePercent
	}
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	p := Percent(live, t.floor)
	before := debug.SetGCPercent(p)
	if t.tuned != nil {
		t.tuned(p)
	}
	return before
}

// sentinel is an object whose finalizer runs once a collection has found it
// unreachable: after every cycle, as each run arms a new one. The pointer
// keeps it out of the tiny allocator, whose blocks are freed (and finalized)
// together.
type sentinel struct{ _ *int }

func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if t.stopped.Load() {
			return
		}
		t.tune()
		t.arm()
	})
}
