// Package cache puts a verified-key cache in front of any [keyward.Store]:
//
//	store, err := cache.New(db, &cache.Options{Bus: bus}) // bus: cache/redis's, shared by every instance
//	if err != nil {
//		return err
//	}
//	defer store.Close() // closes db too
//	svc, err := keyward.New(store, hasher, &keyward.Options{LookupTime: store.LookupTime})
//
// The result is itself a Store, so the Service does not know it is there.
//
// # What it guarantees
//
//   - A cached key is read from the store again after TTL (default 30s). Every
//     write through the cache drops the entry at once and publishes an
//     invalidation on the [Bus], so other instances drop it too; revoking a
//     key is seen everywhere within the bus's latency, and within TTL in any
//     case. While the bus is unhealthy the TTL shrinks to FallbackTTL.
//   - Writes made without the cache (the CLI, another instance with no
//     shared bus) arrive through a [Follower], a Bus that reads the store's
//     events outbox every 500 ms: keyward serve uses one, which makes its
//     longer TTL (5 minutes) safe. A Follower stays healthy while its inner
//     bus (Redis) is down, since the outbox still carries every change.
//   - When the store cannot be reached, a key cached less than StaleTTL ago
//     (default 5m) keeps verifying; a key not cached gets the store's error
//     (an HTTP layer answers 503), never a success.
//   - A key in use is reloaded in the background before its TTL ends
//     (stale-while-revalidate): a hit on a key in the last RefreshAhead of
//     its TTL starts one reload, and the hits go on being served from the
//     cache meanwhile, so a busy key never misses. The refreshed entry is as
//     new as the reload, so the bounds above hold unchanged.
//   - N concurrent misses for one id make one store call (single flight).
//   - [Store.Warm] loads the keys in use lately (keyward.RecentKeys) in one
//     pass, so that a restarted server does not read each of them on its
//     first request; it never caches a key written while it runs.
//   - Unknown ids do not reach the store once per request: a bounded negative
//     cache remembers them, and when the store can list its ids
//     ([keyward.Store.KeyIDs]) a Bloom filter of existing ids sends ids that cannot exist
//     to the store only within a small budget of lookups per second (ids
//     created on another instance arrive through the bus, and the filter is
//     rebuilt periodically).
//
// A record loaded while the same key is being written is not cached, so a
// write can never be undone by a slow read.
//
// Owner records and roles are cached the same way. A Store also tells a
// Service when those may have changed ([Store.RecordsEpoch], for
// [keyward.RecordCache]): at every drop of one (a write, an event of the
// bus) and at least every half RefreshAhead, so that a key's verifications
// can reuse the records they read until then.
package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pace"
	"github.com/keyward/keyward/internal/stripe"
)

// Options tunes [New]. The zero value (or nil) gives the defaults.
type Options struct {
	// TTL is how long a loaded key is used without reading the store; 0
	// means 30s.
	TTL time.Duration
	// StaleTTL is how old a cached key may be and still verify while the
	// store is unreachable; 0 means 5m. It is at least TTL.
	StaleTTL time.Duration
	// FallbackTTL replaces TTL while the bus is unhealthy; 0 means 1s.
	FallbackTTL time.Duration
	// RefreshAhead is how long before the end of its TTL (or FallbackTTL) a
	// key that is hit is reloaded in the background; 0 means a quarter of
	// TTL, a negative value turns refreshing off. It is at most half the TTL
	// in force.
	RefreshAhead time.Duration
	// MaxKeys bounds the number of cached keys; 0 means DefaultMaxKeys.
	MaxKeys int
	// NegativeTTL is how long an unknown id is remembered; 0 means TTL.
	NegativeTTL time.Duration
	// MaxNegative bounds the number of remembered unknown ids; 0 means
	// 100,000.
	MaxNegative int
	// UnknownLookups is how many store lookups per second ids outside the
	// filter of existing ids may cause; 0 means 50.
	UnknownLookups int
	// FilterRefresh is how often the filter of existing ids is rebuilt from
	// the store; 0 means 5m.
	FilterRefresh time.Duration
	// Bus carries invalidations to other instances; nil means a LocalBus.
	Bus Bus
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives outage and recovery messages; nil discards them.
	Logger *slog.Logger
}

