package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
)

const (
	roleColumns = `name, description, scopes, created_at, updated_at`
	selectRoles = `SELECT ` + roleColumns + ` FROM roles`
	putRole     = `INSERT INTO roles (` + roleColumns + `) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET description = excluded.description, scopes = excluded.scopes,
	updated_at = excluded.updated_at`
)

func roleNotFound(name string) error {
	return fmt.Errorf("sqlite: role %q: %w", name, keyward.ErrNotFound)
}

// scanRole reads a row of selectRoles.
func scanRole(sc scanner) (*keyward.Role, error) {
	var (
		r                keyward.Role
		scopes           string
		created, updated int64
	)
	if err := sc.Scan(&r.Name, &r.Description, &scopes, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if r.Scopes, err = readList("scopes", scopes); err != nil {
		return nil, fmt.Errorf("role %q: %w", r.Name, err)
	}
	r.CreatedAt, r.UpdatedAt = fromMs(created), fromMs(updated)
	return &r, nil
}

// PutRole creates or replaces the role, with its audit entry, in one
// transaction.
func (s *Store) PutRole(ctx context.Context, r *keyward.Role, a *keyward.AuditEntry) (bool, error) {
	var created bool
	err := s.inTx(ctx, "storing role", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM roles WHERE name = ?`, r.Name).Scan(&n); err != nil {
			return err
		}
		created = n == 0
		_, err := tx.ExecContext(ctx, putRole, r.Name, r.Description, jsonList(r.Scopes), ms(r.CreatedAt), ms(r.UpdatedAt))
		if err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, a)
	})
	return created, err
}

// GetRole reads one role.
func (s *Store) GetRole(ctx context.Context, name string) (*keyward.Role, error) {
	r, err := scanRole(s.reader.QueryRowContext(ctx, selectRoles+` WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, roleNotFound(name)
	}
	if err != nil {
		return nil, s.wrap("reading role", err)
	}
	return r, nil
}

// ListRoles returns the matching roles by name.
func (s *Store) ListRoles(ctx context.Context, f keyward.NameFilter) ([]*keyward.Role, error) {
	query, args := byName(selectRoles, f)
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap("listing roles", err)
	}
	defer rows.Close()
	out := []*keyward.Role{}
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, s.wrap("listing roles", err)
		}
		out = append(out, r)
	}
	return out, s.wrap("listing roles", rows.Err())
}

// DeleteRole deletes the role unless a key has it, which the key_roles
// index tells without reading keys. The IMMEDIATE transaction keeps any
// other write out between the check and the delete.
func (s *Store) DeleteRole(ctx context.Context, name string, a *keyward.AuditEntry) error {
	return s.inTx(ctx, "deleting role", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM roles WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return passthrough{roleNotFound(name)}
		}
		var id string
		err = tx.QueryRowContext(ctx, `SELECT key_id FROM key_roles WHERE role = ? LIMIT 1`, name).Scan(&id)
		switch {
		case err == nil:
			return passthrough{fmt.Errorf("sqlite: role %q: key %s has it: %w", name, id, keyward.ErrConflict)}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		return s.insertAudit(ctx, tx, a)
	})
}
