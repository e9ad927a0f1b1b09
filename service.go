package keyward

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/pace"
	"github.com/keyward/keyward/internal/stripe"
)

// Options tunes a [Service]. The zero value (or nil) gives the defaults.
type Options struct {
	// Limiter enforces the keys' rate limits (see package ratelimit). With
	// none, verifying a key that has a rate limit returns ErrNoLimiter.
	Limiter Limiter
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
	// DefaultPrefix of new keys; "" means DefaultPrefix ("kw").
	DefaultPrefix string
	// UsageFlushInterval is how often usage counts and last-used times are
	// written to the store; 0 means 1s, a negative value turns the
	// background flush off (call [Service.FlushUsage] yourself).
	UsageFlushInterval time.Duration
	// Logger receives errors of background work; nil discards them.
	Logger *slog.Logger
	// LookupTime, if not nil, returns how long a store lookup takes (package
	// cache's Store.LookupTime). Verify then holds every NOT_FOUND answer
	// until at least that long after it started, and always behind a timer,
	// so that an answer from memory (a cached key with a wrong secret, an id
	// the cache knows does not exist) takes as long as one that read the
	// store: timing tells a caller without the secret nothing about the id.
	// The Service also keeps the time each NOT_FOUND took before its wait
	// and holds every answer at least as long as the 99th percentile of
	// those, so that no path, memory or store, answers sooner than the
	// slowest usually does; the cache's lookup time alone would go stale
	// when few ids reach the store (its Bloom filter answers for them).
	// Set it whenever the Store caches; without a cache every NOT_FOUND
	// reads the store and costs the same anyway.
	LookupTime func() time.Duration
	// NoRehash keeps Verify from replacing a hash the Hasher wants redone
	// (older scheme, parameters or pepper): the key still verifies and its
	// hash stays. For tools that must not change a deployment's hashing
	// policy, such as the keyward CLI. False (the default) rehashes.
	NoRehash bool
	// LegacyFormatsRefresh is how long the legacy key formats recorded in
	// the store (see [LegacyFormat]) are used before they are read again;
	// 0 or less means DefaultLegacyRefresh. They are read only for key
	// strings that are not native keys: a key imported by another process
	// verifies here within this interval (and the cache's TTL) at the
	// latest.
	LegacyFormatsRefresh time.Duration
	// ExpiryWarning is how long before a key expires [Service.WarnExpiring]
	// emits key.expiring; 0 means DefaultExpiryWarning, a negative value
	// turns the warnings off.
	ExpiryWarning time.Duration
	// ExpiryCheckInterval, if positive, runs [Service.WarnExpiring] in the
	// background that often (keyward serve: every minute); 0 leaves it to
	// the caller.
	ExpiryCheckInterval time.Duration
	// CreditLease is how long the Service keeps credits it took ahead of
	// its spends (a lease) once the key stops using them, before it gives
	// them back; 0 means DefaultCreditLease, a negative value turns leases
	// off: every spend of credits is then a write to the store. Leases
	// need a Store that implements [CreditRefunder]. See docs/metered-api.md.
	CreditLease time.Duration
	// OnEvents, if not nil, is called after the Service stored events (the
	// server wakes its webhook dispatcher with it). It must not block.
	OnEvents func()
}

// Service issues, verifies and manages keys on top of a [Store]. It is safe
// for concurrent use. Create it with [New] and stop it with [Service.Close],
// which flushes pending usage counts.
type Service struct {
	store    Store
	records  RecordCache // store, when it caches owner records and roles; else nil
	getAt    KeyGetterAt // store, when it takes the time of a lookup; else nil
	hasher   Hasher
	limiter  Limiter
	now      func() time.Time
	prefix   string
	log      *slog.Logger
	lookup   func() time.Duration // see Options.LookupTime; nil: no pacing
	rejected pace.Window          // the work of recent NOT_FOUND answers, before their wait
	spinning atomic.Bool          // a paced answer is spinning to its deadline (see holdUntil)
	held     atomic.Int64         // paced answers being held (see holdUntil)
	noRehash bool
	// wallClock: now is time.Now (Options.Now unset), so a verification's
	// pacing start can serve as its decision time (see decisionTime).
	wallClock bool
	dummy     string   // hash of a throwaway secret: unknown ids cost a real comparison
	dummySum  [32]byte // the dummy secret's SHA-256: unknown ids compare digests as known ones do

	usage    *usageAggregator
	stop     chan struct{}
	done     chan struct{}
	closed   atomic.Bool
	rehashMu sync.Mutex
	rehashes map[string]bool // ids being rehashed; guarded by rehashMu
	stopped  bool            // no rehash may start; guarded by rehashMu
	rehashWG sync.WaitGroup
	legacy   legacyState // formats of imported keys; see legacy.go

	outcomes [numOutcomes]stripe.Counter // striped: every verification counts
	scratch  sync.Pool                   // of *scratch

	events *eventState   // alerts and expiry warnings; see alerts.go
	leases *creditLeases // nil: every spend goes to the store; see credit_leases.go
}

