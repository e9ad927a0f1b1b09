// Package memory is an in-memory [keyward.Store]: for tests, examples and
// programs that issue keys at start. Everything is lost when the process ends.
package memory

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// Store keeps keys, usage and audit entries in maps guarded by one lock. It is
// safe for concurrent use. The zero value is not usable; call [New].
type Store struct {
	mu         sync.RWMutex
	keys       map[string]*keyward.Key
	owners     map[string]*keyward.Owner
	keyCredits map[string]*credit // by key id; see credits.go
	ownerCreds map[string]*credit // by owner name
	roles      map[string]*keyward.Role
	settings   map[string]json.RawMessage
	usage      map[usageKey]int64 // per key
	ownerUsage map[usageKey]int64 // per owner (id holds the owner's name)
	audit      []keyward.AuditEntry
	nextID     int64
	ev         eventData // see events.go
	closed     bool
}

type usageKey struct {
	id      string
	minute  int64
	outcome keyward.Outcome
}

var _ keyward.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		keys: map[string]*keyward.Key{}, owners: map[string]*keyward.Owner{}, roles: map[string]*keyward.Role{},
		keyCredits: map[string]*credit{}, ownerCreds: map[string]*credit{},
		settings: map[string]json.RawMessage{},
		usage:    map[usageKey]int64{}, ownerUsage: map[usageKey]int64{}, ev: newEventData(),
	}
}

func (s *Store) check() error {
	if s.closed {
		return keyward.ErrClosed
	}
	return nil
}

func notFound(id string) error { return fmt.Errorf("memory: key %q: %w", id, keyward.ErrNotFound) }

// appendAudit stores a copy of a with the next id, and its events in the
// outbox; s.mu must be held.
func (s *Store) appendAudit(a *keyward.AuditEntry) {
	if a == nil {
		return
	}
	s.nextID++
	e := *a
	e.ID = s.nextID
	e.Details = slices.Clone(e.Details)
	e.Events = nil
	s.audit = append(s.audit, e)
	s.appendEvents(a.Events)
}

// Create stores a copy of k.
func (s *Store) Create(_ context.Context, k *keyward.Key, a *keyward.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("memory: key %q exists: %w", k.ID, keyward.ErrConflict)
	}
	s.keys[k.ID] = k.Clone()
	delete(s.keyCredits, k.ID) // of a deleted key of that id
	s.appendAudit(a)
	return nil
}

// Get returns the stored key. Stored keys are never changed in place (writes
// replace them), so the result can be shared; a key whose credits were
// spent since it was stored is a copy with its credits (credits.go).
func (s *Store) Get(_ context.Context, id string) (*keyward.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	k, ok := s.keys[id]
	if !ok {
		return nil, notFound(id)
	}
	return s.keyView(k), nil
}

// List returns matching keys, newest first.
func (s *Store) List(_ context.Context, f keyward.ListFilter) ([]*keyward.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []*keyward.Key
	for _, k := range s.keys {
		if matches(k, f) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *keyward.Key) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	for i, k := range out {
		out[i] = s.keyView(k)
	}
	return out, nil
}

// CountKeys counts the keys List returns for f without After and Limit.
func (s *Store) CountKeys(_ context.Context, f keyward.ListFilter) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	f.After = nil
	var n int64
	for _, k := range s.keys {
		if matches(k, f) {
			n++
		}
	}
	return n, nil
}

// matches reports whether k passes the filters of f (all but Limit).
func matches(k *keyward.Key, f keyward.ListFilter) bool {
	switch {
	case f.Owner != "" && k.Owner != f.Owner,
		f.Status != "" && k.Status(f.Now) != f.Status,
		f.NameContains != "" && !strings.Contains(strings.ToLower(k.Name), strings.ToLower(f.NameContains)),
		f.After != nil && !before(k, f.After),
		f.NeverUsed && k.LastUsedAt != nil,
		f.NoExpiry && k.ExpiresAt != nil:
		return false
	}
	if t := f.UnusedSince; !t.IsZero() && (!k.CreatedAt.Before(t) || k.LastUsedAt != nil && !k.LastUsedAt.Before(t)) {
		return false
	}
	if t := f.ExpiresBy; !t.IsZero() && (k.ExpiresAt == nil || !k.ExpiresAt.After(f.Now) || k.ExpiresAt.After(t)) {
		return false
	}
	return true
}

// before reports whether k comes after the cursor in newest-first order.
func before(k *keyward.Key, c *keyward.ListCursor) bool {
	if c := k.CreatedAt.Compare(c.CreatedAt); c != 0 {
		return c < 0
	}
	return k.ID < c.ID
}

// Update applies fn to a copy and stores it.
func (s *Store) Update(_ context.Context, id string, fn func(*keyward.Key) (*keyward.AuditEntry, error)) (*keyward.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	s.settleKey(id)
	cur, ok := s.keys[id]
	if !ok {
		return nil, notFound(id)
	}
	k := cur.Clone()
	a, err := fn(k)
	if errors.Is(err, keyward.ErrNoChange) {
		return cur, nil
	}
	if err != nil {
		return nil, err
	}
	k.ID = id
	s.keys[id] = k
	s.appendAudit(a)
	return k, nil
}

