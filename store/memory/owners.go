package memory

import (
	"context"
	"errors"

	"github.com/keyward/keyward"
)

// keyCount counts the keys that carry owner; s.mu must be held.
func (s *Store) keyCount(owner string) int64 {
	var n int64
	for _, k := range s.keys {
		if k.Owner == owner {
			n++
		}
	}
	return n
}

// withCount returns a copy of o with its key count and its credits
// (credits.go); s.mu must be held.
func (s *Store) withCount(o *keyward.Owner) *keyward.Owner {
	c := o.Clone()
	c.KeyCount = s.keyCount(o.Name)
	if cr := s.ownerCreds[o.Name]; cr != nil {
		c.Remaining, c.RefilledAt = keyward.Ptr(cr.remaining), cr.refilledAt
	}
	return c
}

// PutOwner creates or replaces the owner record.
func (s *Store) PutOwner(_ context.Context, o *keyward.Owner, a *keyward.AuditEntry) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return false, err
	}
	c := o.Clone()
	c.KeyCount = 0
	old, exists := s.owners[o.Name]
	if exists {
		c.CreatedAt = old.CreatedAt
	}
	s.owners[o.Name] = c
	delete(s.ownerCreds, o.Name) // the new record says what credits it has
	s.appendAudit(a)
	return !exists, nil
}

// GetOwner returns a copy of the owner record with its key count.
func (s *Store) GetOwner(_ context.Context, name string) (*keyward.Owner, error) {
	return lookup(s, &s.owners, "owner", name, s.withCount)
}

// UpdateOwner changes a copy of the record with fn and stores it.
func (s *Store) UpdateOwner(_ context.Context, name string, fn func(*keyward.Owner) (*keyward.AuditEntry, error)) (*keyward.Owner, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	s.settleOwner(name)
	cur, ok := s.owners[name]
	if !ok {
		return nil, missing("owner", name)
	}
	o := cur.Clone()
	a, err := fn(o)
	if errors.Is(err, keyward.ErrNoChange) {
		return s.withCount(cur), nil
	}
	if err != nil {
		return nil, err
	}
	o.Name, o.CreatedAt, o.KeyCount = cur.Name, cur.CreatedAt, 0
	s.owners[name] = o
	s.appendAudit(a)
	return s.withCount(o), nil
}

// ListOwners returns matching records by name, with their key counts.
func (s *Store) ListOwners(_ context.Context, f keyward.NameFilter) ([]*keyward.Owner, error) {
	return listNamed(s, &s.owners, f, s.withCount)
}

// DeleteOwner deletes the record; keys keep their owner string.
func (s *Store) DeleteOwner(_ context.Context, name string, a *keyward.AuditEntry) error {
	dropCredits := func() error { delete(s.ownerCreds, name); return nil }
	return deleteNamed(s, &s.owners, "owner", name, a, dropCredits)
}
