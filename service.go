package keyward

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
}

// Service issues, verifies and manages keys on top of a [Store]. It is safe
// for concurrent use. Create it with [New] and stop it with [Service.Close],
// which flushes pending usage counts.
type Service struct {
	store    Store
	hasher   Hasher
	limiter  Limiter
	now      func() time.Time
	prefix   string
	log      *slog.Logger
	lookup   func() time.Duration // see Options.LookupTime; nil: no pacing
	noRehash bool
	dummy    string   // hash of a throwaway secret: unknown ids cost a real comparison
	dummySum [32]byte // the dummy secret's SHA-256: unknown ids compare digests as known ones do

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
		s.now = time.Now
	}
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
	return s.FlushUsage(ctx)
}

// Create issues a new key. The returned secret is the full key string; it is
// not stored and cannot be shown again. Returns a *ValidationError for bad
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
	prefix := p.Prefix
	if prefix == "" {
		prefix = s.prefix
	} else if !validPrefix(prefix) {
		probs.add("prefix", "must match [a-z][a-z0-9_]{0,19}")
	}
	exp := expiry(p.ExpiresAt, p.ExpiresIn, now, &probs)
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
	return s.insert(ctx, k, func(k *Key) *AuditEntry {
		return s.audit(ctx, ActionCreate, k.ID, map[string]any{"name": k.Name, "owner": k.Owner})
	})
}

// insert gives k a fresh id and hashed secret and stores it, retrying on the
// (astronomically unlikely) id collision.
func (s *Service) insert(ctx context.Context, k *Key, entry func(*Key) *AuditEntry) (Issued, error) {
	for attempt := 0; ; attempt++ {
		tok, hash, err := s.newSecret(k.Prefix)
		if err != nil {
			return Issued{}, err
		}
		k.ID, k.Hash = tok.ID, hash
		err = s.store.Create(ctx, k, entry(k))
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return Issued{}, fmt.Errorf("keyward: creating key: %w", err)
		}
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
	if c.RefillDue(s.Now()) {
		c.Remaining = Ptr(c.Refill.Amount)
	}
	return c
}

// List returns a page of keys, newest first. Returns a *ValidationError for a
// bad limit, status or cursor.
func (s *Service) List(ctx context.Context, p ListParams) (Page, error) {
	var probs problems
	limit := p.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		probs.add("limit", fmt.Sprintf("must be 1-%d", MaxPageSize))
	}
	if p.Status != "" && !p.Status.Valid() {
		probs.add("status", "must be active, disabled, revoked or expired")
	}
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		probs.add("cursor", err.Error())
	}
	if err := probs.err(); err != nil {
		return Page{}, err
	}
	keys, err := s.store.List(ctx, ListFilter{
		Owner: p.Owner, Status: p.Status, NameContains: p.Query,
		After: after, Limit: limit + 1, Now: s.Now(),
	})
	if err != nil {
		return Page{}, fmt.Errorf("keyward: listing keys: %w", err)
	}
	page := Page{Items: make([]*Key, 0, min(len(keys), limit))}
	for i, k := range keys {
		if i == limit {
			last := keys[limit-1]
			page.NextCursor = encodeCursor(ListCursor{CreatedAt: last.CreatedAt, ID: last.ID})
			break
		}
		page.Items = append(page.Items, s.view(k))
	}
	return page, nil
}

