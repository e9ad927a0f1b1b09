package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/keyward/keyward"
)

// webhookColumns are the columns of webhooks that reads return: never the
// secret.
const webhookColumns = `id, url, events, description, enabled, created_at, updated_at`

// scanWebhook reads a row of webhookColumns.
func scanWebhook(sc scanner) (*keyward.Webhook, error) {
	var (
		w                keyward.Webhook
		events           string
		created, updated int64
	)
	if err := sc.Scan(&w.ID, &w.URL, &events, &w.Description, &w.Enabled, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if w.Events, err = readList("events", events); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", w.ID, err)
	}
	w.CreatedAt, w.UpdatedAt = fromMs(created), fromMs(updated)
	return &w, nil
}

// CreateWebhook inserts the endpoint and its secret with the audit entry.
func (s *Store) CreateWebhook(ctx context.Context, w *keyward.Webhook, secret string, a *keyward.AuditEntry) error {
	return s.inTx(ctx, "creating webhook", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (`+webhookColumns+`, secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			w.ID, w.URL, jsonList(w.Events), w.Description, w.Enabled, ms(w.CreatedAt), ms(w.UpdatedAt), secret)
		if err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, a)
	})
}

// GetWebhook reads one endpoint.
func (s *Store) GetWebhook(ctx context.Context, id string) (*keyward.Webhook, error) {
	return getRow(ctx, s, s.reader.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id), scanWebhook, "webhook", id)
}

// ListWebhooks reads every endpoint, oldest first.
func (s *Store) ListWebhooks(ctx context.Context) ([]*keyward.Webhook, error) {
	return queryRows(ctx, s, "listing webhooks", []*keyward.Webhook{}, scanWebhook,
		`SELECT `+webhookColumns+` FROM webhooks ORDER BY created_at, id`)
}

// UpdateWebhook runs fn on the endpoint inside a write transaction.
func (s *Store) UpdateWebhook(ctx context.Context, id string, fn func(*keyward.Webhook) (*keyward.AuditEntry, error)) (*keyward.Webhook, error) {
	read := func(tx *sql.Tx) (*keyward.Webhook, error) {
		return scanWebhook(tx.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	}
	write := func(tx *sql.Tx, _, w *keyward.Webhook) error {
		w.ID = id
		_, err := tx.ExecContext(ctx, `UPDATE webhooks SET url = ?, events = ?, description = ?, enabled = ?, updated_at = ? WHERE id = ?`,
			w.URL, jsonList(w.Events), w.Description, w.Enabled, ms(w.UpdatedAt), id)
		return err
	}
	return updateRow(ctx, s, "webhook", id, read, fn, write)
}

// DeleteWebhook deletes the endpoint; its deliveries and attempts go with
// it (ON DELETE CASCADE).
func (s *Store) DeleteWebhook(ctx context.Context, id string, a *keyward.AuditEntry) error {
	return s.deleteRow(ctx, "webhook", id, `DELETE FROM webhooks WHERE id = ?`, a, nil)
}

// ListAttempts reads the endpoint's attempts, newest first.
func (s *Store) ListAttempts(ctx context.Context, f keyward.AttemptFilter) ([]keyward.Attempt, error) {
	query := `SELECT id, event_id, type, attempt, at, status, error, next_at FROM attempts WHERE webhook_id = ?`
	args := []any{f.Webhook}
	if f.Before != 0 {
		query += ` AND id < ?`
		args = append(args, f.Before)
	}
	query += ` ORDER BY id DESC`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	scan := func(sc scanner) (keyward.Attempt, error) {
		var (
			a    keyward.Attempt
			at   int64
			next sql.NullInt64
		)
		err := sc.Scan(&a.ID, &a.EventID, &a.Type, &a.Attempt, &at, &a.Status, &a.Error, &next)
		a.At, a.NextAttemptAt = fromMs(at), fromNullMs(next)
		return a, err
	}
	return queryRows(ctx, s, "listing deliveries", nil, scan, query, args...)
}
