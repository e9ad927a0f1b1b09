package keyward

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Credit leases. A spend of credits is a write to the store, and for a busy
// key that write costs more than the rest of its verification. So a Service
// that sees a key (with its owner) spend credits often takes a block of
// them from the store ahead, in the same atomic spend as the request's own
// cost, and spends the block in memory: a lease. What it does not spend it
// gives back (see [CreditRefunder]) once the key has been idle for
// Options.CreditLease, before a write through it to the key or the owner, at
// the end of the UTC day, and on Close.
//
// What holds:
//   - Credits are never overspent, across any number of instances: every
//     credit spent in memory was taken from the store first.
//   - On one instance the answers are exact: a verification reports the
//     credits left as the store would, and Get, List and GetOwner count the
//     lease as the key's or owner's.
//   - Leases are for busy keys with large balances, and small: a lease holds
//     what the key spends in half the lease time, at least 1,000 credits
//     (and 4 costs) and at most 1/1024 of the credits left. So a key spending
//     under 2,000 credits a second, or with under 1,024,000 credits left (in
//     the key or the owner), has no lease: every spend is the store's, as
//     without leases, and the last credits are spent one by one.
//   - Another instance (or the CLI) reads the credits low by what leases
//     hold, and may refuse a request while another instance still holds
//     leased credits, until it gives them back (after its lease time idle).
//   - A process killed without Close loses its unspent leases: at most a
//     1,024th of each balance it leased from.
//   - A write to a key's or an owner's credits from another instance ends
//     the leases taken before it: their unspent credits are not given back,
//     since the write set the balance; the instance stops spending them when
//     it sees the new record (at once over the cache's bus).

// DefaultCreditLease is how long a Service keeps the unspent credits of a
// lease that is not used before it gives them back: [Options.CreditLease].
const DefaultCreditLease = time.Second

const (
	leaseShare  = 1024      // a lease takes at most 1/leaseShare of the credits left
	leaseCosts  = 4         // a lease below leaseCosts × the cost is not taken,
	leaseLeast  = 1000      // nor one below leaseLeast credits
	leaseMax    = 1_000_000 // the largest lease
	leaseWindow = 100 * time.Millisecond
	// leaseForget is how many lease times an entry without a lease is kept
	// idle before it is dropped (with its measure of demand).
	leaseForget = 10
)

// leasePair names the rows a lease was taken from: the key and, when its
// owner's credits are spent too, the owner.
type leasePair struct{ key, owner string }

// creditLeases holds a Service's leases.
type creditLeases struct {
	store    Store
	refunder CreditRefunder
	life     time.Duration
	leases   sync.Map // leasePair → *creditLease: every pair that spent lately
	// active holds the pairs that took a lease since the settle that last
	// found it empty: the few that settle, release and the readers visit.
	active  sync.Map      // leasePair → *creditLease
	settles atomic.Int64  // settles run; entries are swept every leaseForget
	taken   atomic.Uint64 // leases taken
	back    atomic.Uint64 // credits given back
	closed  atomic.Bool

	staleMu sync.Mutex
	stale   []CreditRefund // leases ended by a record's change, to give back

	holdMu sync.Mutex
	holds  []*leaseHold // writes in progress: their pairs take no lease
	nHolds atomic.Int32 // len(holds), read without the lock
}

// creditLease is the lease of one pair, and the demand that sizes it.
type creditLease struct {
	of   *creditLeases // whose entry it is, and of which pair: what a
	pair leasePair     // key's verify memo checks before it uses the entry
	mu   sync.Mutex
	// left is the credits held and not spent, taken with the records of
	// versions keyVer and ownerVer (their UpdatedAt) at taken; base is the
	// store's balances after the last take, so that base + left is the
	// credits left as the store would count them.
	left             int64
	base             CreditBalance
	keyVer, ownerVer time.Time
	taken            time.Time
	until            time.Time     // the lease ends at the next UTC day
	taking           bool          // a spend is taking a new lease, and
	takeDone         chan struct{} // closed when it is done
	plain            int           // spends in the store without a lease, in flight
	drained          chan struct{} // closed when plain is back to 0, for a take
	gone             bool          // dropped from the map: use a new entry
	// demand: spends since since, the last rate measured, the last spend,
	// and the balances the store last reported
	count int64
	since time.Time
	rate  float64
	last  time.Time
	bal   CreditBalance
	known bool
}

// newCreditLeases returns the leases of a Service over store, or nil when
// life is negative or store cannot give credits back.
func newCreditLeases(store Store, life time.Duration) *creditLeases {
	if life < 0 {
		return nil
	}
	cr, ok := store.(CreditRefunder)
	if !ok {
		return nil
	}
	if _, err := cr.RefundCredits(context.Background(), CreditRefund{}); err != nil {
		return nil // a wrapper of a store without refunds
	}
	if life == 0 {
		life = DefaultCreditLease
	}
	return &creditLeases{store: store, refunder: cr, life: life}
}

