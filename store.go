package keyward

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Store keeps keys, usage counts and the audit log. It is a dumb record
// keeper: validation, hashing, ids and timestamps are the [Service]'s job, so
// every Store behaves the same. Implementations must be safe for concurrent
// use and must pass the conformance suite in store/storetest.
//
// Errors: ErrNotFound, ErrConflict and ErrUnavailable (wrapped) as stated per
// method; anything else is an internal failure.
type Store interface {
	// Create inserts k and appends a (if not nil) in one transaction.
	// Returns ErrConflict if a key with k.ID exists.
	Create(ctx context.Context, k *Key, a *AuditEntry) error

	// CreateBatch inserts, in one transaction, the keys whose ids are not
	// taken (the others are skipped, which is not an error), appends
	// audit[i] for each key i inserted, and returns how many were inserted.
	// [Service.Import] uses it.
	CreateBatch(ctx context.Context, keys []*Key, audit []*AuditEntry) (inserted int, err error)

	// Get returns the key with that id, or ErrNotFound. The result may be
	// shared: callers must not modify it.
	//
	// Freshness: a Store that keeps copies (a cache in front of another
	// Store) may answer from them, as long as its own guarantees hold (see
	// package cache). When ctx carries [NewFreshContext], Get must return
	// the state stored in the Store of record, as of the call: no copy
	// older than the call, whatever wrote the change (this process, another
	// instance, the CLI). The Service asks for fresh reads wherever a person
	// or a script reads a key back (admin Get, Usage). Stores that keep no
	// copies satisfy it by doing what they always do.
	Get(ctx context.Context, id string) (*Key, error)

	// KeyIDs calls fn with the id of every stored key, each once, in any
	// order, stopping at fn's first error (which it returns). A caching
	// Store builds its filter of existing ids from it. A Store that cannot
	// enumerate its ids cheaply returns an error matching ErrUnsupported at
	// once; callers then do without the filter.
	KeyIDs(ctx context.Context, fn func(id string) error) error

	// List returns at most f.Limit keys matching f, newest first (by
	// CreatedAt, then ID, both descending), starting after f.After.
	List(ctx context.Context, f ListFilter) ([]*Key, error)

	// CountKeys returns how many keys List returns for f without f.After
	// and f.Limit.
	CountKeys(ctx context.Context, f ListFilter) (int64, error)

	// Update loads the key with that id, calls fn with a private copy, and
	// stores the copy as fn left it, atomically: no other write to the key
	// happens in between. If fn returns a non-nil entry it is appended to the
	// audit log in the same transaction. If fn returns an error nothing is
	// written; Update returns (current key, nil) for ErrNoChange and
	// (nil, that error) otherwise. Returns ErrNotFound if no key has that id.
	Update(ctx context.Context, id string, fn func(k *Key) (*AuditEntry, error)) (*Key, error)

	// Rotate loads the key with that id and calls fn with a private copy;
	// fn changes it and returns the successor. The changed key, the new key
	// and the entry are written in one transaction. Returns ErrNotFound if
	// no key has that id, ErrConflict if next.ID is taken, or fn's error (and
	// writes nothing).
	Rotate(ctx context.Context, id string, fn func(old *Key) (next *Key, a *AuditEntry, err error)) (old, nextKey *Key, err error)

	// Delete removes the key with that id and appends a (if not nil) in one
	// transaction. Usage counts and audit entries of the key stay. Returns
	// ErrNotFound if no key has that id.
	Delete(ctx context.Context, id string, a *AuditEntry) error

	// SpendCredits takes s.Cost credits from the key with id s.KeyID and,
	// when s.Owner is not "" and an owner record of that name has credits,
	// from the owner too, all or nothing: when either has fewer than the
	// cost, nothing is taken from either. It is one atomic conditional write
	// (never a read-modify-write), so concurrent callers in any process never
	// lose an update nor go below zero.
	//
	// Refill first: credits whose refill's RefilledAt is before the start of
	// the current period (day or month, as returned by [RefillBoundaries] for
	// s.Now) count as the refill amount, and a successful spend also sets
	// RefilledAt to that start.
	//
	// Returns the credits left of each (-1 for a key without a credit limit,
	// or no owner credits) and whether they were spent. Returns ErrNotFound
	// if no key has that id.
	SpendCredits(ctx context.Context, s CreditSpend) (CreditBalance, error)

	// PutOwner creates the owner record o (created true), or replaces the
	// one of that name, keeping its CreatedAt, and appends a (if not nil),
	// in one transaction.
	PutOwner(ctx context.Context, o *Owner, a *AuditEntry) (created bool, err error)

	// GetOwner returns the owner record of that name with its KeyCount, or
	// ErrNotFound. The result may be shared: callers must not modify it. A
	// caching Store answers from its copies as Get does, and honours
	// [NewFreshContext] the same way.
	GetOwner(ctx context.Context, name string) (*Owner, error)

	// UpdateOwner is [Store.Update] for owner records: fn changes a private
	// copy, written with fn's audit entry in one transaction; ErrNoChange
	// writes nothing. Returns ErrNotFound if there is no record.
	UpdateOwner(ctx context.Context, name string, fn func(o *Owner) (*AuditEntry, error)) (*Owner, error)

	// ListOwners returns at most f.Limit owner records matching f, with their
	// KeyCount, by name.
	ListOwners(ctx context.Context, f NameFilter) ([]*Owner, error)

	// DeleteOwner deletes the owner record and appends a (if not nil) in
	// one transaction. Keys keep their owner string. Returns ErrNotFound.
	DeleteOwner(ctx context.Context, name string, a *AuditEntry) error

	// PutRole creates the role r (created true), or replaces the one of that
	// name, keeping its CreatedAt, and appends a (if not nil), in one
	// transaction.
	PutRole(ctx context.Context, r *Role, a *AuditEntry) (created bool, err error)

	// GetRole returns the role of that name, or ErrNotFound. The result may
	// be shared. Caching and freshness as for GetOwner.
	GetRole(ctx context.Context, name string) (*Role, error)

	// ListRoles returns at most f.Limit roles matching f, by name.
	ListRoles(ctx context.Context, f NameFilter) ([]*Role, error)

	// DeleteRole deletes the role and appends a (if not nil) in one
	// transaction. Returns ErrNotFound, or ErrConflict (deleting nothing)
	// while a key has the role.
	DeleteRole(ctx context.Context, name string, a *AuditEntry) error

	// RecordUsage adds the counts of b to the stored ones (a count for a
	// key, bucket and outcome already stored is increased; counts with an
	// Owner are added to that owner's counts too) and moves each
	// key's LastUsedAt forward to the given time (never backward). Keys that
	// no longer exist are skipped for LastUsed but keep their counts.
	RecordUsage(ctx context.Context, b UsageBatch) error

	// Usage returns the usage counts of one key (of one owner's keys when
	// q.Owner is set; of all keys together when both are "") between q.From
	// (inclusive)
	// and q.To (exclusive), summed into buckets of q.Bucket (a whole number
	// of minutes dividing a day, aligned to the Unix epoch), ordered by
	// bucket start. Buckets without counts are left out.
	Usage(ctx context.Context, q UsageQuery) ([]UsageCount, error)

	// ListAudit returns at most f.Limit audit entries, newest first (by
	// descending ID), with ID below f.Before when it is not 0, of f.KeyID when
	// it is not "".
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// Setting returns the value stored under name (a JSON document the
	// Service owns: the lifetime policy, the legacy key formats), or
	// ErrNotFound. Settings are shared by every instance and the CLI.
	Setting(ctx context.Context, name string) (json.RawMessage, error)

	// PutSetting stores value under name, replacing any, and appends a (if
	// not nil) in one transaction.
	PutSetting(ctx context.Context, name string, value json.RawMessage, a *AuditEntry) error

	// Counts returns how many keys are in each status at now.
	Counts(ctx context.Context, now time.Time) (map[Status]int64, error)

	// Ping returns nil when the store is reachable.
	Ping(ctx context.Context) error

	// Close releases the store's resources.
	Close() error

	// EventStore: the events outbox, webhook endpoints and their
	// deliveries.
	EventStore
}