// New returns a Service that keeps keys in store and hashes secrets with
// hasher. It starts the background usage flush unless opts turns it off.
func New(store Store, hasher Hasher, opts *Options) (*Service, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Service{
		store:    store,
		hasher:   hasher,
		limiter:  opts.Limiter,
		now:      opts.Now,
		prefix:   opts.DefaultPrefix,
		log:      opts.Logger,
		lookup:   opts.LookupTime,
		noRehash: opts.NoRehash,
		usage:    newUsageAggregator(),
		rehashes: make(map[string]bool),
	}
	if s.now == nil {
		s.now, s.wallClock = time.Now, true
	}
	s.records, _ = store.(RecordCache)
	s.getAt, _ = store.(KeyGetterAt)
	s.legacy.refresh = cmp.Or(max(opts.LegacyFormatsRefresh, 0), DefaultLegacyRefresh)
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if err := ValidatePrefix(s.prefix); err != nil {
		return nil, fmt.Errorf("keyward: default prefix: %w", err)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	dummySecret := strings.Repeat("0", SecretLength)
	dummy, err := hasher.Hash(dummySecret)
	if err != nil {
		return nil, fmt.Errorf("keyward: hashing a dummy secret: %w", err)
	}
	s.dummy = dummy
	s.dummySum = sha256.Sum256([]byte(dummySecret))
	s.events = s.startEvents(opts)
	s.leases = newCreditLeases(store, opts.CreditLease)
	// The legacy key formats, read now: a copy answers every string that is
	// not a native key from then on, the store down or not, so that one in
	// no known format is MALFORMED without a store read. A store that
	// cannot be read now is asked again on the first such string.
	wctx, cancel := context.WithTimeout(context.Background(), time.Second)
	s.legacyFormats(wctx)
	cancel()
	if iv := opts.UsageFlushInterval; iv >= 0 {
		if iv == 0 {
			iv = time.Second
		}
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.flushLoop(iv)
	}
	return s, nil
}

// Now returns the Service's clock reading, in UTC, to the millisecond.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// Close stops the background flush and writes the pending usage counts. It
// does not close the store.
func (s *Service) Close(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	s.rehashMu.Lock()
	s.stopped = true // no rehash starts from now on
	s.rehashMu.Unlock()
	s.rehashWG.Wait()
	s.events.stop()
	return errors.Join(s.FlushUsage(ctx), s.leases.close(ctx, s.now()))
}

// Create issues a new key. The returned secret is the full key string; it is
// not stored and cannot be shown again. A key created without expiry gets
// the default lifetime of the [Policy] ("never" opts out); the policy's
// maximum refuses a later expiry or none. Returns a *ValidationError for bad
// params.
func (s *Service) Create(ctx context.Context, p CreateParams) (Issued, error) {
	now := s.Now()
	f := keyFields{
		name: p.Name, description: p.Description, owner: p.Owner,
		scopes: p.Scopes, metadata: p.Metadata, rateLimit: p.RateLimit,
		rateLimits: slices.Clone(p.RateLimits), roles: slices.Clone(p.Roles),
		remaining: p.Remaining, refill: p.Refill, cidrs: append([]string(nil), p.AllowedCIDRs...),
	}
	var probs problems
	f.validate(&probs)
	if err := s.checkRoles(ctx, f.roles, &probs); err != nil {
		return Issued{}, err
	}
	pol, err := s.Policy(ctx)
	if err != nil {
		return Issued{}, err
	}
	prefix := p.Prefix
	if prefix == "" {
		prefix = s.prefix
	} else if !validPrefix(prefix) {
		probs.add("prefix", "must match [a-z][a-z0-9_]{0,19}")
	}
	exp := pol.createExpiry(p.ExpiresAt, p.ExpiresIn, now, &probs)
	if err := probs.err(); err != nil {
		return Issued{}, err
	}
	k := &Key{
		Prefix: prefix, Name: f.name, Description: f.description, Owner: f.owner,
		Scopes: f.scopes, Metadata: f.metadata, Enabled: p.Enabled == nil || *p.Enabled,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: exp, Roles: f.roles,
		Remaining: f.remaining, Refill: f.refill, AllowedCIDRs: f.cidrs,
	}
	k.RateLimits, k.RateLimit = f.limits()
	if f.refill != nil {
		start := refillPeriodStart(f.refill.Interval, now)
		k.RefilledAt = &start
	}
	return s.insert(ctx, k, func(k *Key) (*AuditEntry, error) {
		a := s.audit(ctx, ActionCreate, k.ID, map[string]any{"name": k.Name, "owner": k.Owner})
		e, err := s.keyEvent(ctx, EventKeyCreated, k, "")
		return withEvent(a, e, err)
	})
}

// insert gives k a fresh id and hashed secret and stores it, retrying on the
// (astronomically unlikely) id collision.
func (s *Service) insert(ctx context.Context, k *Key, entry func(*Key) (*AuditEntry, error)) (Issued, error) {
	for attempt := 0; ; attempt++ {
		tok, hash, err := s.newSecret(k.Prefix)
		if err != nil {
			return Issued{}, err
		}
		k.ID, k.Hash = tok.ID, hash
		a, err := entry(k)
		if err != nil {
			return Issued{}, err
		}
		err = s.store.Create(ctx, k, a)
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return Issued{}, fmt.Errorf("keyward: creating key: %w", err)
		}
		s.notifyEvents()
		return Issued{Key: k.Clone(), Secret: tok.String()}, nil
	}
}

