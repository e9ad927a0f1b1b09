// The frames that keys, owners, roles and webhooks share: the write
// transaction, read one record, list records, the read-modify-write of an
// update, a put that creates or replaces, a delete. The SQL stays with each
// caller.

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
)

// inTx runs fn in a write transaction and commits it, rolling back on error.
// Driver errors are wrapped with op; errors of fn that are not driver errors
// pass through unchanged.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if err := s.prepare(ctx); err != nil {
		return err
	}
	// The event statements too, before the writer's one connection is taken
	// by the transaction. A schema without the events tables fails later,
	// where events are written.
	_, _ = s.events(ctx)
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(ctx, op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		var fnErr passthrough
		if errors.As(err, &fnErr) {
			return fnErr.err
		}
		return s.wrap(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(ctx, op, err)
	}
	return nil
}

// passthrough marks an error that inTx returns as is (from a callback, or
// already wrapped).
type passthrough struct{ err error }

func (p passthrough) Error() string { return p.err.Error() }

// notFound is the error for a key id that no row has.
func notFound(id string) error { return missing("key", id) }

// missing is the error for a record that no row has: what is its kind
// ("key", "owner", "role", "webhook"), id its id or name.
func missing(what, id string) error {
	return fmt.Errorf("sqlite: %s %q: %w", what, id, keyward.ErrNotFound)
}

// getRow scans the one row of a record of kind what with scan: no row is
// missing(what, id); other errors are wrapped as "reading what".
func getRow[T any](ctx context.Context, s *Store, row scanner, scan func(scanner) (T, error), what, id string) (T, error) {
	v, err := scan(row)
	if err == nil {
		return v, nil
	}
	var zero T
	if errors.Is(err, sql.ErrNoRows) {
		return zero, missing(what, id)
	}
	return zero, s.wrap(ctx, "reading "+what, err)
}

// queryRows runs query on the reader pool, appends every row, scanned with
// scan, to out and returns it; errors are wrapped with op.
func queryRows[T any](ctx context.Context, s *Store, op string, out []T, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(ctx, op, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.wrap(ctx, op, err)
		}
		out = append(out, v)
	}
	return out, s.wrap(ctx, op, rows.Err())
}

// updateRow is the read-modify-write of a record of kind what inside an
// IMMEDIATE transaction, so that no other write comes between: read reads it
// (no row is missing(what, id)), fn changes a copy, write stores the copy
// (given the record as read, whose identity it keeps), and fn's audit entry
// is appended. keyward.ErrNoChange from fn returns the record as read, with
// nothing written; fn's other errors return as they are; driver errors are
// wrapped as "updating what".
func updateRow[T interface{ Clone() T }](ctx context.Context, s *Store, what, id string,
	read func(*sql.Tx) (T, error), fn func(T) (*keyward.AuditEntry, error), write func(tx *sql.Tx, cur, next T) error) (T, error) {
	var out T
	err := s.inTx(ctx, "updating "+what, func(tx *sql.Tx) error {
		cur, err := read(tx)
		if errors.Is(err, sql.ErrNoRows) {
			return passthrough{missing(what, id)}
		}
		if err != nil {
			return err
		}
		next := cur.Clone()
		a, err := fn(next)
		if errors.Is(err, keyward.ErrNoChange) {
			out = cur
			return nil
		}
		if err != nil {
			return passthrough{err}
		}
		if err := write(tx, cur, next); err != nil {
			return err
		}
		out = next
		return s.insertAudit(ctx, tx, a)
	})
	return out, err
}

// putRow stores a record of owners or roles (kind what) with put, an upsert
// of args, and appends a, in one transaction; it reports whether it created
// the record, which exists (a count of the records named name) tells before
// the write.
func (s *Store) putRow(ctx context.Context, what, name, exists, put string, args []any, a *keyward.AuditEntry) (bool, error) {
	var created bool
	err := s.inTx(ctx, "storing "+what, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, exists, name).Scan(&n); err != nil {
			return err
		}
		created = n == 0
		if _, err := tx.ExecContext(ctx, put, args...); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, a)
	})
	return created, err
}

// deleteRow runs query (a DELETE of the record of kind what whose id or
// name is id) and then, if not nil, check, and appends a, in one
// transaction. No row deleted is missing(what, id); driver errors are wrapped
// as "deleting what".
func (s *Store) deleteRow(ctx context.Context, what, id, query string, a *keyward.AuditEntry, check func(*sql.Tx) error) error {
	return s.inTx(ctx, "deleting "+what, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return passthrough{missing(what, id)}
		}
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		return s.insertAudit(ctx, tx, a)
	})
}
