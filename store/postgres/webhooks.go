package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// webhookColumns are the columns of webhooks that reads return: never the
// secret.
const webhookColumns = `id, url, events, description, enabled, created_at, updated_at`

// scanWebhook reads a row of webhookColumns.
func scanWebhook(row pgx.Row) (*keyward.Webhook, error) {
	var w keyward.Webhook
	if err := row.Scan(&w.ID, &w.URL, &w.Events, &w.Description, &w.Enabled, &w.CreatedAt, &w.UpdatedAt); err != nil {
		return nil, err
	}
	w.Events = list(w.Events)
	return &w, nil
}

// CreateWebhook inserts the endpoint and its secret with the audit entry.
func (s *Store) CreateWebhook(ctx context.Context, w *keyward.Webhook, secret string, a *keyward.AuditEntry) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO webhooks (`+webhookColumns+`, secret) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			w.ID, w.URL, list(w.Events), w.Description, w.Enabled, ts(w.CreatedAt), ts(w.UpdatedAt), secret); err != nil {
			return err
		}
		return appendAudit(ctx, tx, a)
	})
	if err != nil {
		return s.fail(ctx, err, "create webhook", w.ID)
	}
	return nil
}

// GetWebhook reads one endpoint.
func (s *Store) GetWebhook(ctx context.Context, id string) (*keyward.Webhook, error) {
	return getRow(ctx, s, s.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1`, id), scanWebhook, "webhook", id)
}

// ListWebhooks reads every endpoint, oldest first.
func (s *Store) ListWebhooks(ctx context.Context) ([]*keyward.Webhook, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks ORDER BY created_at, id`)
	return listRows(ctx, s, rows, scanWebhook, "webhook")
}

// UpdateWebhook locks the row, applies fn and writes the endpoint back, with
// the audit entry, in one transaction.
func (s *Store) UpdateWebhook(ctx context.Context, id string, fn func(*keyward.Webhook) (*keyward.AuditEntry, error)) (*keyward.Webhook, error) {
	read := func(tx pgx.Tx) (*keyward.Webhook, error) {
		return scanWebhook(tx.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1 FOR UPDATE`, id))
	}
	write := func(tx pgx.Tx, cur, w *keyward.Webhook) (*keyward.Webhook, error) {
		w.ID, w.CreatedAt = id, cur.CreatedAt
		_, err := tx.Exec(ctx, `UPDATE webhooks SET url = $2, events = $3, description = $4, enabled = $5, updated_at = $6 WHERE id = $1`,
			id, w.URL, list(w.Events), w.Description, w.Enabled, ts(w.UpdatedAt))
		return w, err
	}
	return updateRow(ctx, s, "webhook", id, read, fn, write)
}

// DeleteWebhook deletes the endpoint; its deliveries and attempts go with
// it (ON DELETE CASCADE).
func (s *Store) DeleteWebhook(ctx context.Context, id string, a *keyward.AuditEntry) error {
	return s.deleteRow(ctx, "webhook", id, `DELETE FROM webhooks WHERE id = $1`, a)
}

// ListAttempts reads the endpoint's attempts, newest first.
func (s *Store) ListAttempts(ctx context.Context, f keyward.AttemptFilter) ([]keyward.Attempt, error) {
	limit := any(nil)
	if f.Limit > 0 {
		limit = f.Limit
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, event_id, type, attempt, at, status, error, next_at FROM attempts
	WHERE webhook_id = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, f.Webhook, f.Before, limit)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyward.Attempt, error) {
		var a keyward.Attempt
		err := r.Scan(&a.ID, &a.EventID, &a.Type, &a.Attempt, &a.At, &a.Status, &a.Error, &a.NextAttemptAt)
		return a, err
	})
	if err != nil {
		return nil, s.fail(ctx, err, "list deliveries", f.Webhook)
	}
	return out, nil
}