// RecentKeys is implemented by a Store that can read, in one pass, the keys
// in use lately: those with usage counts (of any outcome) in the minute of
// a time or later. A cache loads them when a server starts (Warm in package
// cache), so that a restarted server holds the keys in use at once instead
// of reading each one on its first request. The stores of this module
// implement it.
type RecentKeys interface {
	// RecentKeys calls fn with each key that has usage counts in the minute
	// of since or later, in any order, at most limit of them (0: no limit;
	// the keys used last when there are more), stopping at fn's first error
	// (which it returns). The keys are as Get returns them; fn may keep
	// them.
	RecentKeys(ctx context.Context, since time.Time, limit int, fn func(*Key) error) error
}

// FreshKeyReader is implemented by a Store whose reads of keys (Get, and
// RecentKeys when it has it) return a new instance on every call, sharing no
// memory that the store or another caller may change (its strings aside,
// which nothing changes): packages sqlite and postgres build each key from
// its row. A caching store keeps such an instance as it is, and fills its
// memo, instead of a copy: that saves a copy per cache miss, and the store's
// instance is not left as garbage beside the kept copy. A Store that wraps
// another reports what the one behind it reports; store/storetest checks the
// claim.
type FreshKeyReader interface {
	// ReturnsFreshKeys reports whether every key read returns new instances.
	ReturnsFreshKeys() bool
}