// Rotate applies fn and stores the changed key and its successor.
func (s *Store) Rotate(_ context.Context, id string, fn func(*keyward.Key) (*keyward.Key, *keyward.AuditEntry, error)) (*keyward.Key, *keyward.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	s.settleKey(id)
	cur, ok := s.keys[id]
	if !ok {
		return nil, nil, notFound(id)
	}
	old := cur.Clone()
	next, a, err := fn(old)
	if err != nil {
		return nil, nil, err
	}
	if _, taken := s.keys[next.ID]; taken {
		return nil, nil, fmt.Errorf("memory: key %q exists: %w", next.ID, keyward.ErrConflict)
	}
	old.ID = id
	s.keys[id] = old
	s.keys[next.ID] = next.Clone()
	delete(s.keyCredits, next.ID)
	s.appendAudit(a)
	return old, s.keys[next.ID], nil
}

// Delete removes the key; its usage and audit entries stay.
func (s *Store) Delete(_ context.Context, id string, a *keyward.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if _, ok := s.keys[id]; !ok {
		return notFound(id)
	}
	delete(s.keys, id)
	delete(s.keyCredits, id)
	s.appendAudit(a)
	return nil
}

// RecordUsage adds the batch's counts and moves last_used_at forward.
func (s *Store) RecordUsage(_ context.Context, b keyward.UsageBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	for _, c := range b.Counts {
		s.usage[usageKey{id: c.KeyID, minute: c.Start.Unix(), outcome: c.Outcome}] += c.Count
		if c.Owner != "" {
			s.ownerUsage[usageKey{id: c.Owner, minute: c.Start.Unix(), outcome: c.Outcome}] += c.Count
		}
	}
	for id, t := range b.LastUsed {
		s.settleKey(id)
		cur, ok := s.keys[id]
		if !ok || cur.LastUsedAt != nil && !t.After(*cur.LastUsedAt) {
			continue
		}
		k := cur.Clone()
		t := t.UTC().Truncate(time.Millisecond)
		k.LastUsedAt = &t
		s.keys[id] = k
	}
	return nil
}

// Usage sums the minute counts of the key into buckets.
func (s *Store) Usage(_ context.Context, q keyward.UsageQuery) ([]keyward.UsageCount, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	from, to, size := q.From.Unix(), q.To.Unix(), int64(q.Bucket/time.Second)
	type bucketKey struct {
		start   int64
		outcome keyward.Outcome
	}
	sums := map[bucketKey]int64{}
	counts, id := s.usage, q.KeyID
	if q.Owner != "" {
		counts, id = s.ownerUsage, q.Owner
	}
	for k, n := range counts {
		if id != "" && k.id != id || k.minute < from || k.minute >= to {
			continue
		}
		sums[bucketKey{start: k.minute - k.minute%size, outcome: k.outcome}] += n
	}
	out := make([]keyward.UsageCount, 0, len(sums))
	for k, n := range sums {
		out = append(out, keyward.UsageCount{KeyID: q.KeyID, Start: time.Unix(k.start, 0).UTC(), Outcome: k.outcome, Count: n})
	}
	slices.SortFunc(out, func(a, b keyward.UsageCount) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.Outcome, b.Outcome)
	})
	return out, nil
}

// ListAudit returns entries newest first.
func (s *Store) ListAudit(_ context.Context, f keyward.AuditFilter) ([]keyward.AuditEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []keyward.AuditEntry
	for i := len(s.audit) - 1; i >= 0; i-- {
		e := s.audit[i]
		if f.Before != 0 && e.ID >= f.Before || f.KeyID != "" && e.KeyID != f.KeyID {
			continue
		}
		e.Details = slices.Clone(e.Details)
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// Counts returns the number of keys per status.
func (s *Store) Counts(_ context.Context, now time.Time) (map[keyward.Status]int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	m := map[keyward.Status]int64{keyward.StatusActive: 0, keyward.StatusDisabled: 0, keyward.StatusRevoked: 0, keyward.StatusExpired: 0}
	for _, k := range s.keys {
		m[k.Status(now)]++
	}
	return m, nil
}

// Ping reports whether the store is open.
func (s *Store) Ping(context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.check()
}

// Close empties the store; later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.keys, s.owners, s.roles, s.usage, s.ownerUsage, s.audit = nil, nil, nil, nil, nil, nil
	s.keyCredits, s.ownerCreds = nil, nil
	s.ev = eventData{}
	return nil
}

// KeyIDs calls fn with every key id (see keyward.Store).
func (s *Store) KeyIDs(_ context.Context, fn func(id string) error) error {
	s.mu.RLock()
	ids := make([]string, 0, len(s.keys))
	for id := range s.keys {
		ids = append(ids, id)
	}
	s.mu.RUnlock()
	for _, id := range ids {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

// CreateBatch inserts the keys whose ids are free (see keyward.Store).
func (s *Store) CreateBatch(_ context.Context, keys []*keyward.Key, audit []*keyward.AuditEntry) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	n := 0
	for i, k := range keys {
		if _, taken := s.keys[k.ID]; taken {
			continue
		}
		s.keys[k.ID] = k.Clone()
		delete(s.keyCredits, k.ID)
		s.appendAudit(audit[i])
		n++
	}
	return n, nil
}
