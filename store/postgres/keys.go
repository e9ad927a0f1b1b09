package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/useddays"
)

const insertAudit = `INSERT INTO audit (at, actor, action, key_id, client_ip, details) VALUES ($1, $2, $3, $4, $5, $6)`

// statusCase is the status of a key at $1, as [keyward.Key.Status] says.
const statusCase = `CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
	WHEN expires_at <= $1 THEN 'expired'
	WHEN NOT enabled THEN 'disabled'
	ELSE 'active' END`

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
		return s.fail(ctx, err, "create key", k.ID)
	}
	return nil
}

// Get reads one key with a single prepared query.
func (s *Store) Get(ctx context.Context, id string) (*keyward.Key, error) {
	return getRow(ctx, s, s.pool.QueryRow(ctx, selectKey, id), s.scanKeyNoting, "key", id)
}

// ReturnsFreshKeys reports that Get and RecentKeys build a new key from its
// row on every call (keyward.FreshKeyReader).
func (s *Store) ReturnsFreshKeys() bool { return true }

// scanKeyNoting scans a row of keySelect followed by the key row's own
// last_used_at, and notes that row's day in usedDays: a row that holds a
// use of day d needs no write for another use of that day, so a new
// process does not write the row of every key it meets again.
func (s *Store) scanKeyNoting(row pgx.Row) (*keyward.Key, error) {
	var own *time.Time
	k, err := scanKey(extraColumn{row, &own})
	if err == nil && own != nil {
		s.usedDays.Set(k.ID, useddays.Of(*own))
	}
	return k, err
}

// extraColumn scans one more column after those its row's caller asks
// for, into dest.
type extraColumn struct {
	row  pgx.Row
	dest any
}

func (e extraColumn) Scan(dest ...any) error { return e.row.Scan(append(dest, e.dest)...) }

// Update locks the row, applies fn to the key read and writes it back, with
// the audit entry, in one transaction.
func (s *Store) Update(ctx context.Context, id string, fn func(k *keyward.Key) (*keyward.AuditEntry, error)) (*keyward.Key, error) {
	read := func(tx pgx.Tx) (*keyward.Key, error) {
		return s.scanKeyNoting(tx.QueryRow(ctx, selectKeyForUpdate, id))
	}
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
		k, err := s.scanKeyNoting(tx.QueryRow(ctx, selectKeyForUpdate, id))
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
	return nil, nil, s.fail(ctx, err, "rotate key", id)
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
		return nil, s.fail(ctx, err, "count keys", "")
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
		return 0, s.fail(ctx, err, "import keys", "")
	}
	return n, nil
}

// KeyIDs calls fn with every key id (see keyward.Store). The ids stream from
// one query, so memory does not grow with the number of keys.
func (s *Store) KeyIDs(ctx context.Context, fn func(id string) error) error {
	rows, err := s.pool.Query(ctx, `SELECT id FROM keys`)
	if err != nil {
		return s.fail(ctx, err, "list key ids", "")
	}
	defer rows.Close()
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return s.fail(ctx, err, "list key ids", "")
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.fail(ctx, err, "list key ids", "")
	}
	return nil
}
