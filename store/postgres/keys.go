package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// keyColumns are the columns of keys in the order of scanKey and keyArgs.
const keyColumns = `id, prefix, name, description, owner, scopes, metadata, enabled,
	created_at, updated_at, expires_at, last_used_at, revoked_at, refilled_at,
	rate_limit_limit, rate_limit_period_ms, remaining, refill_interval, refill_amount,
	allowed_cidrs, replaced_by, replaces, hash, rate_limits, roles`

const (
	selectKey          = `SELECT ` + keyColumns + ` FROM keys WHERE id = $1`
	selectKeyForUpdate = selectKey + ` FOR UPDATE`

	insertKey = `INSERT INTO keys (` + keyColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`

	// updateKey writes every column but id, $1.
	updateKey = `UPDATE keys SET (prefix, name, description, owner, scopes, metadata, enabled,
	created_at, updated_at, expires_at, last_used_at, revoked_at, refilled_at,
	rate_limit_limit, rate_limit_period_ms, remaining, refill_interval, refill_amount,
	allowed_cidrs, replaced_by, replaces, hash, rate_limits, roles)
	= ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)
	WHERE id = $1
	RETURNING ` + keyColumns

	insertAudit = `INSERT INTO audit (at, actor, action, key_id, client_ip, details) VALUES ($1, $2, $3, $4, $5, $6)`
)

// statusCase is the status of a key at $1, as [keyward.Key.Status] says.
const statusCase = `CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
	WHEN expires_at <= $1 THEN 'expired'
	WHEN NOT enabled THEN 'disabled'
	ELSE 'active' END`

// keyArgs returns the parameters of insertKey and updateKey for k.
func keyArgs(k *keyward.Key) []any {
	var rlLimit, rlPeriod, refillAmount *int64
	var refillInterval *string
	if k.RateLimit != nil {
		period := time.Duration(k.RateLimit.Period).Milliseconds()
		rlLimit, rlPeriod = &k.RateLimit.Limit, &period
	}
	if k.Refill != nil {
		refillInterval, refillAmount = &k.Refill.Interval, &k.Refill.Amount
	}
	return []any{
		k.ID, k.Prefix, k.Name, k.Description, k.Owner, list(k.Scopes), jsonArg(k.Metadata), k.Enabled,
		ts(k.CreatedAt), ts(k.UpdatedAt), tsPtr(k.ExpiresAt), tsPtr(k.LastUsedAt), tsPtr(k.RevokedAt), tsPtr(k.RefilledAt),
		rlLimit, rlPeriod, k.Remaining, refillInterval, refillAmount,
		list(k.AllowedCIDRs), k.ReplacedBy, k.Replaces, k.Hash, encodeLimits(k.RateLimits), list(k.Roles),
	}
}

// scanKey reads a row of keyColumns.
func scanKey(row pgx.Row) (*keyward.Key, error) {
	var (
		k                               keyward.Key
		metadata, limits                []byte
		rlLimit, rlPeriod, refillAmount *int64
		refillInterval                  *string
	)
	err := row.Scan(&k.ID, &k.Prefix, &k.Name, &k.Description, &k.Owner, &k.Scopes, &metadata, &k.Enabled,
		&k.CreatedAt, &k.UpdatedAt, &k.ExpiresAt, &k.LastUsedAt, &k.RevokedAt, &k.RefilledAt,
		&rlLimit, &rlPeriod, &k.Remaining, &refillInterval, &refillAmount,
		&k.AllowedCIDRs, &k.ReplacedBy, &k.Replaces, &k.Hash, &limits, &k.Roles)
	if err != nil {
		return nil, err
	}
	if k.RateLimits, err = decodeLimits(limits); err != nil {
		return nil, fmt.Errorf("key %q: %w", k.ID, err)
	}
	k.Scopes, k.AllowedCIDRs, k.Roles = list(k.Scopes), list(k.AllowedCIDRs), list(k.Roles)
	k.Metadata = jsonValue(metadata)
	if rlLimit != nil && rlPeriod != nil {
		k.RateLimit = &keyward.RateLimit{Limit: *rlLimit, Period: keyward.Duration(time.Duration(*rlPeriod) * time.Millisecond)}
	}
	if refillInterval != nil && refillAmount != nil {
		k.Refill = &keyward.Refill{Interval: *refillInterval, Amount: *refillAmount}
	}
	return &k, nil
}

// appendAudit inserts a, if not nil, and writes its events to the outbox, in
// tx.
func appendAudit(ctx context.Context, tx pgx.Tx, a *keyward.AuditEntry) error {
	if a == nil {
		return nil
	}
	if _, err := tx.Exec(ctx, insertAudit, ts(a.At), a.Actor, a.Action, a.KeyID, a.ClientIP, jsonArg(a.Details)); err != nil {
		return err
	}
	_, err := appendEvents(ctx, tx, a.Events)
	return err
}

// Create inserts k and a in one transaction.
func (s *Store) Create(ctx context.Context, k *keyward.Key, a *keyward.AuditEntry) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insertKey, keyArgs(k)...); err != nil {
			return err
		}
		return appendAudit(ctx, tx, a)
	})
	if err != nil {
		return s.fail(err, "create key", k.ID)
	}
	return nil
}

// Get reads one key with a single prepared query.
func (s *Store) Get(ctx context.Context, id string) (*keyward.Key, error) {
	return getRow(s, s.pool.QueryRow(ctx, selectKey, id), scanKey, "key", id)
}

// escapeLike escapes the wildcards of a LIKE pattern (with ESCAPE '\'), so
// that every character of s matches itself.
func escapeLike(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '%' || c == '_' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Update locks the row, applies fn to the key read and writes it back, with
// the audit entry, in one transaction.
func (s *Store) Update(ctx context.Context, id string, fn func(k *keyward.Key) (*keyward.AuditEntry, error)) (*keyward.Key, error) {
	read := func(tx pgx.Tx) (*keyward.Key, error) { return scanKey(tx.QueryRow(ctx, selectKeyForUpdate, id)) }
	write := func(tx pgx.Tx, _, k *keyward.Key) (*keyward.Key, error) {
		k.ID = id
		return scanKey(tx.QueryRow(ctx, updateKey, keyArgs(k)...))
	}
	return updateRow(ctx, s, "key", id, read, fn, write)
}

// Rotate locks the row, applies fn, and writes the changed key, its
// successor and the audit entry in one transaction.
func (s *Store) Rotate(ctx context.Context, id string, fn func(old *keyward.Key) (next *keyward.Key, a *keyward.AuditEntry, err error)) (old, nextKey *keyward.Key, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		k, err := scanKey(tx.QueryRow(ctx, selectKeyForUpdate, id))
		if err != nil {
			return err
		}
		next, a, err := fn(k)
		if err != nil {
			return &callbackError{err}
		}
		if next == nil {
			return &callbackError{fmt.Errorf("postgres: rotate key %q: no successor given", id)}
		}
		k.ID = id
		if old, err = scanKey(tx.QueryRow(ctx, updateKey, keyArgs(k)...)); err != nil {
			return err
		}
		if nextKey, err = scanKey(tx.QueryRow(ctx, insertKey+` RETURNING `+keyColumns, keyArgs(next)...)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, a)
	})
	var ce *callbackError
	switch {
	case err == nil:
		return old, nextKey, nil
	case errors.As(err, &ce):
		return nil, nil, ce.err
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil, notFound(id)
	}
	return nil, nil, s.fail(err, "rotate key", id)
}

// Delete removes the key and appends a in one transaction.
func (s *Store) Delete(ctx context.Context, id string, a *keyward.AuditEntry) error {
	return s.deleteRow(ctx, "key", id, `DELETE FROM keys WHERE id = $1`, a)
}

// Counts counts the keys per status at now in one query.
func (s *Store) Counts(ctx context.Context, now time.Time) (map[keyward.Status]int64, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+statusCase+`, count(*) FROM keys GROUP BY 1`, now)
	m := map[keyward.Status]int64{keyward.StatusActive: 0, keyward.StatusDisabled: 0, keyward.StatusRevoked: 0, keyward.StatusExpired: 0}
	var (
		status string
		n      int64
	)
	_, err := pgx.ForEachRow(rows, []any{&status, &n}, func() error {
		m[keyward.Status(status)] = n
		return nil
	})
	if err != nil {
		return nil, s.fail(err, "count keys", "")
	}
	return m, nil
}

// CreateBatch inserts the keys whose ids are free, with their audit entries,
// in one transaction (see keyward.Store).
func (s *Store) CreateBatch(ctx context.Context, keys []*keyward.Key, audit []*keyward.AuditEntry) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n = 0
		for i, k := range keys {
			tag, err := tx.Exec(ctx, insertKey+` ON CONFLICT (id) DO NOTHING`, keyArgs(k)...)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				n++
				if err := appendAudit(ctx, tx, audit[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, s.fail(err, "import keys", "")
	}
	return n, nil
}

// KeyIDs calls fn with every key id (see keyward.Store). The ids stream from
// one query, so memory does not grow with the number of keys.
func (s *Store) KeyIDs(ctx context.Context, fn func(id string) error) error {
	rows, err := s.pool.Query(ctx, `SELECT id FROM keys`)
	if err != nil {
		return s.fail(err, "list key ids", "")
	}
	defer rows.Close()
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return s.fail(err, "list key ids", "")
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.fail(err, "list key ids", "")
	}
	return nil
}
