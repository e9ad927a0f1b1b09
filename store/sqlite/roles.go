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
	args := []any{r.Name, r.Description, jsonList(r.Scopes), ms(r.CreatedAt), ms(r.UpdatedAt)}
	return s.putRow(ctx, "role", r.Name, `SELECT count(*) FROM roles WHERE name = ?`, putRole, args, a)
}

// GetRole reads one role.
func (s *Store) GetRole(ctx context.Context, name string) (*keyward.Role, error) {
	return getRow(ctx, s, s.reader.QueryRowContext(ctx, selectRoles+` WHERE name = ?`, name), scanRole, "role", name)
}

// ListRoles returns the matching roles by name.
func (s *Store) ListRoles(ctx context.Context, f keyward.NameFilter) ([]*keyward.Role, error) {
	query, args := byName(selectRoles, f)
	return queryRows(ctx, s, "listing roles", []*keyward.Role{}, scanRole, query, args...)
}

// DeleteRole deletes the role unless a key has it, which the key_roles
// index tells without reading keys. The IMMEDIATE transaction keeps any
// other write out between the check and the delete.
func (s *Store) DeleteRole(ctx context.Context, name string, a *keyward.AuditEntry) error {
	inUse := func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT key_id FROM key_roles WHERE role = ? LIMIT 1`, name).Scan(&id)
		switch {
		case err == nil:
			return passthrough{fmt.Errorf("sqlite: role %q: key %s has it: %w", name, id, keyward.ErrConflict)}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		return nil
	}
	return s.deleteRow(ctx, "role", name, `DELETE FROM roles WHERE name = ?`, a, inUse)
}
