package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

func ownerNotFound(name string) error {
	return fmt.Errorf("memory: owner %q: %w", name, keyward.ErrNotFound)
}

func roleNotFound(name string) error {
	return fmt.Errorf("memory: role %q: %w", name, keyward.ErrNotFound)
}

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

// withCount returns a copy of o with its key count; s.mu must be held.
func (s *Store) withCount(o *keyward.Owner) *keyward.Owner {
	c := o.Clone()
	c.KeyCount = s.keyCount(o.Name)
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
	s.appendAudit(a)
	return !exists, nil
}

// GetOwner returns a copy of the owner record with its key count.
func (s *Store) GetOwner(_ context.Context, name string) (*keyward.Owner, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	o, ok := s.owners[name]
	if !ok {
		return nil, ownerNotFound(name)
	}
	return s.withCount(o), nil
}

// UpdateOwner changes a copy of the record with fn and stores it.
func (s *Store) UpdateOwner(_ context.Context, name string, fn func(*keyward.Owner) (*keyward.AuditEntry, error)) (*keyward.Owner, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	cur, ok := s.owners[name]
	if !ok {
		return nil, ownerNotFound(name)
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

// ListOwners returns matching records by name.
func (s *Store) ListOwners(_ context.Context, f keyward.NameFilter) ([]*keyward.Owner, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []*keyward.Owner
	for _, name := range matchingNames(s.owners, f) {
		out = append(out, s.withCount(s.owners[name]))
	}
	return out, nil
}

// matchingNames returns the sorted names of m that f selects.
func matchingNames[V any](m map[string]V, f keyward.NameFilter) []string {
	q := strings.ToLower(f.Contains)
	var names []string
	for name := range m {
		if name > f.After && (q == "" || strings.Contains(strings.ToLower(name), q)) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if f.Limit > 0 && len(names) > f.Limit {
		names = names[:f.Limit]
	}
	return names
}

// DeleteOwner deletes the record; keys keep their owner string.
func (s *Store) DeleteOwner(_ context.Context, name string, a *keyward.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if _, ok := s.owners[name]; !ok {
		return ownerNotFound(name)
	}
	delete(s.owners, name)
	s.appendAudit(a)
	return nil
}

// PutRole creates or replaces the role.
func (s *Store) PutRole(_ context.Context, r *keyward.Role, a *keyward.AuditEntry) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return false, err
	}
	c := *r
	c.Scopes = slices.Clone(r.Scopes)
	old, exists := s.roles[r.Name]
	if exists {
		c.CreatedAt = old.CreatedAt
	}
	s.roles[r.Name] = &c
	s.appendAudit(a)
	return !exists, nil
}

// GetRole returns the role. Stored roles are replaced, never changed in
// place, so the result can be shared.
func (s *Store) GetRole(_ context.Context, name string) (*keyward.Role, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	r, ok := s.roles[name]
	if !ok {
		return nil, roleNotFound(name)
	}
	return r, nil
}

// ListRoles returns matching roles by name.
func (s *Store) ListRoles(_ context.Context, f keyward.NameFilter) ([]*keyward.Role, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []*keyward.Role
	for _, name := range matchingNames(s.roles, f) {
		out = append(out, s.roles[name])
	}
	return out, nil
}

// DeleteRole deletes the role unless a key has it.
func (s *Store) DeleteRole(_ context.Context, name string, a *keyward.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if _, ok := s.roles[name]; !ok {
		return roleNotFound(name)
	}
	for _, k := range s.keys {
		if slices.Contains(k.Roles, name) {
			return fmt.Errorf("memory: role %q: key %s has it: %w", name, k.ID, keyward.ErrConflict)
		}
	}
	delete(s.roles, name)
	s.appendAudit(a)
	return nil
}

// Setting returns a copy of the stored value.
func (s *Store) Setting(_ context.Context, name string) (json.RawMessage, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	v, ok := s.settings[name]
	if !ok {
		return nil, fmt.Errorf("memory: setting %q: %w", name, keyward.ErrNotFound)
	}
	return slices.Clone(v), nil
}

// PutSetting stores a copy of value.
func (s *Store) PutSetting(_ context.Context, name string, value json.RawMessage, a *keyward.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	s.settings[name] = slices.Clone(value)
	s.appendAudit(a)
	return nil
}
