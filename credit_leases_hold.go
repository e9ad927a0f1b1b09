package keyward

import (
	"context"
	"slices"
)

// Holds. A write to a key or an owner record changes its version (its
// UpdatedAt), and a refund is given only to a row whose version is the one
// the lease was taken at (see CreditRefunder): a lease that is still out
// when the write lands can never be given back, and its credits would be
// lost, however little the write changed (a new name). So a write through
// this Service first holds the pairs it touches: they take no new lease
// (their spends go to the store), the takes in flight finish, and every
// credit leased from them, or waiting on the stale list, goes back. The
// write then sees every credit, and the hold ends with it. A lease taken
// after the write is labelled with the version the store has then (see
// creditLeases.versions), so that one given back later is accepted.

// leaseHold is a write in progress to the rows of the pairs match selects.
type leaseHold struct{ match func(leasePair) bool }

// onHold reports whether a write holds pair: it takes no lease now.
func (c *creditLeases) onHold(pair leasePair) bool {
	if c.nHolds.Load() == 0 {
		return false
	}
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	return slices.ContainsFunc(c.holds, func(h *leaseHold) bool { return h.match(pair) })
}

// hold stops new leases of the pairs that match, waits for their takes in
// flight, and gives back what their leases hold; end ends the hold, after
// the write. An error of the refunds is returned with a working end: the
// credits it could not give back stay on the stale list.
func (c *creditLeases) hold(ctx context.Context, match func(leasePair) bool) (end func(), err error) {
	if c == nil {
		return func() {}, nil
	}
	h := &leaseHold{match: match}
	c.holdMu.Lock()
	c.holds = append(c.holds, h)
	c.nHolds.Store(int32(len(c.holds)))
	c.holdMu.Unlock()
	end = func() {
		c.holdMu.Lock()
		c.holds = slices.DeleteFunc(c.holds, func(x *leaseHold) bool { return x == h })
		c.nHolds.Store(int32(len(c.holds)))
		c.holdMu.Unlock()
	}
	var due []CreditRefund
	c.leases.Range(func(k, v any) bool {
		pair, e := k.(leasePair), v.(*creditLease)
		if !match(pair) {
			return true
		}
		e.mu.Lock()
		for e.taking { // a take that began before the hold: let it land
			done := e.takeDone
			e.mu.Unlock()
			select {
			case <-done:
			case <-ctx.Done():
				err = context.Cause(ctx)
				return false
			}
			e.mu.Lock()
		}
		if e.left > 0 {
			due = append(due, e.refund(pair))
			e.left = 0
		}
		e.mu.Unlock()
		return true
	})
	if err != nil {
		return end, err
	}
	c.staleMu.Lock()
	c.stale = slices.DeleteFunc(c.stale, func(r CreditRefund) bool {
		if r.KeyID != "" && match(leasePair{key: r.KeyID}) || r.Owner != "" && match(leasePair{owner: r.Owner}) {
			due = append(due, r)
			return true
		}
		return false
	})
	c.staleMu.Unlock()
	return end, c.giveBack(ctx, due)
}

// holdLeases holds the pairs that match for a write to their key or owner
// record (see creditLeases.hold) and returns the function that ends the
// hold, to call once the write is done. An error of the refunds is logged
// and the write goes on; the credits are then given back later if the
// write leaves the record's credits alone, else they are lost to it.
func (s *Service) holdLeases(ctx context.Context, match func(leasePair) bool) (end func()) {
	end, err := s.leases.hold(ctx, match)
	if err != nil {
		s.log.Error("giving back credit leases before a write failed", "err", err)
	}
	return end
}
