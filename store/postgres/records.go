// The frames that keys, owners, roles and webhooks share: read one record,
// list records, the read-modify-write of an update, a put that creates or
// replaces, a delete. The SQL stays with each caller.

package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// errNoChange rolls back a transaction whose function returned
// keyward.ErrNoChange.
var errNoChange = errors.New("postgres: no change")

// callbackError carries the error of a caller's function out of a
// transaction, so that it is returned as is.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

// notFound is the error for a key id that no row has.
func notFound(id string) error { return missing("key", id) }

// missing is the error for a record that no row has: what is its kind
// ("key", "owner", "role", "webhook"), id its id or name.
func missing(what, id string) error {
	return fmt.Errorf("postgres: %s %q: %w", what, id, keyward.ErrNotFound)
}

// getRow scans the one row of a record of kind what with scan: no row is
// missing(what, id); other errors fail as "get what".
func getRow[T any](ctx context.Context, s *Store, row pgx.Row, scan func(pgx.Row) (T, error), what, id string) (T, error) {
	v, err := scan(row)
	if err == nil {
		return v, nil
	}
	var zero T
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, missing(what, id)
	}
	return zero, s.fail(ctx, err, "get "+what, id)
}

// listRows scans every row of rows (from Pool.Query, whose error
// CollectRows reports) with scan. No row is an empty slice, not nil; errors
// fail as "list whats".
func listRows[T any](ctx context.Context, s *Store, rows pgx.Rows, scan func(pgx.Row) (T, error), what string) ([]T, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, s.fail(ctx, err, "list "+what+"s", "")
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

// updateRow is the read-modify-write of a record of kind what in one
// transaction: read locks and reads it (FOR UPDATE), fn changes a copy,
// write stores the copy (given the record as read, whose identity it keeps)
// and returns the record stored, and fn's audit entry is appended.
// keyward.ErrNoChange from fn returns the record as read, with nothing
// written; fn's other errors return as they are. No row is
// missing(what, id); other errors fail as "update what".
func updateRow[T interface{ Clone() T }](ctx context.Context, s *Store, what, id string,
	read func(pgx.Tx) (T, error), fn func(T) (*keyward.AuditEntry, error), write func(tx pgx.Tx, cur, next T) (T, error)) (T, error) {
	var out T
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := read(tx)
		if err != nil {
			return err
		}
		next := cur.Clone()
		a, err := fn(next)
		if errors.Is(err, keyward.ErrNoChange) {
			out = cur
			return errNoChange
		}
		if err != nil {
			return &callbackError{err}
		}
		if out, err = write(tx, cur, next); err != nil {
			return err
		}
		return appendAudit(ctx, tx, a)
	})
	var ce *callbackError
	var zero T
	switch {
	case err == nil, errors.Is(err, errNoChange):
		return out, nil
	case errors.As(err, &ce):
		return zero, ce.err
	case errors.Is(err, pgx.ErrNoRows):
		return zero, missing(what, id)
	}
	return zero, s.fail(ctx, err, "update "+what, id)
}

// putRow stores a record of owners or roles (kind what) with upsert and
// appends a, in one transaction, and reports whether it created the record.
// Errors fail as "put what".
func (s *Store) putRow(ctx context.Context, what, name, insert, update string, args []any, a *keyward.AuditEntry) (created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if created, err = upsert(ctx, tx, insert, update, args); err != nil {
			return err
		}
		return appendAudit(ctx, tx, a)
	})
	if err != nil {
		return false, s.fail(ctx, err, "put "+what, name)
	}
	return created, nil
}

// withoutCreatedAt returns the arguments of an insert without created_at,
// the one before last: those of the matching update.
func withoutCreatedAt(args []any) []any {
	n := len(args)
	return append(args[:n-2:n-2], args[n-1])
}

// upsert writes a record of owners or roles in tx: it updates the row of
// that name (locking it, so that no delete slips in), or inserts one
// (created), and tries again if a concurrent writer inserted it between the
// two. The update takes the insert's arguments without created_at.
func upsert(ctx context.Context, tx pgx.Tx, insert, update string, args []any) (created bool, err error) {
	for {
		tag, err := tx.Exec(ctx, update, withoutCreatedAt(args)...)
		if err != nil || tag.RowsAffected() == 1 {
			return false, err
		}
		if tag, err = tx.Exec(ctx, insert, args...); err != nil || tag.RowsAffected() == 1 {
			return err == nil, err
		}
	}
}

// errDeleteNotFound rolls back a delete of a missing row.
var errDeleteNotFound = errors.New("postgres: nothing deleted")

// deleteRow runs query (a DELETE of the record of kind what whose id or
// name, $1, is id) and appends a in one transaction. No row deleted is
// missing(what, id); other errors fail as "delete what".
func (s *Store) deleteRow(ctx context.Context, what, id, query string, a *keyward.AuditEntry) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, id)
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
		return missing(what, id)
	}
	return s.fail(ctx, err, "delete "+what, id)
}
