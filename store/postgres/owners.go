package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

const (
	ownerColumns = `name, metadata, rate_limits, remaining, refill_interval, refill_amount,
	refilled_at, created_at, updated_at`

	// selectOwners reads owner records with their key count, which
	// keys_owner_created_idx counts (keys.owner has the database's
	// collation, owners.name "C": equality is byte equality in both).
	selectOwners = `SELECT ` + ownerColumns + `,
	(SELECT count(*) FROM keys WHERE keys.owner = owners.name COLLATE "default") FROM owners`

	insertOwner = `INSERT INTO owners (` + ownerColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
	ON CONFLICT (name) DO NOTHING`
	// updateOwner writes every column but name ($1) and created_at.
	updateOwner = `UPDATE owners SET (metadata, rate_limits, remaining, refill_interval, refill_amount, refilled_at, updated_at)
	= ($2, $3, $4, $5, $6, $7, $8) WHERE name = $1`
)

func ownerNotFound(name string) error {
	return fmt.Errorf("postgres: owner %q: %w", name, keyward.ErrNotFound)
}

// ownerArgs returns the parameters of insertOwner for o; without created_at
// (the 8th), those of updateOwner.
func ownerArgs(o *keyward.Owner) []any {
	var refillInterval *string
	var refillAmount *int64
	if o.Refill != nil {
		refillInterval, refillAmount = &o.Refill.Interval, &o.Refill.Amount
	}
	return []any{
		o.Name, jsonArg(o.Metadata), encodeLimits(o.RateLimits), o.Remaining, refillInterval, refillAmount,
		tsPtr(o.RefilledAt), ts(o.CreatedAt), ts(o.UpdatedAt),
	}
}

// scanOwner reads a row of selectOwners.
func scanOwner(row pgx.Row) (*keyward.Owner, error) {
	var (
		o              keyward.Owner
		meta, limits   []byte
		refillInterval *string
		refillAmount   *int64
	)
	err := row.Scan(&o.Name, &meta, &limits, &o.Remaining, &refillInterval, &refillAmount,
		&o.RefilledAt, &o.CreatedAt, &o.UpdatedAt, &o.KeyCount)
	if err != nil {
		return nil, err
	}
	if o.RateLimits, err = decodeLimits(limits); err != nil {
		return nil, fmt.Errorf("owner %q: %w", o.Name, err)
	}
	o.Metadata = jsonValue(meta)
	if refillInterval != nil && refillAmount != nil {
		o.Refill = &keyward.Refill{Interval: *refillInterval, Amount: *refillAmount}
	}
	return &o, nil
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

// PutOwner creates or replaces the record, with its audit entry, in one
// transaction.
func (s *Store) PutOwner(ctx context.Context, o *keyward.Owner, a *keyward.AuditEntry) (created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if created, err = upsert(ctx, tx, insertOwner, updateOwner, ownerArgs(o)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, a)
	})
	if err != nil {
		return false, s.fail(err, "put owner", o.Name)
	}
	return created, nil
}

// GetOwner reads the record and counts its keys in one query.
func (s *Store) GetOwner(ctx context.Context, name string) (*keyward.Owner, error) {
	o, err := scanOwner(s.pool.QueryRow(ctx, selectOwners+` WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ownerNotFound(name)
	}
	if err != nil {
		return nil, s.fail(err, "get owner", name)
	}
	return o, nil
}

// UpdateOwner locks the row, applies fn and writes the record back, with the
// audit entry, in one transaction.
func (s *Store) UpdateOwner(ctx context.Context, name string, fn func(o *keyward.Owner) (*keyward.AuditEntry, error)) (*keyward.Owner, error) {
	var out *keyward.Owner
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := scanOwner(tx.QueryRow(ctx, selectOwners+` WHERE name = $1 FOR UPDATE`, name))
		if err != nil {
			return err
		}
		o := cur.Clone()
		a, err := fn(o)
		if errors.Is(err, keyward.ErrNoChange) {
			out = cur
			return errNoChange
		}
		if err != nil {
			return &callbackError{err}
		}
		o.Name, o.CreatedAt, o.KeyCount = cur.Name, cur.CreatedAt, cur.KeyCount
		if _, err := tx.Exec(ctx, updateOwner, withoutCreatedAt(ownerArgs(o))...); err != nil {
			return err
		}
		out = o
		return appendAudit(ctx, tx, a)
	})
	var ce *callbackError
	switch {
	case err == nil, errors.Is(err, errNoChange):
		return out, nil
	case errors.As(err, &ce):
		return nil, ce.err
	case errors.Is(err, pgx.ErrNoRows):
		return nil, ownerNotFound(name)
	}
	return nil, s.fail(err, "update owner", name)
}

// ListOwners returns the matching records by name.
func (s *Store) ListOwners(ctx context.Context, f keyward.NameFilter) ([]*keyward.Owner, error) {
	q, args := byName(selectOwners, f)
	rows, _ := s.pool.Query(ctx, q, args...)
	owners, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*keyward.Owner, error) { return scanOwner(r) })
	if err != nil {
		return nil, s.fail(err, "list owners", "")
	}
	if owners == nil {
		owners = []*keyward.Owner{}
	}
	return owners, nil
}

// byName completes a SELECT of owners or roles with the conditions, order
// and limit of f. Names compare byte-wise (their collation is "C"); the
// case of "contains" is folded as the database's collation folds it.
func byName(query string, f keyward.NameFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.After != "" {
		where = append(where, "name > "+arg(f.After))
	}
	if f.Contains != "" {
		where = append(where, `strpos(lower(name COLLATE "default"), lower(`+arg(f.Contains)+`)) > 0`)
	}
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY name"
	if f.Limit > 0 {
		query += " LIMIT " + arg(f.Limit)
	}
	return query, args
}

// DeleteOwner deletes the record and appends a in one transaction.
func (s *Store) DeleteOwner(ctx context.Context, name string, a *keyward.AuditEntry) error {
	return s.deleteRow(ctx, `DELETE FROM owners WHERE name = $1`, name, a, func() error { return ownerNotFound(name) }, "delete owner")
}
