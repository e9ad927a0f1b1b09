// Package stripe spreads counters that every request updates over several
// cache lines, one per processor most of the time, so that two cores
// verifying keys at once do not take turns owning the same line.
//
// Go has no public per-processor storage; a sync.Pool comes close, because a
// value put back into a pool is taken again by the same processor. Index
// hands out small numbers through a pool: a processor keeps getting the same
// number until the pool drops it (at a garbage collection), and a dropped
// number is replaced by the next one in turn. Two processors may share a
// number for a while; that costs contention, never correctness, because
// whatever is striped must still be safe for concurrent use.
package stripe

import (
	"sync"
	"sync/atomic"
)

// N is the number of stripes; indexes are in [0, N).
const N = 16

type handle struct{ i int }

var (
	next    atomic.Uint32
	handles = sync.Pool{New: func() any { return &handle{i: int(next.Add(1) % N)} }}
)

// Index returns the stripe the calling processor should use.
func Index() int {
	h := handles.Get().(*handle)
	i := h.i
	handles.Put(h)
	return i
}

// Counter is a striped uint64 counter. The zero value is ready to use.
type Counter struct {
	cells [N]struct {
		n atomic.Uint64
		_ [56]byte // one cache line per stripe
	}
}

// Add adds d to the counter.
func (c *Counter) Add(d uint64) { c.cells[Index()].n.Add(d) }

// AddAt adds d to the counter's stripe i, an Index the caller took for
// other striped work of the same operation (one Index call instead of two).
func (c *Counter) AddAt(i int, d uint64) { c.cells[i%N].n.Add(d) }

// Load returns the sum of the stripes. With adds running concurrently it is
// between the counter's values at the start and at the end of the call.
func (c *Counter) Load() uint64 {
	var sum uint64
	for i := range c.cells {
		sum += c.cells[i].n.Load()
	}
	return sum
}
