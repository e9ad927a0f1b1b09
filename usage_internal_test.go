package keyward

import (
	"sync"
	"testing"
	"time"
)

// TestUsageShardsMerge: counts of one key, minute and outcome spread over
// several shards come out of take as one count, with the latest use.
func TestUsageShardsMerge(t *testing.T) {
	a := newUsageAggregator()
	minute := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	put := func(shard int, id string, o Outcome, n, last int64) {
		a.shards[shard].keys[id] = &keyUsage{last: last, cells: []usageCell{{minute: minute.Unix(), outcome: o, n: n}}}
		a.cells.Add(1)
	}
	put(0, "a", OutcomeValid, 3, 10)
	put(5, "a", OutcomeValid, 4, 30)
	put(9, "a", OutcomeNotFound, 1, 20)
	put(9, "b", OutcomeValid, 2, 0)
	b, dropped := a.take()
	if dropped != 0 {
		t.Errorf("dropped %d", dropped)
	}
	got := map[string]int64{}
	for _, c := range b.Counts {
		if !c.Start.Equal(minute) {
			t.Errorf("start %v, want %v", c.Start, minute)
		}
		if _, dup := got[c.KeyID+" "+c.Outcome.String()]; dup {
			t.Errorf("%s %s appears twice in one batch", c.KeyID, c.Outcome)
		}
		got[c.KeyID+" "+c.Outcome.String()] = c.Count
	}
	want := map[string]int64{"a VALID": 7, "a NOT_FOUND": 1, "b VALID": 2}
	if len(got) != len(want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d", k, got[k], n)
		}
	}
	if last := b.LastUsed["a"]; !last.Equal(time.Unix(0, 30)) {
		t.Errorf("last use of a: %v, want the latest", last)
	}
	if _, ok := b.LastUsed["b"]; ok {
		t.Error("b was never used with its secret but has a last use")
	}
	if n := a.cells.Load(); n != 0 {
		t.Errorf("%d cells still accounted after take", n)
	}
	if b, _ := a.take(); len(b.Counts) != 0 {
		t.Errorf("second take: %d counts", len(b.Counts))
	}
}

// TestUsageConcurrentAddsAddUp: verifications counted from many goroutines
// at once, in whatever shards they land, all come out.
func TestUsageConcurrentAddsAddUp(t *testing.T) {
	a := newUsageAggregator()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5000 {
				a.add("k", "", OutcomeValid, true, now)
			}
		}()
	}
	var total int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		b, _ := a.take() // flushes race with the adds, as in production
		for _, c := range b.Counts {
			total += c.Count
		}
	}
	b, _ := a.take()
	for _, c := range b.Counts {
		total += c.Count
	}
	if total != 8*5000 {
		t.Fatalf("counted %d, want %d", total, 8*5000)
	}
}

// TestUsageBoundAndPutBack: past the bound new cells are dropped and
// reported; a batch the store refused comes back whole in the next take, and
// taking releases the bound.
func TestUsageBoundAndPutBack(t *testing.T) {
	a := newUsageAggregator()
	a.limit = 3
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		a.add(id, "", OutcomeValid, true, now.Add(time.Duration(i)*time.Second))
	}
	b, dropped := a.take()
	if dropped != 2 {
		t.Errorf("dropped %d, want 2 (the cells past the bound of 3)", dropped)
	}
	total := int64(0)
	for _, c := range b.Counts {
		total += c.Count
	}
	if len(b.Counts) != 3 || total != 3 {
		t.Fatalf("took %d cells, %d counts; want 3 cells, 3 counts", len(b.Counts), total)
	}
	if n := a.cells.Load(); n != 0 {
		t.Fatalf("%d cells accounted after take, want 0", n)
	}
	// The same key may hold a cell in several shards until they are merged
	// (a processor's shard can change), so give room for that.
	a.limit = 10
	a.putBack(b)
	a.add("a", "", OutcomeValid, true, now)
	b2, dropped := a.take()
	if dropped != 0 {
		t.Errorf("dropped %d after put-back", dropped)
	}
	total = 0
	for _, c := range b2.Counts {
		total += c.Count
	}
	if len(b2.Counts) != 3 || total != 4 {
		t.Errorf("after put-back: %d cells, %d counts; want 3 cells, 4 counts", len(b2.Counts), total)
	}
	if len(b2.LastUsed) != len(b.LastUsed) {
		t.Errorf("after put-back: %d last-used times, want %d", len(b2.LastUsed), len(b.LastUsed))
	}
}