// spend spends sp as [Store.SpendCredits] does, from a lease when one holds
// enough. k is the key record the caller verified, ownerVer the UpdatedAt
// of its owner record (zero without owner credits).
func (c *creditLeases) spend(ctx context.Context, sp CreditSpend, k *Key, ownerVer time.Time) (CreditBalance, error) {
	if c.closed.Load() {
		return c.store.SpendCredits(ctx, sp)
	}
	pair := leasePair{sp.KeyID, sp.Owner}
	keyVer := k.UpdatedAt
	for {
		e := c.entryOf(k, pair, sp.Now)
		e.mu.Lock()
		if e.gone {
			e.mu.Unlock()
			if k.memo != nil {
				k.memo.lease.CompareAndSwap(e, nil)
			}
			continue
		}
		e.count++
		e.last = sp.Now
		if e.left > 0 && !e.valid(keyVer, ownerVer, sp.Now) {
			c.retire(pair, e) // taken with other records, or yesterday
		}
		if e.left > 0 && e.left >= sp.Cost {
			e.left -= sp.Cost
			bal := e.balance()
			e.mu.Unlock()
			return bal, nil
		}
		if e.taking {
			// A new lease is on its way: wait for it rather than spend
			// beside it, so that what a lease reports stays exact.
			done := e.takeDone
			e.mu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return CreditBalance{Key: -1, Owner: -1}, context.Cause(ctx)
			}
		}
		// The lease is short: what it holds pays part of the cost, and the
		// store the rest (with a new lease, when it is worth one).
		var part CreditRefund
		if e.left > 0 {
			part = e.refund(pair)
			e.left = 0
		}
		rest := sp
		rest.Cost -= part.Amount
		var bal CreditBalance
		var err error
		if n := e.size(sp.Now, sp.Cost, c.life); n > 0 && !c.onHold(pair) {
			// The store's spends in flight finish first: each reports the
			// balance as the store has it, which must not leave out a lease
			// taken before it.
			e.taking, e.takeDone = true, make(chan struct{})
			var drained chan struct{}
			if e.plain > 0 {
				drained = make(chan struct{})
				e.drained = drained
			}
			e.mu.Unlock()
			if drained != nil {
				<-drained
			}
			bal, err = c.take(ctx, e, rest, n, keyVer, ownerVer)
		} else {
			bal, err = c.plainSpend(ctx, e, rest) // unlocks e
		}
		if part.Amount > 0 && (err != nil || !bal.Spent) {
			c.putBack(e, part, keyVer, ownerVer, sp.Now)
			if err == nil {
				bal.Key, bal.Owner = withLease(bal.Key, part.Amount), withLease(bal.Owner, part.Amount)
			}
		}
		return bal, err
	}
}

// plainSpend spends sp in the store, without a lease, counted in e.plain
// while it is in flight (a take waits for those); e.mu must be held, and
// plainSpend unlocks it.
func (c *creditLeases) plainSpend(ctx context.Context, e *creditLease, sp CreditSpend) (CreditBalance, error) {
	e.plain++
	e.mu.Unlock()
	bal, err := c.store.SpendCredits(ctx, sp)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.plain--; e.plain == 0 && e.drained != nil {
		close(e.drained)
		e.drained = nil
	}
	if err == nil {
		e.bal, e.known = bal, true
	}
	return bal, err
}

// putBack returns to e's lease the part of it that paid for a spend the
// store then refused, or queues it to be given back when the lease changed
// meanwhile.
func (c *creditLeases) putBack(e *creditLease, part CreditRefund, keyVer, ownerVer, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.gone && e.valid(keyVer, ownerVer, now) {
		e.left += part.Amount
		return
	}
	c.staleMu.Lock()
	c.stale = append(c.stale, part)
	c.staleMu.Unlock()
}

// entryOf returns the lease entry of pair, made at now if there is none:
// the one k's verify memo holds when it is c's entry of pair, else the
// map's, which the memo then holds.
func (c *creditLeases) entryOf(k *Key, pair leasePair, now time.Time) *creditLease {
	if k.memo != nil {
		if e := k.memo.lease.Load(); e != nil && e.of == c && e.pair == pair {
			return e
		}
	}
	e := c.entry(pair, now)
	if k.memo != nil {
		k.memo.lease.Store(e)
	}
	return e
}

// entry returns the lease entry of pair, made at now if there is none.
func (c *creditLeases) entry(pair leasePair, now time.Time) *creditLease {
	if v, ok := c.leases.Load(pair); ok {
		return v.(*creditLease)
	}
	v, _ := c.leases.LoadOrStore(pair, &creditLease{of: c, pair: pair, since: now})
	return v.(*creditLease)
}

