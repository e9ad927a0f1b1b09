package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"github.com/keyward/keyward"
)

// records caches the owner records or the roles that verifications read:
// the found ones and the names that have none (most owners of keys have no
// record, and a verification asks for it every time). It keeps the key
// cache's guarantees: TTL (shortened while the bus is unhealthy), every
// write dropping the entry here and on every instance, stale copies served
// for StaleTTL while the store is down, one load for concurrent misses, and
// no caching of a load that raced a write, and records in use reloaded in
// the background before their TTL ends.
type records[T any] struct {
	s       *Store
	what    string // "owner" or "role", for errors
	load    func(ctx context.Context, name string) (T, error)
	entries *otter.Cache[string, record[T]]
	flight  singleflight.Group
	seed    maphash.Seed
	gens    [genStripes]atomic.Uint64
}

type record[T any] struct {
	val        T
	found      bool
	loaded     int64        // Unix nanoseconds, when its read began
	refreshing *atomic.Bool // a background reload was started
}

func newRecords[T any](s *Store, what string, size int, load func(context.Context, string) (T, error)) (*records[T], error) {
	entries, err := otter.New(&otter.Options[string, record[T]]{MaximumSize: size})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &records[T]{s: s, what: what, load: load, entries: entries, seed: maphash.MakeSeed()}, nil
}

func (r *records[T]) gen(name string) *atomic.Uint64 {
	return &r.gens[maphash.String(r.seed, name)%genStripes]
}

// drop forgets name (a write here or on another instance).
func (r *records[T]) drop(name string) {
	r.gen(name).Add(1)
	r.entries.Invalidate(name)
	r.s.recordChanges.Add(1)
}

func (r *records[T]) reset() {
	for i := range r.gens {
		r.gens[i].Add(1)
	}
	r.entries.InvalidateAll()
	r.s.recordChanges.Add(1)
}

func (r *records[T]) notFound(name string) error {
	return fmt.Errorf("cache: %s %q: %w", r.what, name, keyward.ErrNotFound)
}

// get returns the record of name, from the cache while it is fresh.
func (r *records[T]) get(ctx context.Context, name string) (T, error) {
	if keyward.FreshFromContext(ctx) {
		return r.load(ctx, name)
	}
	now := r.s.now().UnixNano()
	e, cached := r.entries.GetIfPresent(name)
	ttl := r.s.ttlAt(now)
	if age := now - e.loaded; cached && age < int64(ttl) {
		if age >= r.s.refreshAt(ttl) && e.refreshing.CompareAndSwap(false, true) {
			r.s.background(func() {
				r.flight.Do(name, func() (any, error) { return r.fetch(context.Background(), name) })
			})
		}
		if !e.found {
			var zero T
			return zero, r.notFound(name)
		}
		return e.val, nil
	}
	v, err, _ := r.flight.Do(name, func() (any, error) { return r.fetch(ctx, name) })
	switch {
	case err == nil:
		rec := v.(record[T])
		if !rec.found {
			return rec.val, r.notFound(name)
		}
		return rec.val, nil
	case cached && now-e.loaded < int64(r.s.stale):
		// The store is down: serve what we have, for a bounded time.
		r.s.stales.Add(1)
		if !e.found {
			return e.val, r.notFound(name)
		}
		return e.val, nil
	}
	var zero T
	return zero, err
}

// RecordsEpoch implements [keyward.RecordCache]. Its changes count every
// drop of an owner record or role (a write here, an event of the bus, a
// reconnection of the bus); its period is half the window in which a hit
// reloads a record in the background (RefreshAhead of the TTL in force). A
// memo therefore gives up a record at once when a write drops it, and
// otherwise within a period: a key verified in every period meets each of
// its records in that window at least once, which keeps them refreshed, and
// a record it holds is at most TTL old while its reloads succeed. With
// refreshing off the period is an eighth of the TTL, which a record may
// then outlive by up to that much.
//
// now stands in for the clock as in GetAt.
func (s *Store) RecordsEpoch(now time.Time) keyward.RecordEpoch {
	n := s.nanos(now)
	ttl := s.ttlAt(n)
	period := (ttl - time.Duration(s.refreshAt(ttl))) / 2
	if period <= 0 {
		period = ttl / 8
	}
	return keyward.RecordEpoch{Changes: s.recordChanges.Load(), Period: n / max(int64(period), 1)}
}

