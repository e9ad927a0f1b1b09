package keyward

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/stripe"
)

// maxPendingUsage bounds the usage counts kept in memory while the store
// cannot take them; past it, new counts are dropped (and logged).
const maxPendingUsage = 1 << 20

// usageAggregator sums verifications per key, minute and outcome in memory,
// so that Verify never waits on a write. It is striped (see internal/stripe):
// each processor counts in its own shard, so that two cores verifying the
// same key do not fight over one lock; take merges the shards. Each key costs
// one map lookup per verification: its few cells (one per minute and outcome
// seen since the last flush) are scanned linearly.
type usageAggregator struct {
	shards  [stripe.N]usageShard
	limit   int64        // maxPendingUsage; tests lower it
	cells   atomic.Int64 // cells held in all shards, bounded by limit
	dropped atomic.Int64
}

type usageShard struct {
	mu   sync.Mutex
	keys map[string]*keyUsage
	_    [48]byte // keep shards on separate cache lines
}

type keyUsage struct {
	last  int64 // Unix nanoseconds of the latest use with the right secret; 0 if none
	cells []usageCell
}

type usageCell struct {
	minute  int64 // Unix seconds of the minute's start
	owner   string
	outcome Outcome
	n       int64
}

func newUsageAggregator() *usageAggregator {
	a := &usageAggregator{limit: maxPendingUsage}
	for i := range a.shards {
		a.shards[i].keys = make(map[string]*keyUsage)
	}
	return a
}

// add counts one verification of the key id, carrying owner. used means the
// secret was right, which moves the key's last_used_at. It returns the
// stripe it used (stripe.Index), for the verification's other counts.
func (a *usageAggregator) add(id, owner string, o Outcome, used bool, now time.Time) int {
	i := stripe.Index()
	a.addAt(i, id, usageCell{minute: now.Unix() - now.Unix()%60, owner: owner, outcome: o, n: 1}, used, now.UnixNano())
	return i
}

func (a *usageAggregator) addN(id string, c usageCell, used bool, at int64) {
	a.addAt(stripe.Index(), id, c, used, at)
}

// addAt is addN in shard i.
func (a *usageAggregator) addAt(i int, id string, c usageCell, used bool, at int64) {
	sh := &a.shards[i%stripe.N]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	k := sh.keys[id]
	if k == nil {
		k = &keyUsage{}
		sh.keys[id] = k
	}
	if used && at > k.last {
		k.last = at
	}
	if c.n == 0 {
		return
	}
	if k.count(c) {
		return
	}
	if a.cells.Add(1) > a.limit {
		a.cells.Add(-1)
		a.dropped.Add(c.n)
		return
	}
	k.cells = append(k.cells, c)
}

// count adds c.n to the cell of c's minute, owner and outcome, and reports
// whether there was one.
func (k *keyUsage) count(c usageCell) bool {
	for i := range k.cells {
		if x := &k.cells[i]; x.minute == c.minute && x.outcome == c.outcome && x.owner == c.owner {
			x.n += c.n
			return true
		}
	}
	return false
}

// take empties the aggregator and returns what it held.
func (a *usageAggregator) take() (UsageBatch, int64) {
	var merged map[string]*keyUsage
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		keys := sh.keys
		if len(keys) == 0 {
			sh.mu.Unlock()
			continue
		}
		sh.keys = make(map[string]*keyUsage, len(keys))
		sh.mu.Unlock()
		// Release the shard's cells from the bound at once, so that counts
		// arriving meanwhile in emptied shards are not dropped.
		var taken int64
		for _, k := range keys {
			taken += int64(len(k.cells))
		}
		a.cells.Add(-taken)
		if merged == nil {
			merged = keys
			continue
		}
		for id, k := range keys {
			m := merged[id]
			if m == nil {
				merged[id] = k
				continue
			}
			m.last = max(m.last, k.last)
			for _, c := range k.cells {
				if !m.count(c) {
					m.cells = append(m.cells, c)
				}
			}
		}
	}
	dropped := a.dropped.Swap(0)
	if len(merged) == 0 {
		return UsageBatch{}, dropped
	}
	n := 0
	for _, k := range merged {
		n += len(k.cells)
	}
	b := UsageBatch{Counts: make([]UsageCount, 0, n), LastUsed: map[string]time.Time{}}
	for id, k := range merged {
		for _, c := range k.cells {
			b.Counts = append(b.Counts, UsageCount{KeyID: id, Owner: c.owner, Start: time.Unix(c.minute, 0).UTC(), Outcome: c.outcome, Count: c.n})
		}
		if k.last != 0 {
			b.LastUsed[id] = time.Unix(0, k.last).UTC()
		}
	}
	return b, dropped
}

// putBack merges a batch the store did not take back in, for the next flush.
func (a *usageAggregator) putBack(b UsageBatch) {
	for _, c := range b.Counts {
		a.addN(c.KeyID, usageCell{minute: c.Start.Unix(), owner: c.Owner, outcome: c.Outcome, n: c.Count}, false, 0)
	}
	for id, t := range b.LastUsed {
		a.addN(id, usageCell{}, true, t.UnixNano())
	}
}

// FlushUsage writes the usage counts and last-used times gathered since the
// last flush. If the store fails, they are kept for the next flush.
func (s *Service) FlushUsage(ctx context.Context) error {
	b, dropped := s.usage.take()
	if dropped > 0 {
		s.log.Warn("usage counts dropped: the store has not taken them for too long", "dropped", dropped)
	}
	if len(b.Counts) == 0 && len(b.LastUsed) == 0 {
		return nil
	}
	if err := s.store.RecordUsage(ctx, b); err != nil {
		s.usage.putBack(b)
		return fmt.Errorf("keyward: writing usage: %w", err)
	}
	return nil
}

func (s *Service) flushLoop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*every)
		err := s.FlushUsage(ctx)
		if lerr := s.SettleCredits(ctx); lerr != nil {
			s.log.Error("giving back credit leases failed; they are kept for the next try", "err", lerr)
		}
		cancel()
		switch {
		case err != nil && !failing:
			s.log.Error("usage flush failed; counts are kept for the next try", "err", err)
		case err == nil && failing:
			s.log.Info("usage flush recovered")
		}
		failing = err != nil
	}
}
