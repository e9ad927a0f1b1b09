package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
)

// webhookColumns are the columns of webhooks that reads return: never the
// secret.
const webhookColumns = `id, url, events, description, enabled, created_at, updated_at`

func webhookNotFound(id string) error {
	return fmt.Errorf("sqlite: webhook %q: %w", id, keyward.ErrNotFound)
}

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
	w, err := scanWebhook(s.reader.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, webhookNotFound(id)
	}
	if err != nil {
		return nil, s.wrap("reading webhook", err)
	}
	return w, nil
}

// ListWebhooks reads every endpoint, oldest first.
func (s *Store) ListWebhooks(ctx context.Context) ([]*keyward.Webhook, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks ORDER BY created_at, id`)
	if err != nil {
		return nil, s.wrap("listing webhooks", err)
	}
	defer rows.Close()
	out := []*keyward.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, s.wrap("listing webhooks", err)
		}
		out = append(out, w)
	}
	return out, s.wrap("listing webhooks", rows.Err())
}

// UpdateWebhook runs fn on the endpoint inside a write transaction.
func (s *Store) UpdateWebhook(ctx context.Context, id string, fn func(*keyward.Webhook) (*keyward.AuditEntry, error)) (*keyward.Webhook, error) {
	var out *keyward.Webhook
	err := s.inTx(ctx, "updating webhook", func(tx *sql.Tx) error {
		w, err := scanWebhook(tx.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return passthrough{webhookNotFound(id)}
		}
		if err != nil {
			return err
		}
		cur := w.Clone()
		a, err := fn(w)
		if errors.Is(err, keyward.ErrNoChange) {
			out = cur
			return nil
		}
		if err != nil {
			return passthrough{err}
		}
		w.ID = id
		if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET url = ?, events = ?, description = ?, enabled = ?, updated_at = ? WHERE id = ?`,
			w.URL, jsonList(w.Events), w.Description, w.Enabled, ms(w.UpdatedAt), id); err != nil {
			return err
		}
		out = w
		return s.insertAudit(ctx, tx, a)
	})
	return out, err
}

// DeleteWebhook deletes the endpoint; its deliveries and attempts go with
// it (ON DELETE CASCADE).
func (s *Store) DeleteWebhook(ctx context.Context, id string, a *keyward.AuditEntry) error {
	return s.inTx(ctx, "deleting webhook", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return passthrough{webhookNotFound(id)}
		}
		return s.insertAudit(ctx, tx, a)
	})
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
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap("listing deliveries", err)
	}
	defer rows.Close()
	var out []keyward.Attempt
	for rows.Next() {
		var (
			a    keyward.Attempt
			at   int64
			next sql.NullInt64
		)
		if err := rows.Scan(&a.ID, &a.EventID, &a.Type, &a.Attempt, &at, &a.Status, &a.Error, &next); err != nil {
			return nil, s.wrap("listing deliveries", err)
		}
		a.At, a.NextAttemptAt = fromMs(at), fromNullMs(next)
		out = append(out, a)
	}
	return out, s.wrap("listing deliveries", rows.Err())
}
