package stripe

import (
	"sync"
	"testing"
)

func TestIndexInRange(t *testing.T) {
	for range 1000 {
		if i := Index(); i < 0 || i >= N {
			t.Fatalf("Index() = %d, want [0, %d)", i, N)
		}
	}
}

func TestCounterSumsEveryAdd(t *testing.T) {
	var c Counter
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10_000 {
				c.Add(uint64(g + 1))
			}
		}()
	}
	wg.Wait()
	if got, want := c.Load(), uint64(10_000*(1+2+3+4+5+6+7+8)); got != want {
		t.Fatalf("Load() = %d, want %d", got, want)
	}
}

func BenchmarkCounterAddParallel(b *testing.B) {
	var c Counter
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add(1)
		}
	})
}
