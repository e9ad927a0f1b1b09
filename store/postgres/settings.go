package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// Setting reads one setting.
func (s *Store) Setting(ctx context.Context, name string) (json.RawMessage, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: setting %q: %w", name, keyward.ErrNotFound)
	}
	if err != nil {
		return nil, s.fail(ctx, err, "read setting", name)
	}
	return json.RawMessage(v), nil
}

// PutSetting stores a setting with its audit entry in one transaction.
func (s *Store) PutSetting(ctx context.Context, name string, value json.RawMessage, a *keyward.AuditEntry) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, string(value))
		if err != nil {
			return err
		}
		return appendAudit(ctx, tx, a)
	})
	if err != nil {
		return s.fail(ctx, err, "store setting", name)
	}
	return nil
}