// Store is a caching keyward.Store. It is safe for concurrent use. Close
// stops its background work and closes the underlying store.
type Store struct {
	next                   keyward.Store
	bus                    Bus
	now                    func() time.Time
	wall                   bool     // now is time.Now: a caller's reading of it may stand in (nanos)
	busAt                  healthAt // the bus, when wall and it can judge its health at a reading
	log                    *slog.Logger
	ttl, stale, fallback   time.Duration
	refreshAhead           time.Duration
	entries                *otter.Cache[string, *entry]
	negative               *otter.Cache[string, struct{}]
	owners                 *records[*keyward.Owner]
	roles                  *records[*keyward.Role]
	recordChanges          atomic.Uint64       // owner records and roles dropped or loaded (RecordsEpoch)
	freshGets              bool                // next's Get returns new instances (keyward.FreshKeyReader)
	reloader               keyward.KeyReloader // next, when it reloads keys in use more cheaply than Get
	flight                 singleflight.Group
	seed                   maphash.Seed
	gens                   [genStripes]atomic.Uint64
	filter                 idFilter
	budget                 *rate.Limiter
	unsubscribe            func()
	stop                   chan struct{}
	done                   sync.WaitGroup
	outage                 atomic.Bool
	lookups                pace.Window    // the durations of the latest store lookups
	hits                   stripe.Counter // striped: every hit counts
	misses, stales         atomic.Uint64
	negHits, budgetDenials atomic.Uint64
	loads, loadErrors      atomic.Uint64
	refreshes              atomic.Uint64
	refreshing             sync.WaitGroup // background reloads
	mu                     sync.Mutex     // guards closed against new reloads
	closed                 bool
}

type entry struct {
	key        *keyward.Key
	loaded     int64       // Unix nanoseconds, when its read began
	refreshing atomic.Bool // a background reload was started
}

// genStripes is the number of write generations; a load is cached only if
// no write touched its stripe meanwhile.
const genStripes = 256

var _ keyward.Store = (*Store)(nil)

