package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/useddays"
)

const insertAuditSQL = `INSERT INTO audit (at, actor, action, key_id, client_ip, details) VALUES (?, ?, ?, ?, ?, ?)`

func (s *Store) insertKey(ctx context.Context, tx *sql.Tx, k *keyward.Key) error {
	_, err := tx.StmtContext(ctx, s.insertStmt).ExecContext(ctx, append([]any{k.ID}, keyArgs(k)...)...)
	return err
}

func (s *Store) updateKey(ctx context.Context, tx *sql.Tx, k *keyward.Key) error {
	_, err := tx.StmtContext(ctx, s.updateStmt).ExecContext(ctx, append(keyArgs(k), k.ID)...)
	return err
}

// insertAudit appends a, if not nil, and writes its events to the outbox, in
// tx.
func (s *Store) insertAudit(ctx context.Context, tx *sql.Tx, a *keyward.AuditEntry) error {
	if a == nil {
		return nil
	}
	details := string(a.Details)
	if details == "" {
		details = "{}"
	}
	if _, err := tx.StmtContext(ctx, s.auditStmt).ExecContext(ctx, ms(a.At), a.Actor, a.Action, a.KeyID, a.ClientIP, details); err != nil {
		return err
	}
	_, err := s.insertEvents(ctx, tx, a.Events)
	return err
}

// Create inserts the key and its audit entry in one transaction.
func (s *Store) Create(ctx context.Context, k *keyward.Key, a *keyward.AuditEntry) error {
	return s.inTx(ctx, "creating key", func(tx *sql.Tx) error {
		if err := s.insertKey(ctx, tx, k); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, a)
	})
}

// Get reads one key through the prepared statement on the reader pool.
func (s *Store) Get(ctx context.Context, id string) (*keyward.Key, error) {
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	return getRow(ctx, s, s.getStmt.QueryRowContext(ctx, id), s.scanKeyNoting, "key", id)
}

// ReloadKey reads a key as Get does, but its last use only from the key row
// and usage_recent, not the history in usage (keyward.KeyReloader): what a
// cache reloading a key in use needs.
func (s *Store) ReloadKey(ctx context.Context, id string) (*keyward.Key, error) {
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	return getRow(ctx, s, s.reloadStmt.QueryRowContext(ctx, id), s.scanKeyNoting, "key", id)
}

// ReturnsFreshKeys reports that Get and RecentKeys build a new key from its
// row on every call (keyward.FreshKeyReader).
func (s *Store) ReturnsFreshKeys() bool { return true }

// scanKeyNoting scans a row of keySelect followed by the key row's own
// last_used_at, and notes that row's day in usedDays: a row that holds a
// use of day d needs no write for another use of that day, so a new
// process does not write the row of every key it meets again (at 1,000,000
// keys, a random page of the largest table per key after each restart).
func (s *Store) scanKeyNoting(sc scanner) (*keyward.Key, error) {
	var row sql.NullInt64
	k, err := scanKey(extraColumn{sc, &row})
	if err == nil && row.Valid {
		s.usedDays.Set(k.ID, useddays.Of(time.UnixMilli(row.Int64)))
	}
	return k, err
}

// extraColumn scans one more column after those its scanner's caller asks
// for, into dest.
type extraColumn struct {
	sc   scanner
	dest any
}

func (e extraColumn) Scan(dest ...any) error { return e.sc.Scan(append(dest, e.dest)...) }

// getTx reads a key inside a write transaction.
func getTx(ctx context.Context, tx *sql.Tx, id string) (*keyward.Key, error) {
	k, err := scanKey(tx.QueryRowContext(ctx, `SELECT `+keySelect+` FROM keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, passthrough{notFound(id)}
	}
	return k, err
}

// Update runs fn on the key inside an IMMEDIATE transaction, so no other
// write can happen between its read and its write.
func (s *Store) Update(ctx context.Context, id string, fn func(*keyward.Key) (*keyward.AuditEntry, error)) (*keyward.Key, error) {
	read := func(tx *sql.Tx) (*keyward.Key, error) { return getTx(ctx, tx, id) }
	write := func(tx *sql.Tx, _, k *keyward.Key) error {
		k.ID = id
		return s.updateKey(ctx, tx, k)
	}
	return updateRow(ctx, s, "key", id, read, fn, write)
}

// Rotate changes the old key and inserts its successor in one transaction.
func (s *Store) Rotate(ctx context.Context, id string, fn func(*keyward.Key) (*keyward.Key, *keyward.AuditEntry, error)) (*keyward.Key, *keyward.Key, error) {
	var old, next *keyward.Key
	err := s.inTx(ctx, "rotating key", func(tx *sql.Tx) error {
		k, err := getTx(ctx, tx, id)
		if err != nil {
			return err
		}
		n, a, err := fn(k)
		if err != nil {
			return passthrough{err}
		}
		k.ID = id
		if err := s.updateKey(ctx, tx, k); err != nil {
			return err
		}
		if err := s.insertKey(ctx, tx, n); err != nil {
			return err
		}
		old, next = k, n
		return s.insertAudit(ctx, tx, a)
	})
	if err != nil {
		return nil, nil, err
	}
	return old, next, nil
}

// Delete removes the key and appends the audit entry in one transaction.
func (s *Store) Delete(ctx context.Context, id string, a *keyward.AuditEntry) error {
	return s.deleteRow(ctx, "key", id, `DELETE FROM keys WHERE id = ?`, a, nil)
}

// KeyIDs calls fn with every key id (see keyward.Store).
func (s *Store) KeyIDs(ctx context.Context, fn func(id string) error) error {
	rows, err := s.reader.QueryContext(ctx, `SELECT id FROM keys`)
	if err != nil {
		return s.wrap(ctx, "listing key ids", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return s.wrap(ctx, "listing key ids", err)
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	return s.wrap(ctx, "listing key ids", rows.Err())
}

// CreateBatch inserts the keys whose ids are free, with their audit entries,
// in one transaction (see keyward.Store).
func (s *Store) CreateBatch(ctx context.Context, keys []*keyward.Key, audit []*keyward.AuditEntry) (int, error) {
	n := 0
	err := s.inTx(ctx, "importing keys", func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, strings.Replace(insertKeySQL, "INSERT INTO", "INSERT OR IGNORE INTO", 1))
		if err != nil {
			return err
		}
		defer ins.Close()
		for i, k := range keys {
			res, err := ins.ExecContext(ctx, append([]any{k.ID}, keyArgs(k)...)...)
			if err != nil {
				return err
			}
			if added, _ := res.RowsAffected(); added == 1 {
				n++
				if err := s.insertAudit(ctx, tx, audit[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
