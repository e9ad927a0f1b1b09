package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/keyward/keyward"
)

const (
	ownerColumns = `name, metadata, rate_limits, remaining, refill_interval, refill_amount,
	refilled_at, created_at, updated_at`

	// selectOwners reads owner records with their key count, which the
	// keys_owner index counts without reading the keys.
	selectOwners = `SELECT ` + ownerColumns + `,
	(SELECT count(*) FROM keys WHERE keys.owner = owners.name) FROM owners`

	// putOwner inserts or replaces a record, keeping created_at.
	putOwner = `INSERT INTO owners (` + ownerColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET metadata = excluded.metadata, rate_limits = excluded.rate_limits,
	remaining = excluded.remaining, refill_interval = excluded.refill_interval,
	refill_amount = excluded.refill_amount, refilled_at = excluded.refilled_at,
	updated_at = excluded.updated_at`
)

// ownerArgs returns the column values of o in ownerColumns order.
func ownerArgs(o *keyward.Owner) []any {
	var remaining, refillInterval, refillAmount any
	if o.Remaining != nil {
		remaining = *o.Remaining
	}
	if o.Refill != nil {
		refillInterval, refillAmount = o.Refill.Interval, o.Refill.Amount
	}
	return []any{
		o.Name, jsonObject(o.Metadata), encodeLimits(o.RateLimits), remaining, refillInterval, refillAmount,
		msPtr(o.RefilledAt), ms(o.CreatedAt), ms(o.UpdatedAt),
	}
}

// scanOwner reads a row of selectOwners.
func scanOwner(sc scanner) (*keyward.Owner, error) {
	var (
		o                       keyward.Owner
		meta, limits            string
		remaining, refillAmount sql.NullInt64
		refillInterval          sql.NullString
		refilled                sql.NullInt64
		created, updated        int64
	)
	err := sc.Scan(&o.Name, &meta, &limits, &remaining, &refillInterval, &refillAmount,
		&refilled, &created, &updated, &o.KeyCount)
	if err != nil {
		return nil, err
	}
	if o.RateLimits, err = decodeLimits(limits); err != nil {
		return nil, fmt.Errorf("owner %q: %w", o.Name, err)
	}
	o.Metadata = []byte(meta)
	if remaining.Valid {
		o.Remaining = &remaining.Int64
	}
	if refillInterval.Valid {
		o.Refill = &keyward.Refill{Interval: refillInterval.String, Amount: refillAmount.Int64}
	}
	o.RefilledAt, o.CreatedAt, o.UpdatedAt = fromNullMs(refilled), fromMs(created), fromMs(updated)
	return &o, nil
}

// PutOwner creates or replaces the record, with its audit entry, in one
// transaction.
func (s *Store) PutOwner(ctx context.Context, o *keyward.Owner, a *keyward.AuditEntry) (bool, error) {
	return s.putRow(ctx, "owner", o.Name, `SELECT count(*) FROM owners WHERE name = ?`, putOwner, ownerArgs(o), a)
}

// GetOwner reads the record and counts its keys in one query.
func (s *Store) GetOwner(ctx context.Context, name string) (*keyward.Owner, error) {
	return getRow(ctx, s, s.reader.QueryRowContext(ctx, selectOwners+` WHERE name = ?`, name), scanOwner, "owner", name)
}

// UpdateOwner runs fn on the record inside an IMMEDIATE transaction.
func (s *Store) UpdateOwner(ctx context.Context, name string, fn func(*keyward.Owner) (*keyward.AuditEntry, error)) (*keyward.Owner, error) {
	read := func(tx *sql.Tx) (*keyward.Owner, error) {
		return scanOwner(tx.QueryRowContext(ctx, selectOwners+` WHERE name = ?`, name))
	}
	write := func(tx *sql.Tx, cur, o *keyward.Owner) error {
		o.Name, o.CreatedAt, o.KeyCount = cur.Name, cur.CreatedAt, cur.KeyCount
		_, err := tx.ExecContext(ctx, putOwner, ownerArgs(o)...)
		return err
	}
	return updateRow(ctx, s, "owner", name, read, fn, write)
}

// ListOwners returns the matching records by name.
func (s *Store) ListOwners(ctx context.Context, f keyward.NameFilter) ([]*keyward.Owner, error) {
	query, args := byName(selectOwners, f)
	return queryRows(ctx, s, "listing owners", []*keyward.Owner{}, scanOwner, query, args...)
}

// byName completes a SELECT of owners or roles with the conditions, order
// and limit of f. Names compare byte-wise (BINARY); "contains" ignores case
// (containsFolded).
func byName(query string, f keyward.NameFilter) (string, []any) {
	var where []string
	var args []any
	if f.After != "" {
		where = append(where, "name > ?")
		args = append(args, f.After)
	}
	if f.Contains != "" {
		cond, arg := containsFolded("name", f.Contains)
		where = append(where, cond)
		args = append(args, arg)
	}
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY name"
	if f.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, f.Limit)
	}
	return query, args
}

// DeleteOwner deletes the record and appends the entry in one transaction.
func (s *Store) DeleteOwner(ctx context.Context, name string, a *keyward.AuditEntry) error {
	return s.deleteRow(ctx, "owner", name, `DELETE FROM owners WHERE name = ?`, a, nil)
}
