package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

const (
	roleColumns = `name, description, scopes, created_at, updated_at`
	selectRoles = `SELECT ` + roleColumns + ` FROM roles`
	insertRole  = `INSERT INTO roles (` + roleColumns + `) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`
	// updateRole writes every column but name ($1) and created_at.
	updateRole = `UPDATE roles SET (description, scopes, updated_at) = ($2, $3, $4) WHERE name = $1`
)

// scanRole reads a row of selectRoles.
func scanRole(row pgx.Row) (*keyward.Role, error) {
	var r keyward.Role
	if err := row.Scan(&r.Name, &r.Description, &r.Scopes, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.Scopes = list(r.Scopes)
	return &r, nil
}

// PutRole creates or replaces the role, with its audit entry, in one
// transaction.
func (s *Store) PutRole(ctx context.Context, r *keyward.Role, a *keyward.AuditEntry) (created bool, err error) {
	args := []any{r.Name, r.Description, list(r.Scopes), ts(r.CreatedAt), ts(r.UpdatedAt)}
	return s.putRow(ctx, "role", r.Name, insertRole, updateRole, args, a)
}

// GetRole reads one role.
func (s *Store) GetRole(ctx context.Context, name string) (*keyward.Role, error) {
	return getRow(ctx, s, s.pool.QueryRow(ctx, selectRoles+` WHERE name = $1`, name), scanRole, "role", name)
}

// ListRoles returns the matching roles by name.
func (s *Store) ListRoles(ctx context.Context, f keyward.NameFilter) ([]*keyward.Role, error) {
	q, args := byName(selectRoles, f)
	rows, _ := s.pool.Query(ctx, q, args...)
	return listRows(ctx, s, rows, scanRole, "role")
}

// errRoleInUse rolls back the delete of a role that a key has.
type errRoleInUse struct{ keyID string }

func (e *errRoleInUse) Error() string { return "role in use by key " + e.keyID }

// DeleteRole deletes the role unless a key has it, which the key_roles
// index tells without reading keys. The transaction first takes key_roles in
// SHARE mode: that waits for the transactions writing a key's roles to end
// and holds off new ones until the delete commits, so no key gains the role
// between the check and the delete. Key writes that leave roles unchanged
// (spends, last_used_at) are not held.
func (s *Store) DeleteRole(ctx context.Context, name string, a *keyward.AuditEntry) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE key_roles IN SHARE MODE`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM roles WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errDeleteNotFound
		}
		var id string
		err = tx.QueryRow(ctx, `SELECT key_id FROM key_roles WHERE role = $1 LIMIT 1`, name).Scan(&id)
		switch {
		case err == nil:
			return &errRoleInUse{id}
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		return appendAudit(ctx, tx, a)
	})
	var inUse *errRoleInUse
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errDeleteNotFound):
		return missing("role", name)
	case errors.As(err, &inUse):
		return fmt.Errorf("postgres: role %q: key %s has it: %w", name, inUse.keyID, keyward.ErrConflict)
	}
	return s.fail(ctx, err, "delete role", name)
}
