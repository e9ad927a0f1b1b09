package memory

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

// credit is a key's or an owner's credits since its last spend. Stored
// records are never changed in place (readers share them), so a spend would
// copy the record; instead a spend changes the record's credit in place,
// and allocates nothing once the credit exists. Reads fold it into a copy
// of the record (keyView, withCount); a write that stores the record first
// folds it in (settleKey, settleOwner) or, replacing the record, drops it.
type credit struct {
	remaining  int64
	refilledAt *time.Time // never changed in place either
}

// keyView returns k with its credits: k itself when none were spent since
// it was stored, else a copy; s.mu must be held.
func (s *Store) keyView(k *keyward.Key) *keyward.Key {
	c := s.keyCredits[k.ID]
	if c == nil {
		return k
	}
	v := k.Clone()
	v.Remaining, v.RefilledAt = keyward.Ptr(c.remaining), c.refilledAt
	return v
}

// settleKey folds the credit of key id into its record; s.mu must be held
// for writing.
func (s *Store) settleKey(id string) {
	if k, ok := s.keys[id]; ok {
		s.keys[id] = s.keyView(k)
	}
	delete(s.keyCredits, id)
}

// settleOwner folds the credit of owner name into its record; s.mu must be
// held for writing.
func (s *Store) settleOwner(name string) {
	if c, ok := s.ownerCreds[name]; ok {
		if o, ok := s.owners[name]; ok {
			v := o.Clone()
			v.Remaining, v.RefilledAt = keyward.Ptr(c.remaining), c.refilledAt
			s.owners[name] = v
		}
		delete(s.ownerCreds, name)
	}
}

// creditState returns a record's credits (remaining, refill and refilledAt
// as stored, under its credit in m under name, if any) as a spend at now
// sees them: left is -1 for none counted; due reports that a refill
// applies first.
func creditState(remaining *int64, r *keyward.Refill, refilledAt *time.Time, m map[string]*credit, name string, now time.Time) (left int64, at *time.Time, due bool) {
	if remaining == nil {
		return -1, nil, false
	}
	left, at = *remaining, refilledAt
	if c := m[name]; c != nil {
		left, at = c.remaining, c.refilledAt
	}
	if r != nil && (at == nil || at.Before(periodStart(r, now))) {
		return r.Amount, at, true
	}
	return left, at, false
}

// periodStart returns the start of the refill period of r holding now.
func periodStart(r *keyward.Refill, now time.Time) time.Time {
	day, month := keyward.RefillBoundaries(now)
	if r.Interval == keyward.RefillMonthly {
		return month
	}
	return day
}

// take sets the credit *c (made if nil, and stored in m under name) to left
// after a spend of cost; due says whether the spend used a refill.
func take(m map[string]*credit, name string, r *keyward.Refill, left, cost int64, at *time.Time, due bool, now time.Time) {
	c := m[name]
	if c == nil {
		c = &credit{}
		m[name] = c
	}
	c.remaining, c.refilledAt = left-cost, at
	if due {
		start := periodStart(r, now)
		c.refilledAt = &start
	}
}

// SpendCredits takes the credits of the key and its owner under the lock.
func (s *Store) SpendCredits(_ context.Context, sp keyward.CreditSpend) (keyward.CreditBalance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bal := keyward.CreditBalance{Key: -1, Owner: -1}
	if err := s.check(); err != nil {
		return bal, err
	}
	k, ok := s.keys[sp.KeyID]
	if !ok {
		return bal, notFound(sp.KeyID)
	}
	keyLeft, keyAt, keyDue := creditState(k.Remaining, k.Refill, k.RefilledAt, s.keyCredits, k.ID, sp.Now)
	var o *keyward.Owner
	ownerLeft, ownerAt, ownerDue := int64(-1), (*time.Time)(nil), false
	if sp.Owner != "" {
		if o = s.owners[sp.Owner]; o != nil {
			ownerLeft, ownerAt, ownerDue = creditState(o.Remaining, o.Refill, o.RefilledAt, s.ownerCreds, o.Name, sp.Now)
		}
	}
	bal.Key, bal.Owner = keyLeft, ownerLeft
	if keyLeft >= 0 && keyLeft < sp.Cost || ownerLeft >= 0 && ownerLeft < sp.Cost {
		return bal, nil
	}
	bal.Spent = true
	if keyLeft >= 0 {
		take(s.keyCredits, k.ID, k.Refill, keyLeft, sp.Cost, keyAt, keyDue, sp.Now)
		bal.Key = keyLeft - sp.Cost
	}
	if ownerLeft >= 0 {
		take(s.ownerCreds, o.Name, o.Refill, ownerLeft, sp.Cost, ownerAt, ownerDue, sp.Now)
		bal.Owner = ownerLeft - sp.Cost
	}
	return bal, nil
}

var _ keyward.CreditRefunder = (*Store)(nil)

// RefundCredits gives back credits taken ahead of spends (see
// keyward.CreditRefunder) under the lock.
func (s *Store) RefundCredits(_ context.Context, r keyward.CreditRefund) (keyward.CreditRefunded, error) {
	var back keyward.CreditRefunded
	if r.Amount <= 0 || r.KeyID == "" && r.Owner == "" {
		return back, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return back, err
	}
	if k, ok := s.keys[r.KeyID]; ok && r.KeyID != "" && k.UpdatedAt.Equal(r.KeyUpdatedAt) {
		back.Key = refund(s.keyCredits, k.ID, k.Remaining, k.Refill, k.RefilledAt, r)
	}
	if o, ok := s.owners[r.Owner]; ok && r.Owner != "" && o.UpdatedAt.Equal(r.OwnerUpdatedAt) {
		back.Owner = refund(s.ownerCreds, o.Name, o.Remaining, o.Refill, o.RefilledAt, r)
	}
	return back, nil
}

// refund adds r.Amount to the credits of a record (remaining, refill and
// refilledAt as stored, its credit in m under name) unless it counts none or
// a refill of a period after r.Taken applied; s.mu must be held.
func refund(m map[string]*credit, name string, remaining *int64, rf *keyward.Refill, refilledAt *time.Time, r keyward.CreditRefund) bool {
	if remaining == nil {
		return false
	}
	c := m[name]
	if c == nil {
		c = &credit{remaining: *remaining, refilledAt: refilledAt}
	}
	if rf != nil && (c.refilledAt == nil || !c.refilledAt.Equal(periodStart(rf, r.Taken))) {
		return false
	}
	c.remaining += r.Amount
	m[name] = c
	return true
}