// take spends sp's cost and n credits more in one store spend and keeps the
// n as the lease of e; when the store has too few for both, it spends the
// cost alone.
func (c *creditLeases) take(ctx context.Context, e *creditLease, sp CreditSpend, n int64, keyVer, ownerVer time.Time) (CreditBalance, error) {
	lsp := sp
	lsp.Cost += n
	bal, err := c.store.SpendCredits(ctx, lsp)
	if err == nil && bal.Spent {
		keyVer, ownerVer = c.versions(ctx, sp, keyVer, ownerVer)
	}
	e.mu.Lock()
	e.taking = false
	close(e.takeDone) // the spends that waited try again
	if err != nil {
		e.mu.Unlock()
		return bal, err
	}
	if !bal.Spent {
		// Too few for the lease: size the next from these balances, and
		// spend the cost alone, as a spend without a lease.
		e.bal, e.known = bal, true
		return c.plainSpend(ctx, e, sp) // unlocks e
	}
	if e.left > 0 && !e.valid(keyVer, ownerVer, sp.Now) {
		c.retire(sp.pair(), e)
	}
	e.left += n
	e.base, e.bal, e.known = bal, bal, true
	e.keyVer, e.ownerVer, e.taken = keyVer, ownerVer, sp.Now
	day, _ := RefillBoundaries(sp.Now)
	e.until = day.AddDate(0, 0, 1)
	out := e.balance()
	c.active.Store(sp.pair(), e)
	c.taken.Add(1)
	// Closed meanwhile: Close's settle may have passed this entry, so the
	// lease goes back now. (Close sets closed before it settles, and its
	// settle locks each entry: either it sees this lease, or this sees
	// closed.)
	var late []CreditRefund
	if c.closed.Load() {
		late = append(late, e.refund(sp.pair()))
		e.left = 0
	}
	e.mu.Unlock()
	if late != nil {
		if err := c.giveBack(ctx, late); err != nil {
			return out, nil // kept on the stale list; the spend itself stands
		}
	}
	return out, nil
}

// versions returns the versions (UpdatedAt) of the rows sp spent from as
// the store has them right after a take, in place of those of the records
// the caller verified (keyVer, ownerVer), which a write may have passed: a
// verification that read the key before an admin write can take its lease
// after the write. Labelled with the caller's older version, that lease
// could never be given back (a refund needs the version the row has), and
// its credits would be lost; labelled with the store's, it is given back
// when it ends. A read that fails keeps the caller's versions.
func (c *creditLeases) versions(ctx context.Context, sp CreditSpend, keyVer, ownerVer time.Time) (time.Time, time.Time) {
	fresh := NewFreshContext(ctx)
	if k, err := c.store.Get(fresh, sp.KeyID); err == nil {
		keyVer = k.UpdatedAt
	}
	if sp.Owner != "" {
		if o, err := c.store.GetOwner(fresh, sp.Owner); err == nil {
			ownerVer = o.UpdatedAt
		}
	}
	return keyVer, ownerVer
}

// valid reports whether e's lease may serve a spend at now with records of
// those versions; e.mu must be held.
func (e *creditLease) valid(keyVer, ownerVer, now time.Time) bool {
	return e.keyVer.Equal(keyVer) && e.ownerVer.Equal(ownerVer) && now.Before(e.until)
}

func (sp CreditSpend) pair() leasePair { return leasePair{sp.KeyID, sp.Owner} }

// balance is what a spend from the lease reports: the store's balances with
// the lease counted in; e.mu must be held.
func (e *creditLease) balance() CreditBalance {
	return CreditBalance{Spent: true, Key: withLease(e.base.Key, e.left), Owner: withLease(e.base.Owner, e.left)}
}

func withLease(left, lease int64) int64 {
	if left < 0 {
		return left // no credits counted
	}
	return left + lease
}

// size returns how many credits a lease taken now should hold for spends of
// cost, 0 for none; e.mu must be held. It measures the demand since the
// last measure, at least leaseWindow ago, and takes what it spends in half
// the lease time, within a 1,024th of the credits left.
func (e *creditLease) size(now time.Time, cost int64, life time.Duration) int64 {
	if d := now.Sub(e.since); d >= leaseWindow {
		e.rate = float64(e.count) / d.Seconds()
		e.count, e.since = 0, now
	}
	if !e.known || cost <= 0 {
		return 0
	}
	least := int64(-1)
	for _, left := range [2]int64{e.bal.Key, e.bal.Owner} {
		if left >= 0 && (least < 0 || left < least) {
			least = left
		}
	}
	if least < 0 {
		return 0 // no credits counted: nothing to lease
	}
	n := min(int64(e.rate*float64(cost)*life.Seconds()/2), least/leaseShare, leaseMax)
	if n < max(leaseCosts*cost, leaseLeast) {
		return 0
	}
	return n
}

// retire ends e's lease: its unspent credits are given back at the next
// settle; e.mu must be held.
func (c *creditLeases) retire(pair leasePair, e *creditLease) {
	r := e.refund(pair)
	e.left = 0
	c.staleMu.Lock()
	c.stale = append(c.stale, r)
	c.staleMu.Unlock()
}

// refund is the refund of e's unspent credits; e.mu must be held.
func (e *creditLease) refund(pair leasePair) CreditRefund {
	r := CreditRefund{Amount: e.left, Taken: e.taken}
	if e.base.Key >= 0 {
		r.KeyID, r.KeyUpdatedAt = pair.key, e.keyVer
	}
	if e.base.Owner >= 0 {
		r.Owner, r.OwnerUpdatedAt = pair.owner, e.ownerVer
	}
	return r
}
