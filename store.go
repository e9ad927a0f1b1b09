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

	// Get returns the key with that id, or ErrNotFound. The result may be
	// shared: callers must not modify it.
	Get(ctx context.Context, id string) (*Key, error)

	// List returns at most f.Limit keys matching f, newest first (by
	// CreatedAt, then ID, both descending), starting after f.After.
	List(ctx context.Context, f ListFilter) ([]*Key, error)

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

	// SpendCredits atomically takes cost credits from the key with that id,
	// in one conditional write (never a read-modify-write), so concurrent
	// callers in any process never lose an update nor go below zero.
	//
	// Refill first: if the key has a refill whose RefilledAt is before the
	// start of the current period (day or month, as returned by
	// [RefillBoundaries] for now), its credits count as the refill amount and
	// a successful spend also sets RefilledAt to that start.
	//
	// Returns the credits left after the call and whether they were spent.
	// For a key without a credit limit it returns (-1, true). Returns
	// ErrNotFound if no key has that id.
	SpendCredits(ctx context.Context, id string, cost int64, now time.Time) (remaining int64, spent bool, err error)

	// RecordUsage adds the counts of b to the stored ones (a count for a
	// key, bucket and outcome already stored is increased) and moves each
	// key's LastUsedAt forward to the given time (never backward). Keys that
	// no longer exist are skipped for LastUsed but keep their counts.
	RecordUsage(ctx context.Context, b UsageBatch) error

	// Usage returns the usage counts of one key (of all keys together when
	// q.KeyID is "") between q.From (inclusive)
	// and q.To (exclusive), summed into buckets of q.Bucket (a whole number
	// of minutes dividing a day, aligned to the Unix epoch), ordered by
	// bucket start. Buckets without counts are left out.
	Usage(ctx context.Context, q UsageQuery) ([]UsageCount, error)

	// ListAudit returns at most f.Limit audit entries, newest first (by
	// descending ID), with ID below f.Before when it is not 0, of f.KeyID when
	// it is not "".
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// Counts returns how many keys are in each status at now.
	Counts(ctx context.Context, now time.Time) (map[Status]int64, error)

	// Ping returns nil when the store is reachable.
	Ping(ctx context.Context) error

	// Close releases the store's resources.
	Close() error
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

// UsageCount is the number of verifications of one key with one outcome in
// the bucket starting at Start.
type UsageCount struct {
	KeyID   string
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
	KeyID    string
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
}

// AuditFilter selects entries for [Store.ListAudit].
type AuditFilter struct {
	KeyID  string
	Before int64
	Limit  int
}

// Hasher turns secrets into self-describing hash strings and checks them.
// Implementations are in package keyhash; they must be safe for concurrent
// use and compare in constant time.
type Hasher interface {
	// Hash returns a hash string of secret that names its own scheme and
	// parameters, so that a Hasher configured later can still verify it.
	Hash(secret string) (string, error)
	// Verify reports whether secret matches encoded, and whether encoded
	// should be replaced by a fresh Hash (older scheme, parameters or
	// pepper). A hash it cannot read is a mismatch.
	Verify(secret, encoded string) (ok, rehash bool)
}

// Limiter enforces per-key rate limits. Implementations are in package
// ratelimit; they must be safe for concurrent use. A limiter decides; it does
// not fail: a backend outage is handled inside (by deciding locally).
type Limiter interface {
	// Allow takes cost units from the budget of key id under limit at now,
	// if the budget allows it. Cost 0 only reports the state.
	Allow(ctx context.Context, id string, limit RateLimit, cost int64, now time.Time) RateDecision
	// Release gives back cost units taken by Allow for a verification that
	// failed a later check.
	Release(ctx context.Context, id string, limit RateLimit, cost int64, now time.Time)
}

// RateDecision is a limiter's answer. The zero value means "no rate limit".
type RateDecision struct {
	// Allowed reports whether the units were taken.
	Allowed bool
	// Limit is the key's limit per period.
	Limit int64
	// Period is the key's window.
	Period time.Duration
	// Remaining is how many units are left in the current window.
	Remaining int64
	// Reset is the time until the next unit returns to the budget (0 when
	// the budget is full).
	Reset time.Duration
	// RetryAfter, when not Allowed, is the time until the requested units
	// are available.
	RetryAfter time.Duration
}
