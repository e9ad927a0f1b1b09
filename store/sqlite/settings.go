package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
)

// Setting reads one setting.
func (s *Store) Setting(ctx context.Context, name string) (json.RawMessage, error) {
	var v string
	err := s.reader.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: setting %q: %w", name, keyward.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(ctx, "reading setting", err)
	}
	return json.RawMessage(v), nil
}

// PutSetting stores a setting with its audit entry in one transaction.
func (s *Store) PutSetting(ctx context.Context, name string, value json.RawMessage, a *keyward.AuditEntry) error {
	return s.inTx(ctx, "storing setting", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, string(value))
		if err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, a)
	})
}
