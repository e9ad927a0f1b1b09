package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
)

// SharedFactory returns two handles on one new, empty database (two
// processes, or two instances of keyward serve, as far as the store can
// tell). It registers its own cleanup with t.
type SharedFactory func(t *testing.T) (a, b keyward.Store)

// RunShared runs the clauses of the Store contract that concern several
// handles on one database: claims, fan-outs and dedupe keys hold across
// them. Stores of one process only (package memory) have nothing to run.
func RunShared(t *testing.T, open SharedFactory) {
	t.Run("ClaimersOfTwoHandlesDisjoint", func(t *testing.T) {
		a, b := open(t)
		concurrentClaimers(t, a, b)
	})
	t.Run("FanOutOfTwoHandlesOnce", func(t *testing.T) {
		a, b := open(t)
		fanOutOnce(t, a, b)
	})
	t.Run("DedupeAcrossHandles", func(t *testing.T) {
		a, b := open(t)
		ctx := context.Background()
		var inserted atomic.Int64
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				e := event(t, keyward.EventKeyExpiring, base)
				e.Dedupe = "key.expiring:shared:1"
				n, err := []keyward.Store{a, b}[i%2].AppendEvents(ctx, []keyward.Event{e})
				if err != nil {
					t.Errorf("AppendEvents: %v", err)
				}
				inserted.Add(int64(n))
			})
		}
		wg.Wait()
		if n := inserted.Load(); n != 1 {
			t.Errorf("8 appends of one dedupe key through two handles inserted %d events, want 1", n)
		}
	})
}

// fanOutOnce fans out 300 events through both handles at once and checks
// that each becomes exactly one delivery.
func fanOutOnce(t *testing.T, a, b keyward.Store) {
	ctx := context.Background()
	w := mustWebhook(t, a, keyward.AllEvents)
	var events []keyward.Event
	for range 300 {
		events = append(events, event(t, keyward.EventRoleUpdated, base))
	}
	if _, err := a.AppendEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	var taken atomic.Int64
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			h := []keyward.Store{a, b}[i%2]
			for {
				n, err := h.FanOut(ctx, base, 7)
				if err != nil {
					t.Errorf("FanOut: %v", err)
					return
				}
				taken.Add(int64(n))
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	taken.Add(int64(fanOut(t, b, base)))
	ds := claimAll(t, b, base, "check")
	seen := map[string]int{}
	for _, d := range ds {
		if d.WebhookID == w.ID {
			seen[d.Event.ID]++
		}
	}
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	if taken.Load() != 300 || len(seen) != 300 || dups > 0 {
		t.Errorf("fan-outs through two handles took %d events, made deliveries of %d (%d twice); want 300, 300, 0", taken.Load(), len(seen), dups)
	}
}