func (s *Service) newSecret(prefix string) (Token, string, error) {
	tok, err := NewToken(prefix)
	if err != nil {
		return Token{}, "", err
	}
	hash, err := s.hasher.Hash(tok.Secret)
	if err != nil {
		return Token{}, "", fmt.Errorf("keyward: hashing secret: %w", err)
	}
	return tok, hash, nil
}

// Get returns a copy of the key with that id, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (*Key, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("keyward: key %q: %w", id, ErrNotFound)
	}
	k, err := s.store.Get(NewFreshContext(ctx), id)
	if err != nil {
		return nil, err
	}
	return s.view(k), nil
}

// view returns a copy of k as users should see it: credits due for a refill
// show the refilled amount.
func (s *Service) view(k *Key) *Key {
	c := k.Clone()
	now := s.Now()
	if c.Remaining != nil {
		*c.Remaining += s.leases.heldByKey(k.ID, k.UpdatedAt, now)
	}
	showRefilled(&c.Remaining, c.Refill, c.RefilledAt, now)
	return c
}

// showRefilled makes *remaining (of a key or an owner, copied for a reader)
// the refill amount when a refill is due at now: what readers see of credits
// that the next spend would refill.
func showRefilled(remaining **int64, r *Refill, refilledAt *time.Time, now time.Time) {
	if refillDue(r, *remaining, refilledAt, now) {
		*remaining = Ptr(r.Amount)
	}
}

// Update changes the fields set in p and returns the key as stored. A new
// expiry (or none: null, "never") must keep within the [Policy]'s maximum;
// an update that does not touch the expiry leaves it, even beyond. Returns
// ErrNotFound, ErrConflict for a revoked key, or a *ValidationError.
func (s *Service) Update(ctx context.Context, id string, p UpdateParams) (*Key, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("keyward: key %q: %w", id, ErrNotFound)
	}
	var probs problems
	if p.ExpiresAt.Set && p.ExpiresIn != nil {
		probs.add("expires_in", "give expires_at or expires_in, not both")
	}
	if p.Roles != nil {
		if err := s.checkRoles(ctx, *p.Roles, &probs); err != nil {
			return nil, err
		}
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	var pol Policy
	if p.ExpiresAt.Set || p.ExpiresIn != nil {
		var err error
		if pol, err = s.Policy(ctx); err != nil {
			return nil, err
		}
	}
	defer s.holdLeases(ctx, func(p leasePair) bool { return p.key == id })()
	k, err := s.store.Update(ctx, id, func(k *Key) (*AuditEntry, error) {
		if k.RevokedAt != nil {
			return nil, &stateError{"key " + id + " is revoked"}
		}
		now := s.Now()
		changed := applyUpdate(k, p, pol, now, &probs)
		if err := probs.err(); err != nil {
			return nil, err
		}
		if len(changed) == 0 {
			return nil, ErrNoChange
		}
		k.UpdatedAt = now
		a := s.audit(ctx, ActionUpdate, id, map[string]any{"fields": changed})
		e, err := s.keyEvent(ctx, EventKeyUpdated, k, "")
		return withEvent(a, e, err)
	})
	if err != nil {
		return nil, err
	}
	s.notifyEvents()
	return s.view(k), nil
}