// New returns a caching store in front of next and subscribes it to the bus.
func New(next keyward.Store, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	o := *opts
	if o.TTL <= 0 {
		o.TTL = 30 * time.Second
	}
	if o.StaleTTL <= 0 {
		o.StaleTTL = 5 * time.Minute
	}
	o.StaleTTL = max(o.StaleTTL, o.TTL)
	if o.FallbackTTL <= 0 {
		o.FallbackTTL = time.Second
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.RefreshAhead == 0 {
		o.RefreshAhead = o.TTL / 4
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = o.TTL
	}
	if o.MaxNegative <= 0 {
		o.MaxNegative = 100_000
	}
	if o.UnknownLookups <= 0 {
		o.UnknownLookups = 50
	}
	if o.FilterRefresh <= 0 {
		o.FilterRefresh = 5 * time.Minute
	}
	if o.Bus == nil {
		o.Bus = NewLocalBus()
	}
	wall := o.Now == nil
	if wall {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	clock := &otterClock{now: o.Now}
	// No expiry inside otter: reads would then consult the clock on every
	// lookup, the most expensive part of a hit under load. Age is checked here
	// against each entry's load time instead; entries past the stale limit are
	// dropped when met and, in any case, by the size bound.
	entries, err := otter.New(&otter.Options[string, *entry]{
		MaximumSize: o.MaxKeys,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	negative, err := otter.New(&otter.Options[string, struct{}]{
		MaximumSize:      o.MaxNegative,
		ExpiryCalculator: otter.ExpiryWriting[string, struct{}](o.NegativeTTL),
		Clock:            clock,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	s := &Store{
		next: next, bus: o.Bus, now: o.Now, wall: wall, log: o.Logger,
		ttl: o.TTL, stale: o.StaleTTL, fallback: o.FallbackTTL, refreshAhead: o.RefreshAhead,
		entries: entries, negative: negative, seed: maphash.MakeSeed(),
		budget: rate.NewLimiter(rate.Limit(o.UnknownLookups), o.UnknownLookups),
		stop:   make(chan struct{}),
	}
	if h, ok := o.Bus.(healthAt); ok && wall {
		s.busAt = h
	}
	if s.owners, err = newRecords(s, "owner", o.MaxKeys, next.GetOwner); err != nil {
		return nil, err
	}
	if s.roles, err = newRecords(s, "role", 10_000, next.GetRole); err != nil {
		return nil, err
	}
	s.freshGets = returnsFresh(next)
	s.reloader, _ = next.(keyward.KeyReloader)
	s.unsubscribe = s.bus.Subscribe(s.apply)
	s.done.Add(1)
	go s.maintainFilter(o.FilterRefresh)
	return s, nil
}

// returnsFresh reports whether the store r says its key reads return new
// instances (keyward.FreshKeyReader), which the cache may keep as they are.
func returnsFresh(r any) bool {
	f, ok := r.(keyward.FreshKeyReader)
	return ok && f.ReturnsFreshKeys()
}

// otterClock feeds the injected clock to otter, without its periodic
// clean-up ticks (expired entries are dropped as they are read or evicted).
type otterClock struct{ now func() time.Time }

func (c *otterClock) NowNano() int64                      { return c.now().UnixNano() }
func (c *otterClock) Tick(time.Duration) <-chan time.Time { return nil }

// Close unsubscribes from the bus, stops the filter maintenance and closes
// the underlying store.
func (s *Store) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	s.unsubscribe()
	s.done.Wait()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.refreshing.Wait()
	s.entries.StopAllGoroutines()
	s.negative.StopAllGoroutines()
	s.owners.entries.StopAllGoroutines()
	s.roles.entries.StopAllGoroutines()
	return s.next.Close()
}

func (s *Store) stripe(id string) *atomic.Uint64 {
	return &s.gens[maphash.String(s.seed, id)%genStripes]
}

// apply handles a bus event (from this instance or another).
func (s *Store) apply(e Event) {
	switch e.Kind {
	case Invalidate:
		s.stripe(e.ID).Add(1)
		s.entries.Invalidate(e.ID)
		s.negative.Invalidate(e.ID)
	case Created:
		s.filter.add(e.ID)
		s.negative.Invalidate(e.ID)
	case Reset:
		for i := range s.gens {
			s.gens[i].Add(1)
		}
		s.entries.InvalidateAll()
		s.negative.InvalidateAll()
		s.owners.reset()
		s.roles.reset()
	case OwnerChanged:
		s.owners.drop(e.ID)
	case RoleChanged:
		s.roles.drop(e.ID)
	}
}

// publish applies e locally at once, then tells the other instances.
func (s *Store) publish(ctx context.Context, e Event) {
	s.apply(e)
	if err := s.bus.Publish(ctx, e); err != nil {
		s.log.Warn("cache: publishing an invalidation failed; other instances see the change within their TTL", "key_id", e.ID, "err", err)
	}
}

// Get returns the cached key when it is fresh, else loads it once for all
// concurrent callers. See the package documentation for outages and unknown
// ids. A context made with keyward.NewFreshContext always reads the store.
func (s *Store) Get(ctx context.Context, id string) (*keyward.Key, error) {
	return s.GetAt(ctx, id, time.Time{})
}

// GetAt is Get at the time now, a reading of the wall clock that the caller
// took (keyward.KeyGetterAt): a store on the wall clock (Options.Now unset)
// uses it instead of reading the clock again; one on its own clock, or given
// the zero time, reads its clock.
func (s *Store) GetAt(ctx context.Context, id string, at time.Time) (*keyward.Key, error) {
	if keyward.FreshFromContext(ctx) {
		return s.next.Get(ctx, id)
	}
	now := s.nanos(at)
	e, cached := s.entries.GetIfPresent(id)
	if cached && now-e.loaded >= int64(s.stale) {
		s.entries.Invalidate(id) // too old even to serve during an outage
		cached = false
	}
	if cached {
		ttl := s.ttlAt(now)
		if age := now - e.loaded; age < int64(ttl) {
			s.hits.Add(1)
			if age >= s.refreshAt(ttl) {
				s.refreshSoon(id, e)
			}
			return e.key, nil
		}
	} else {
		if _, unknown := s.negative.GetIfPresent(id); unknown {
			s.negHits.Add(1)
			return nil, fmt.Errorf("cache: key %q: %w", id, keyward.ErrNotFound)
		}
		if s.filter.excludes(id) && !s.budget.AllowN(s.now(), 1) {
			// Cannot exist as far as we know, and the lookup budget is spent.
			s.budgetDenials.Add(1)
			return nil, fmt.Errorf("cache: key %q: %w", id, keyward.ErrNotFound)
		}
	}
	s.misses.Add(1)
	k, err := s.load(ctx, id)
	switch {
	case err == nil:
		return k, nil
	case errors.Is(err, keyward.ErrNotFound):
		return nil, err
	case cached && now-e.loaded < int64(s.stale):
		// The store is down: serve what we have, for a bounded time.
		s.stales.Add(1)
		if s.outage.CompareAndSwap(false, true) {
			s.log.Error("cache: the store is unreachable; serving cached keys up to their stale limit", "stale_limit", s.stale, "err", err)
		}
		return e.key, nil
	}
	return nil, err
}

// nanos returns at in Unix nanoseconds if the store is on the wall clock
// and at is a reading of it, else the store's clock.
func (s *Store) nanos(at time.Time) int64 {
	if s.wall && !at.IsZero() {
		return at.UnixNano()
	}
	return s.now().UnixNano()
}

// effectiveTTL is the TTL, shortened while the bus may be losing events.
func (s *Store) effectiveTTL() time.Duration { return s.ttlWith(s.bus.Healthy()) }

// ttlAt is effectiveTTL at now, a reading of the store's clock in Unix
// nanoseconds: a bus that judges its health by the time (a Follower) is
// handed the reading instead of taking one more, which a cache hit would
// otherwise pay for on every verification.
func (s *Store) ttlAt(now int64) time.Duration {
	if s.busAt == nil {
		return s.effectiveTTL()
	}
	return s.ttlWith(s.busAt.healthyAt(now))
}

// ttlWith is the TTL with the bus healthy or not.
func (s *Store) ttlWith(healthy bool) time.Duration {
	if !healthy {
		return min(s.ttl, s.fallback)
	}
	return s.ttl
}

// Create stores the key and announces it, so every instance stops treating
// its id as unknown.
func (s *Store) Create(ctx context.Context, k *keyward.Key, a *keyward.AuditEntry) error {
	if err := s.next.Create(ctx, k, a); err != nil {
		return err
	}
	s.publish(ctx, Event{Kind: Created, ID: k.ID})
	return nil
}

// Update writes through and invalidates the key everywhere.
func (s *Store) Update(ctx context.Context, id string, fn func(*keyward.Key) (*keyward.AuditEntry, error)) (*keyward.Key, error) {
	s.stripe(id).Add(1) // loads racing with the write are not cached
	k, err := s.next.Update(ctx, id, fn)
	if err == nil {
		s.publish(ctx, Event{Kind: Invalidate, ID: id})
	}
	return k, err
}

// Rotate writes through, invalidates the old key and announces the new one.
func (s *Store) Rotate(ctx context.Context, id string, fn func(*keyward.Key) (*keyward.Key, *keyward.AuditEntry, error)) (*keyward.Key, *keyward.Key, error) {
	s.stripe(id).Add(1)
	old, next, err := s.next.Rotate(ctx, id, fn)
	if err == nil {
		s.publish(ctx, Event{Kind: Invalidate, ID: id})
		s.publish(ctx, Event{Kind: Created, ID: next.ID})
	}
	return old, next, err
}

// Delete writes through and invalidates the key everywhere.
func (s *Store) Delete(ctx context.Context, id string, a *keyward.AuditEntry) error {
	s.stripe(id).Add(1)
	err := s.next.Delete(ctx, id, a)
	if err == nil {
		s.publish(ctx, Event{Kind: Invalidate, ID: id})
	}
	return err
}

// SpendCredits goes to the store: credits are never cached.
func (s *Store) SpendCredits(ctx context.Context, sp keyward.CreditSpend) (keyward.CreditBalance, error) {
	return s.next.SpendCredits(ctx, sp)
}

// RefundCredits goes to the store, as SpendCredits does.
func (s *Store) RefundCredits(ctx context.Context, r keyward.CreditRefund) (keyward.CreditRefunded, error) {
	return keyward.RefundCredits(ctx, s.next, r)
}

// RecordUsage goes to the store.
func (s *Store) RecordUsage(ctx context.Context, b keyward.UsageBatch) error {
	return s.next.RecordUsage(ctx, b)
}

// CreateBatch writes through and announces every id of the batch (those
// skipped exist already, so announcing them changes nothing).
func (s *Store) CreateBatch(ctx context.Context, keys []*keyward.Key, audit []*keyward.AuditEntry) (int, error) {
	n, err := s.next.CreateBatch(ctx, keys, audit)
	if err != nil {
		return n, err
	}
	for _, k := range keys {
		s.publish(ctx, Event{Kind: Created, ID: k.ID})
	}
	return n, nil
}

// KeyIDs goes to the store.
func (s *Store) KeyIDs(ctx context.Context, fn func(id string) error) error {
	return s.next.KeyIDs(ctx, fn)
}

// List goes to the store.
func (s *Store) List(ctx context.Context, f keyward.ListFilter) ([]*keyward.Key, error) {
	return s.next.List(ctx, f)
}

// CountKeys goes to the store.
func (s *Store) CountKeys(ctx context.Context, f keyward.ListFilter) (int64, error) {
	return s.next.CountKeys(ctx, f)
}

// Usage goes to the store.
func (s *Store) Usage(ctx context.Context, q keyward.UsageQuery) ([]keyward.UsageCount, error) {
	return s.next.Usage(ctx, q)
}

// ListAudit goes to the store.
func (s *Store) ListAudit(ctx context.Context, f keyward.AuditFilter) ([]keyward.AuditEntry, error) {
	return s.next.ListAudit(ctx, f)
}

// Counts goes to the store.
func (s *Store) Counts(ctx context.Context, now time.Time) (map[keyward.Status]int64, error) {
	return s.next.Counts(ctx, now)
}

// Ping goes to the store.
func (s *Store) Ping(ctx context.Context) error { return s.next.Ping(ctx) }

// Stats counts what the cache did since it started.
type Stats struct {
	Hits, Misses, StaleServed, NegativeHits, BudgetDenials, Loads, LoadErrors uint64
	// Refreshes counts the background reloads of keys, owner records and
	// roles in use (those of keys are also counted in Loads).
	Refreshes uint64
	// Size is the number of cached keys.
	Size int
	// FilterReady reports whether the filter of existing ids is built: until
	// it is (and with a store that cannot list its ids), unknown ids are held
	// off by the negative cache alone.
	FilterReady bool
}

// Stats returns the cache's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), StaleServed: s.stales.Load(),
		NegativeHits: s.negHits.Load(), BudgetDenials: s.budgetDenials.Load(),
		Loads: s.loads.Load(), LoadErrors: s.loadErrors.Load(), Refreshes: s.refreshes.Load(), Size: s.entries.EstimatedSize(),
		FilterReady: s.filter.ready(),
	}
}
