package pace

import (
	"sync"
	"testing"
	"time"
)

func TestWindowPercentile(t *testing.T) {
	var w Window
	if w.P99() != 0 {
		t.Fatalf("empty window: %v, want 0", w.P99())
	}
	w.Add(3 * time.Millisecond)
	if got := w.P99(); got != 3*time.Millisecond {
		t.Fatalf("one duration: %v, want 3ms", got)
	}
	for i := range 127 {
		w.Add(time.Duration(i) * time.Microsecond)
	}
	// 128 durations: 0..126 µs and 3 ms; the 99th percentile (rank 126 of
	// 0..127) is the largest but one.
	if got := w.P99(); got != 126*time.Microsecond {
		t.Fatalf("p99 of 0..126µs and 3ms: %v, want 126µs", got)
	}
	for range size { // the old durations leave the window
		w.Add(time.Microsecond)
	}
	if got := w.P99(); got != time.Microsecond {
		t.Fatalf("after 128 durations of 1µs: %v", got)
	}
}

func TestWindowConcurrent(t *testing.T) {
	var w Window
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				w.Add(time.Millisecond)
				w.TryAdd(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if got := w.P99(); got != time.Millisecond {
		t.Fatalf("p99 %v, want 1ms", got)
	}
}
