package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/keyward/keyward"
)

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