// fetch reads the record of name and caches it unless a write to it
// happened meanwhile; it runs inside a flight for name.
func (r *records[T]) fetch(ctx context.Context, name string) (any, error) {
	gen := r.gen(name).Load()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	loaded := r.s.now().UnixNano()
	val, err := r.load(lctx, name)
	found := err == nil
	if err != nil && !errors.Is(err, keyward.ErrNotFound) {
		return nil, err
	}
	if r.gen(name).Load() == gen {
		r.entries.Set(name, record[T]{val: val, found: found, loaded: loaded, refreshing: new(atomic.Bool)})
	}
	return record[T]{val: val, found: found}, nil
}

// write runs a write for name and, when it succeeds, drops name here and on
// every instance.
func (r *records[T]) write(ctx context.Context, name string, kind EventKind, fn func() error) error {
	r.gen(name).Add(1) // loads racing with the write are not cached
	if err := fn(); err != nil {
		return err
	}
	r.s.publish(ctx, Event{Kind: kind, ID: name})
	return nil
}

// PutOwner writes through and drops the record everywhere.
func (s *Store) PutOwner(ctx context.Context, o *keyward.Owner, a *keyward.AuditEntry) (created bool, err error) {
	err = s.owners.write(ctx, o.Name, OwnerChanged, func() error {
		created, err = s.next.PutOwner(ctx, o, a)
		return err
	})
	return created, err
}

// GetOwner returns the cached owner record (or the memory that there is
// none) while it is fresh.
func (s *Store) GetOwner(ctx context.Context, name string) (*keyward.Owner, error) {
	return s.owners.get(ctx, name)
}

// UpdateOwner writes through and drops the record everywhere.
func (s *Store) UpdateOwner(ctx context.Context, name string, fn func(*keyward.Owner) (*keyward.AuditEntry, error)) (o *keyward.Owner, err error) {
	err = s.owners.write(ctx, name, OwnerChanged, func() error {
		o, err = s.next.UpdateOwner(ctx, name, fn)
		return err
	})
	return o, err
}

// ListOwners goes to the store.
func (s *Store) ListOwners(ctx context.Context, f keyward.NameFilter) ([]*keyward.Owner, error) {
	return s.next.ListOwners(ctx, f)
}

// DeleteOwner writes through and drops the record everywhere.
func (s *Store) DeleteOwner(ctx context.Context, name string, a *keyward.AuditEntry) error {
	return s.owners.write(ctx, name, OwnerChanged, func() error { return s.next.DeleteOwner(ctx, name, a) })
}

// PutRole writes through and drops the role everywhere.
func (s *Store) PutRole(ctx context.Context, role *keyward.Role, a *keyward.AuditEntry) (created bool, err error) {
	err = s.roles.write(ctx, role.Name, RoleChanged, func() error {
		created, err = s.next.PutRole(ctx, role, a)
		return err
	})
	return created, err
}

// GetRole returns the cached role while it is fresh.
func (s *Store) GetRole(ctx context.Context, name string) (*keyward.Role, error) {
	return s.roles.get(ctx, name)
}

// ListRoles goes to the store.
func (s *Store) ListRoles(ctx context.Context, f keyward.NameFilter) ([]*keyward.Role, error) {
	return s.next.ListRoles(ctx, f)
}

// DeleteRole writes through and drops the role everywhere.
func (s *Store) DeleteRole(ctx context.Context, name string, a *keyward.AuditEntry) error {
	return s.roles.write(ctx, name, RoleChanged, func() error { return s.next.DeleteRole(ctx, name, a) })
}

// Setting goes to the store: settings are read where they are used (admin
// writes, start-up), never on the verification path.
func (s *Store) Setting(ctx context.Context, name string) (json.RawMessage, error) {
	return s.next.Setting(ctx, name)
}

// PutSetting goes to the store.
func (s *Store) PutSetting(ctx context.Context, name string, value json.RawMessage, a *keyward.AuditEntry) error {
	return s.next.PutSetting(ctx, name, value, a)
}