// applyUpdate writes the set fields of p into k, validating them together
// with the fields that stay (and a new expiry against pol), and returns the
// JSON names of the changed fields.
func applyUpdate(k *Key, p UpdateParams, pol Policy, now time.Time, probs *problems) []string {
	var changed []string
	set := func(name string, ok bool) {
		if ok {
			changed = append(changed, name)
		}
	}
	f := keyFields{
		name: k.Name, description: k.Description, owner: k.Owner, scopes: k.Scopes,
		metadata: k.Metadata, rateLimits: k.RateLimits, roles: k.Roles,
		remaining: k.Remaining, refill: k.Refill, cidrs: k.AllowedCIDRs,
	}
	if p.Name != nil {
		f.name = *p.Name
		set("name", true)
	}
	if p.Description != nil {
		f.description = *p.Description
		set("description", true)
	}
	if p.Owner != nil {
		f.owner = *p.Owner
		set("owner", true)
	}
	if p.Scopes != nil {
		f.scopes = *p.Scopes
		set("scopes", true)
	}
	if p.Metadata != nil {
		f.metadata = p.Metadata
		set("metadata", true)
	}
	if p.RateLimits != nil {
		f.rateLimits = slices.Clone(*p.RateLimits)
		set("rate_limits", true)
	}
	if p.RateLimit.Set {
		// rate_limit is the "default" entry: drop the current one, then set it.
		if p.RateLimits == nil {
			f.rateLimits = slices.DeleteFunc(slices.Clone(f.rateLimits), func(l NamedRateLimit) bool { return l.Name == DefaultLimitName })
		}
		f.rateLimit = p.RateLimit.Value
		set("rate_limit", true)
	}
	if p.Roles != nil {
		f.roles = slices.Clone(*p.Roles)
		set("roles", true)
	}
	if p.Remaining.Set {
		f.remaining = p.Remaining.Value
		set("remaining", true)
	}
	if p.Refill.Set {
		f.refill = p.Refill.Value
		set("refill", true)
	}
	if p.AllowedCIDRs != nil {
		f.cidrs = append([]string(nil), *p.AllowedCIDRs...)
		set("allowed_cidrs", true)
	}
	f.validate(probs)
	if p.Enabled != nil {
		k.Enabled = *p.Enabled
		set("enabled", true)
	}
	if exp, ok := pol.updateExpiry(p, now, probs); ok {
		k.ExpiresAt = exp
		set("expires_at", true)
	}
	k.Name, k.Description, k.Owner, k.Scopes, k.Metadata = f.name, f.description, f.owner, f.scopes, f.metadata
	k.Remaining, k.Refill, k.AllowedCIDRs, k.Roles = f.remaining, f.refill, f.cidrs, f.roles
	k.RateLimits, k.RateLimit = f.limits()
	if p.Remaining.Set || p.Refill.Set {
		// New credits count from now: the current period is already served.
		k.RefilledAt = nil
		if k.Refill != nil {
			start := refillPeriodStart(k.Refill.Interval, now)
			k.RefilledAt = &start
		}
	}
	return changed
}

// Revoke revokes the key for good and returns it. Revoking a revoked key
// changes nothing and writes no audit entry. Returns ErrNotFound.
func (s *Service) Revoke(ctx context.Context, id string) (*Key, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("keyward: key %q: %w", id, ErrNotFound)
	}
	defer s.holdLeases(ctx, func(p leasePair) bool { return p.key == id })()
	k, err := s.store.Update(ctx, id, func(k *Key) (*AuditEntry, error) {
		if k.RevokedAt != nil {
			return nil, ErrNoChange
		}
		now := s.Now()
		k.RevokedAt, k.UpdatedAt = &now, now
		e, err := s.keyEvent(ctx, EventKeyRevoked, k, "")
		return withEvent(s.audit(ctx, ActionRevoke, id, nil), e, err)
	})
	if err != nil {
		return nil, err
	}
	s.notifyEvents()
	return s.view(k), nil
}

