package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/keyward/keyward"
)

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
	return lookup(s, &s.roles, "role", name, nil)
}

// ListRoles returns matching roles by name.
func (s *Store) ListRoles(_ context.Context, f keyward.NameFilter) ([]*keyward.Role, error) {
	return listNamed(s, &s.roles, f, nil)
}

// DeleteRole deletes the role unless a key has it.
func (s *Store) DeleteRole(_ context.Context, name string, a *keyward.AuditEntry) error {
	inUse := func() error {
		for _, k := range s.keys {
			if slices.Contains(k.Roles, name) {
				return fmt.Errorf("memory: role %q: key %s has it: %w", name, k.ID, keyward.ErrConflict)
			}
		}
		return nil
	}
	return deleteNamed(s, &s.roles, "role", name, a, inUse)
}
