package postgres

import (
	"context"
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

// PutOwner creates or replaces the record, with its audit entry, in one
// transaction.
func (s *Store) PutOwner(ctx context.Context, o *keyward.Owner, a *keyward.AuditEntry) (created bool, err error) {
	return s.putRow(ctx, "owner", o.Name, insertOwner, updateOwner, ownerArgs(o), a)
}

// GetOwner reads the record and counts its keys in one query.
func (s *Store) GetOwner(ctx context.Context, name string) (*keyward.Owner, error) {
	return getRow(ctx, s, s.pool.QueryRow(ctx, selectOwners+` WHERE name = $1`, name), scanOwner, "owner", name)
}

// UpdateOwner locks the row, applies fn and writes the record back, with the
// audit entry, in one transaction.
func (s *Store) UpdateOwner(ctx context.Context, name string, fn func(o *keyward.Owner) (*keyward.AuditEntry, error)) (*keyward.Owner, error) {
	read := func(tx pgx.Tx) (*keyward.Owner, error) {
		return scanOwner(tx.QueryRow(ctx, selectOwners+` WHERE name = $1 FOR UPDATE`, name))
	}
	write := func(tx pgx.Tx, cur, o *keyward.Owner) (*keyward.Owner, error) {
		o.Name, o.CreatedAt, o.KeyCount = cur.Name, cur.CreatedAt, cur.KeyCount
		_, err := tx.Exec(ctx, updateOwner, withoutCreatedAt(ownerArgs(o))...)
		return o, err
	}
	return updateRow(ctx, s, "owner", name, read, fn, write)
}

// ListOwners returns the matching records by name.
func (s *Store) ListOwners(ctx context.Context, f keyward.NameFilter) ([]*keyward.Owner, error) {
	q, args := byName(selectOwners, f)
	rows, _ := s.pool.Query(ctx, q, args...)
	return listRows(ctx, s, rows, scanOwner, "owner")
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
	return s.deleteRow(ctx, "owner", name, `DELETE FROM owners WHERE name = $1`, a)
}