// KeyReloader is implemented by a Store that can read a key again more
// cheaply than Get by not searching the whole of its usage history for its
// last use (package sqlite). ReloadKey answers as Get does, except that
// LastUsedAt may be earlier than Get's (never later): it is at least the one
// the key's own record holds and any use recorded in about the current
// minute, but a use whose counts were already moved to the history may be
// left out. A cache reloading a key in use calls it and keeps the later of
// that and the LastUsedAt it had; a key it reads for the first time comes
// from Get. store/storetest checks the claim.
type KeyReloader interface {
	ReloadKey(ctx context.Context, id string) (*Key, error)
}

// ErrNoChange, returned by the function given to [Store.Update], means the key
// needs no write (and no audit entry).
var ErrNoChange = errors.New("keyward: no change")

// ListFilter selects keys for [Store.List]. Zero fields select everything.
type ListFilter struct {
	// Owner, if not "", keeps keys whose owner is exactly Owner.
	Owner string
	// Status, if not "", keeps keys in that status at Now.
	Status Status
	// NameContains, if not "", keeps keys whose name contains it, ignoring
	// case.
	NameContains string
	// UnusedSince, if not zero, keeps keys created before it and not used
	// since (LastUsedAt nil or before it). A key is not used before it is
	// created, so these are the keys last used before it, or never used
	// and created before it.
	UnusedSince time.Time
	// ExpiresBy, if not zero, keeps keys that expire after Now and at or
	// before ExpiresBy: keys already expired at Now are not kept.
	ExpiresBy time.Time
	// NeverUsed keeps keys never used (LastUsedAt nil).
	NeverUsed bool
	// NoExpiry keeps keys without expiry (ExpiresAt nil).
	NoExpiry bool
	// After, if not nil, keeps keys that come after the cursor in list order.
	After *ListCursor
	// Limit is the most keys to return; 0 means no limit.
	Limit int
	// Now is the time at which Status is judged.
	Now time.Time
}

// ListCursor is a position in list order: the last key of a page.
type ListCursor struct {
	CreatedAt time.Time
	ID        string
}

// CreditSpend is a request to [Store.SpendCredits].
type CreditSpend struct {
	KeyID string
	// Owner, if not "", names the key's owner: its record's credits, if
	// any, are spent too.
	Owner string
	Cost  int64
	Now   time.Time
}

// CreditBalance is the answer of [Store.SpendCredits].
type CreditBalance struct {
	// Spent reports whether the credits were taken.
	Spent bool
	// Key is the key's credits left, -1 if it has no credit limit.
	Key int64
	// Owner is the owner's credits left, -1 if it has no record or no
	// credits.
	Owner int64
}

// UsageCount is the number of verifications of one key with one outcome in
// the bucket starting at Start.
type UsageCount struct {
	KeyID string
	// Owner is the owner the key carried when it was used ("" for none);
	// owner usage sums counts by it.
	Owner   string
	Start   time.Time
	Outcome Outcome
	Count   int64
}

// UsageBatch is what a flush of the usage aggregator writes.
type UsageBatch struct {
	// Counts per key, minute and outcome.
	Counts []UsageCount
	// LastUsed is the latest use per key id.
	LastUsed map[string]time.Time
}

// UsageQuery selects usage counts for [Store.Usage].
type UsageQuery struct {
	KeyID string
	// Owner, if not "" (KeyID is then ""), selects the counts of the keys
	// that carried this owner when they were used.
	Owner    string
	From, To time.Time
	Bucket   time.Duration
}

// Audit actions.
const (
	ActionCreate = "key.create"
	ActionUpdate = "key.update"
	ActionRevoke = "key.revoke"
	ActionRotate = "key.rotate"
	ActionDelete = "key.delete"

	ActionOwnerPut    = "owner.put"
	ActionOwnerUpdate = "owner.update"
	ActionOwnerDelete = "owner.delete"
	ActionRolePut     = "role.put"
	ActionRoleDelete  = "role.delete"
)

// AuditEntry records one admin action. ID is assigned by the store.
type AuditEntry struct {
	ID       int64           `json:"id"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	KeyID    string          `json:"key_id"`
	ClientIP string          `json:"client_ip"`
	Details  json.RawMessage `json:"details"`

	// Events caused by the action: a Store that appends the entry writes
	// them to its events outbox in the same transaction, so that the change
	// and its events are stored together or not at all. They are not read
	// back with the entry.
	Events []Event `json:"-"`
}

// AuditFilter selects entries for [Store.ListAudit].
type AuditFilter struct {
	KeyID  string
	Before int64
	Limit  int
}
