package postgres

import (
	"bytes"
	"context"
	"encoding/json"
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

// errNoChange rolls back a transaction whose function returned
// keyward.ErrNoChange.
var errNoChange = errors.New("postgres: no change")

// callbackError carries the error of a caller's function out of a
// transaction, so that it is returned as is.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

// notFound is the error for a key id that no row has.
func notFound(id string) error {
	return fmt.Errorf("postgres: key %q: %w", id, keyward.ErrNotFound)
}

// ts returns t as stored: UTC, millisecond precision.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// tsPtr is ts for optional times.
func tsPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// list returns l, or an empty list for nil (the columns are NOT NULL).
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// jsonArg returns raw JSON for a jsonb parameter; nil is stored as null.
func jsonArg(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("null")
	}
	return raw
}

// storedLimit is the encoding of a named rate limit in the rate_limits
// columns: the store's own, with the period in milliseconds (as
// rate_limit_period_ms), not the API's duration string. Migration 0003
// writes the same shape.
type storedLimit struct {
	Name     string `json:"name"`
	Limit    int64  `json:"limit"`
	PeriodMs int64  `json:"period_ms"`
}

// encodeLimits returns the rate_limits jsonb of l.
func encodeLimits(l []keyward.NamedRateLimit) []byte {
	out := make([]storedLimit, len(l))
	for i, x := range l {
		out[i] = storedLimit{Name: x.Name, Limit: x.Limit, PeriodMs: time.Duration(x.Period).Milliseconds()}
	}
	b, _ := json.Marshal(out)
	return b
}

// decodeLimits reads a rate_limits column; the result is never nil.
func decodeLimits(b []byte) ([]keyward.NamedRateLimit, error) {
	var in []storedLimit
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("rate_limits: %w", err)
	}
	out := make([]keyward.NamedRateLimit, len(in))
	for i, x := range in {
		out[i] = keyward.NamedRateLimit{Name: x.Name, Limit: x.Limit, Period: keyward.Duration(time.Duration(x.PeriodMs) * time.Millisecond)}
	}
	return out, nil
}

// jsonValue returns stored jsonb as compact JSON, nil for null.
func jsonValue(b []byte) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(len(b))
	if err := json.Compact(&buf, b); err != nil {
		return bytes.Clone(b)
	}
	return buf.Bytes()
}

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
	k, err := scanKey(s.pool.QueryRow(ctx, selectKey, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, s.fail(err, "get key", id)
	}
	return k, nil
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
	var out *keyward.Key
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := scanKey(tx.QueryRow(ctx, selectKeyForUpdate, id))
		if err != nil {
			return err
		}
		k := cur.Clone()
		a, err := fn(k)
		if errors.Is(err, keyward.ErrNoChange) {
			out = cur
			return errNoChange
		}
		if err != nil {
			return &callbackError{err}
		}
		k.ID = id
		if out, err = scanKey(tx.QueryRow(ctx, updateKey, keyArgs(k)...)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, a)
	})
	var ce *callbackError
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, errNoChange):
		return out, nil
	case errors.As(err, &ce):
		return nil, ce.err
	case errors.Is(err, pgx.ErrNoRows):
		return nil, notFound(id)
	}
	return nil, s.fail(err, "update key", id)
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

// errDeleteNotFound rolls back a delete of a missing row.
var errDeleteNotFound = errors.New("postgres: nothing deleted")

// deleteRow runs query (a DELETE of one row by arg) and appends a in one
// transaction; missing is the error for a row that is not there, what names
// the operation in other errors.
func (s *Store) deleteRow(ctx context.Context, query, arg string, a *keyward.AuditEntry, missing func() error, what string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, arg)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errDeleteNotFound
		}
		return appendAudit(ctx, tx, a)
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errDeleteNotFound):
		return missing()
	}
	return s.fail(err, what, arg)
}

// Delete removes the key and appends a in one transaction.
func (s *Store) Delete(ctx context.Context, id string, a *keyward.AuditEntry) error {
	return s.deleteRow(ctx, `DELETE FROM keys WHERE id = $1`, id, a, func() error { return notFound(id) }, "delete key")
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
