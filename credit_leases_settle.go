package keyward

import (
	"context"
	"time"
)

// The end of credit leases (see credit_leases.go): giving unspent credits
// back, and counting the ones held in what readers see.

// SettleCredits gives back to the store the credits of the Service's leases
// (see [Options.CreditLease]) that were not used for the lease time, ended
// with the UTC day, or were taken with records that changed since. The
// background flush calls it at every flush; with the flush turned off, call
// it yourself (Close gives back every lease).
func (s *Service) SettleCredits(ctx context.Context) error {
	return s.leases.settle(ctx, s.now(), false)
}

// settle gives back the unspent credits of leases idle for the lease time
// or past their day, and of leases retired since the last settle, and drops
// entries idle for long; with all, every lease's. Refunds that fail are
// kept for the next settle, and the first error is returned.
func (c *creditLeases) settle(ctx context.Context, now time.Time, all bool) error {
	if c == nil {
		return nil
	}
	var due []CreditRefund
	c.active.Range(func(k, v any) bool {
		pair, e := k.(leasePair), v.(*creditLease)
		e.mu.Lock()
		if e.left > 0 && (all || now.Sub(e.last) >= c.life || !now.Before(e.until)) {
			due = append(due, e.refund(pair))
			e.left = 0
		}
		if e.left == 0 {
			c.active.Delete(pair) // a new lease stores it again
		}
		e.mu.Unlock()
		return true
	})
	if n := c.settles.Add(1); all || n%leaseForget == 0 {
		c.sweep(now, all)
	}
	c.staleMu.Lock()
	due, c.stale = append(due, c.stale...), nil
	c.staleMu.Unlock()
	return c.giveBack(ctx, due)
}

// sweep drops the entries without a lease idle for leaseForget lease
// times, with all every one, so that the pairs of keys no longer busy do
// not pile up.
func (c *creditLeases) sweep(now time.Time, all bool) {
	c.leases.Range(func(k, v any) bool {
		e := v.(*creditLease)
		e.mu.Lock()
		if e.left == 0 && !e.taking && (all || now.Sub(e.last) >= leaseForget*c.life) {
			e.gone = true
			c.leases.Delete(k)
		}
		e.mu.Unlock()
		return true
	})
}

// giveBack refunds each of due; the ones that fail for a store error go
// back on the stale list for the next settle.
func (c *creditLeases) giveBack(ctx context.Context, due []CreditRefund) error {
	for i, r := range due {
		back, err := c.refunder.RefundCredits(ctx, r)
		if err != nil {
			c.staleMu.Lock()
			c.stale = append(c.stale, due[i:]...)
			c.staleMu.Unlock()
			return err
		}
		if back.Key || back.Owner {
			c.back.Add(uint64(r.Amount))
		}
	}
	return nil
}

// CreditLeaseStats describes a Service's credit leases (see
// [Options.CreditLease]).
type CreditLeaseStats struct {
	// Held is the credits the Service holds in leases now, not spent.
	Held int64
	// Taken counts the leases taken; GivenBack the credits given back to
	// the store, unspent.
	Taken, GivenBack uint64
}

// CreditLeaseStats returns the state of the Service's credit leases; all
// zero with leases off.
func (s *Service) CreditLeaseStats() CreditLeaseStats {
	c := s.leases
	if c == nil {
		return CreditLeaseStats{}
	}
	held := c.held(time.Time{}, func(leasePair, *creditLease) bool { return true })
	return CreditLeaseStats{Held: held, Taken: c.taken.Load(), GivenBack: c.back.Load()}
}

// close gives back every lease and takes no more: spends go to the store.
func (c *creditLeases) close(ctx context.Context, now time.Time) error {
	if c == nil {
		return nil
	}
	c.closed.Store(true)
	return c.settle(ctx, now, true)
}

// heldByKey is the credits leased from the key with that id, version
// updated, and not spent: what a reader of the key adds to its credits.
func (c *creditLeases) heldByKey(id string, updated, now time.Time) int64 {
	return c.held(now, func(p leasePair, e *creditLease) bool {
		return p.key == id && e.base.Key >= 0 && e.keyVer.Equal(updated)
	})
}

// heldByOwner is heldByKey for an owner record.
func (c *creditLeases) heldByOwner(name string, updated, now time.Time) int64 {
	return c.held(now, func(p leasePair, e *creditLease) bool {
		return p.owner == name && e.base.Owner >= 0 && e.ownerVer.Equal(updated)
	})
}

func (c *creditLeases) held(now time.Time, match func(leasePair, *creditLease) bool) int64 {
	if c == nil {
		return 0
	}
	var sum int64
	c.active.Range(func(k, v any) bool {
		e := v.(*creditLease)
		e.mu.Lock()
		if e.left > 0 && now.Before(e.until) && match(k.(leasePair), e) {
			sum += e.left
		}
		e.mu.Unlock()
		return true
	})
	return sum
}
