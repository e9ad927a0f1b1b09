package memory

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

// missing is the error for a record that is not there: what is its kind
// ("owner", "role", "webhook"), id its name or id.
func missing(what, id string) error {
	return fmt.Errorf("memory: %s %q: %w", what, id, keyward.ErrNotFound)
}

// lookup returns, under the read lock, view of the record named name in *m
// (the record itself for a nil view), or missing(what, name).
func lookup[V any](s *Store, m *map[string]V, what, name string, view func(V) V) (V, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var zero V
	if err := s.check(); err != nil {
		return zero, err
	}
	v, ok := (*m)[name]
	if !ok {
		return zero, missing(what, name)
	}
	if view != nil {
		v = view(v)
	}
	return v, nil
}

// listNamed returns, under the read lock, view of every record of *m that f
// selects (the records themselves for a nil view), by name; nil for none.
func listNamed[V any](s *Store, m *map[string]V, f keyward.NameFilter, view func(V) V) ([]V, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []V
	for _, name := range matchingNames(*m, f) {
		v := (*m)[name]
		if view != nil {
			v = view(v)
		}
		out = append(out, v)
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

// deleteNamed deletes, under the write lock, the record named name from *m
// and appends a; it returns missing(what, name) if there is none. before,
// if not nil, runs first, under the lock: its error (a role still in use)
// stops the deletion.
func deleteNamed[V any](s *Store, m *map[string]V, what, name string, a *keyward.AuditEntry, before func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if _, ok := (*m)[name]; !ok {
		return missing(what, name)
	}
	if before != nil {
		if err := before(); err != nil {
			return err
		}
	}
	delete(*m, name)
	s.appendAudit(a)
	return nil
}