// Delete removes the key. Its usage counts and audit entries stay. Returns
// ErrNotFound. The key.deleted event shows the key as read just before the
// delete.
func (s *Service) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("keyward: key %q: %w", id, ErrNotFound)
	}
	k, err := s.store.Get(NewFreshContext(ctx), id)
	if err != nil {
		return err
	}
	e, err := s.keyEvent(ctx, EventKeyDeleted, k, "")
	a, err := withEvent(s.audit(ctx, ActionDelete, id, nil), e, err)
	if err != nil {
		return err
	}
	if err := s.store.Delete(ctx, id, a); err != nil {
		return err
	}
	s.notifyEvents()
	return nil
}

// Rotate issues a successor of the key: a new id and secret with every
// setting copied (remaining credits included). The old key expires after the
// grace period (or earlier, if it already expires before), and the two are
// linked by replaced_by / replaces. The successor's expiry is the one p
// names (checked against the [Policy]'s maximum); else the old key's, if
// still in the future, shortened to now plus the default lifetime if the
// policy sets one, else its maximum if it sets one. Returns ErrNotFound,
// ErrConflict for a revoked or already rotated key, or a *ValidationError.
func (s *Service) Rotate(ctx context.Context, id string, p RotateParams) (Issued, error) {
	if !ValidID(id) {
		return Issued{}, fmt.Errorf("keyward: key %q: %w", id, ErrNotFound)
	}
	now := s.Now()
	var probs problems
	grace := DefaultGracePeriod
	if p.GracePeriod != nil {
		grace = time.Duration(*p.GracePeriod)
		if grace < 0 {
			probs.add("grace_period", "must not be negative")
		}
	}
	pol, err := s.Policy(ctx)
	if err != nil {
		return Issued{}, err
	}
	newExp, named := pol.requested(p.ExpiresAt, p.ExpiresIn, now, &probs)
	if err := probs.err(); err != nil {
		return Issued{}, err
	}
	defer s.holdLeases(ctx, func(p leasePair) bool { return p.key == id })()
	var secret string
	for attempt := 0; ; attempt++ {
		_, next, err := s.store.Rotate(ctx, id, func(old *Key) (*Key, *AuditEntry, error) {
			if old.RevokedAt != nil {
				return nil, nil, &stateError{"key " + id + " is revoked"}
			}
			if old.ReplacedBy != nil {
				return nil, nil, &stateError{"key " + id + " was already rotated"}
			}
			tok, hash, err := s.newSecret(old.Prefix)
			if err != nil {
				return nil, nil, err
			}
			secret = tok.String()
			next := old.Clone()
			next.ID, next.Hash = tok.ID, hash
			next.CreatedAt, next.UpdatedAt = now, now
			next.LastUsedAt, next.RevokedAt, next.ReplacedBy = nil, nil, nil
			next.Replaces = Ptr(old.ID)
			next.ExpiresAt = pol.successorExpiry(old, newExp, named, now)
			end := now.Add(grace)
			if old.ExpiresAt == nil || end.Before(*old.ExpiresAt) {
				old.ExpiresAt = &end
			}
			old.ReplacedBy = Ptr(next.ID)
			old.UpdatedAt = now
			a := s.audit(ctx, ActionRotate, id, map[string]any{"replaced_by": next.ID, "grace_period": grace.String()})
			e, err := s.keyEvent(ctx, EventKeyRotated, old, next.ID)
			a, err = withEvent(a, e, err)
			return next, a, err
		})
		var state *stateError
		if errors.Is(err, ErrConflict) && !errors.As(err, &state) && attempt < 3 {
			continue // the new id collided
		}
		if err != nil {
			return Issued{}, err
		}
		s.notifyEvents()
		return Issued{Key: s.view(next), Secret: secret}, nil
	}
}

// Counts returns how many keys are in each status now.
func (s *Service) Counts(ctx context.Context) (map[Status]int64, error) {
	return s.store.Counts(ctx, s.Now())
}

// Stats returns how many verifications ended with each outcome since the
// Service started.
func (s *Service) Stats() map[Outcome]uint64 {
	m := make(map[Outcome]uint64, numOutcomes)
	for i := range s.outcomes {
		m[Outcome(i)] = s.outcomes[i].Load()
	}
	return m
}