// encodeCursor makes an opaque, URL-safe cursor from a list position.
func encodeCursor(c ListCursor) string {
	raw := strconv.FormatInt(c.CreatedAt.UnixMilli(), 10) + "." + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (*ListCursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := errors.New("is not a cursor returned by this API")
	if len(s) > MaxCursorLength {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	ms, id, ok := strings.Cut(string(raw), ".")
	if !ok || !ValidID(id) {
		return nil, bad
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 0 {
		return nil, bad
	}
	return &ListCursor{CreatedAt: time.UnixMilli(n).UTC(), ID: id}, nil
}

// Update changes the fields set in p and returns the key as stored. Returns
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
	k, err := s.store.Update(ctx, id, func(k *Key) (*AuditEntry, error) {
		if k.RevokedAt != nil {
			return nil, &stateError{"key " + id + " is revoked"}
		}
		now := s.Now()
		changed := applyUpdate(k, p, now, &probs)
		if err := probs.err(); err != nil {
			return nil, err
		}
		if len(changed) == 0 {
			return nil, ErrNoChange
		}
		k.UpdatedAt = now
		return s.audit(ctx, ActionUpdate, id, map[string]any{"fields": changed}), nil
	})
	if err != nil {
		return nil, err
	}
	return s.view(k), nil
}

// applyUpdate writes the set fields of p into k, validating them together
// with the fields that stay, and returns the JSON names of the changed fields.
func applyUpdate(k *Key, p UpdateParams, now time.Time, probs *problems) []string {
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
	switch {
	case p.ExpiresAt.Set && p.ExpiresAt.Value == nil:
		k.ExpiresAt = nil
		set("expires_at", true)
	case p.ExpiresAt.Set || p.ExpiresIn != nil:
		k.ExpiresAt = expiry(p.ExpiresAt.Value, p.ExpiresIn, now, probs)
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
	k, err := s.store.Update(ctx, id, func(k *Key) (*AuditEntry, error) {
		if k.RevokedAt != nil {
			return nil, ErrNoChange
		}
		now := s.Now()
		k.RevokedAt, k.UpdatedAt = &now, now
		return s.audit(ctx, ActionRevoke, id, nil), nil
	})
	if err != nil {
		return nil, err
	}
	return s.view(k), nil
}

// Delete removes the key. Its usage counts and audit entries stay. Returns
// ErrNotFound.
func (s *Service) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("keyward: key %q: %w", id, ErrNotFound)
	}
	return s.store.Delete(ctx, id, s.audit(ctx, ActionDelete, id, nil))
}

// Rotate issues a successor of the key: a new id and secret with every
// setting copied (remaining credits included). The old key expires after the
// grace period (or earlier, if it already expires before), and the two are
// linked by replaced_by / replaces. Returns ErrNotFound, ErrConflict for a
// revoked or already rotated key, or a *ValidationError.
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
	newExp := expiry(p.ExpiresAt, p.ExpiresIn, now, &probs)
	if err := probs.err(); err != nil {
		return Issued{}, err
	}
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
			switch {
			case newExp != nil:
				next.ExpiresAt = newExp
			case old.ExpiresAt != nil && old.ExpiresAt.After(now):
				next.ExpiresAt = Ptr(*old.ExpiresAt)
			default:
				next.ExpiresAt = nil
			}
			end := now.Add(grace)
			if old.ExpiresAt == nil || end.Before(*old.ExpiresAt) {
				old.ExpiresAt = &end
			}
			old.ReplacedBy = Ptr(next.ID)
			old.UpdatedAt = now
			return next, s.audit(ctx, ActionRotate, id, map[string]any{"replaced_by": next.ID, "grace_period": grace.String()}), nil
		})
		var state *stateError
		if errors.Is(err, ErrConflict) && !errors.As(err, &state) && attempt < 3 {
			continue // the new id collided
		}
		if err != nil {
			return Issued{}, err
		}
		return Issued{Key: s.view(next), Secret: secret}, nil
	}
}

// audit builds an audit entry for an action by the actor in ctx.
func (s *Service) audit(ctx context.Context, action, keyID string, details map[string]any) *AuditEntry {
	a := ActorFromContext(ctx)
	d := json.RawMessage("{}")
	if details != nil {
		if b, err := json.Marshal(details); err == nil {
			d = b
		}
	}
	return &AuditEntry{At: s.Now(), Actor: a.ID, Action: action, KeyID: keyID, ClientIP: a.ClientIP, Details: d}
}

// AuditParams selects a page of the audit log.
type AuditParams struct {
	KeyID  string
	Cursor string
	Limit  int
}

// AuditPage is one page of audit entries, newest first.
type AuditPage struct {
	Items      []AuditEntry `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// Audit returns a page of the audit log, newest first.
func (s *Service) Audit(ctx context.Context, p AuditParams) (AuditPage, error) {
	var probs problems
	limit := p.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		probs.add("limit", fmt.Sprintf("must be 1-%d", MaxPageSize))
	}
	var before int64
	if p.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		n, perr := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || perr != nil || n < 1 || len(p.Cursor) > MaxCursorLength {
			probs.add("cursor", "is not a cursor returned by this API")
		}
		before = n
	}
	if p.KeyID != "" && !ValidID(p.KeyID) {
		probs.add("key_id", "must be 16 base62 characters")
	}
	if err := probs.err(); err != nil {
		return AuditPage{}, err
	}
	items, err := s.store.ListAudit(ctx, AuditFilter{KeyID: p.KeyID, Before: before, Limit: limit + 1})
	if err != nil {
		return AuditPage{}, fmt.Errorf("keyward: listing audit log: %w", err)
	}
	page := AuditPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := items[limit-1].ID
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last, 10)))
	}
	if page.Items == nil {
		page.Items = []AuditEntry{}
	}
	return page, nil
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
