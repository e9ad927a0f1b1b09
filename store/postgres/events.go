package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

const (
	// insertDedupe claims a dedupe key; no row comes back when it is taken.
	insertDedupe = `INSERT INTO event_dedupe (dedupe, at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true`

	insertEvent = `INSERT INTO events (id, type, at, data, webhook) VALUES ($1, $2, $3, $4, $5)`

	// fanOut takes the oldest events not fanned out (rows other fan-outs
	// hold are skipped, so no event is taken twice), creates their
	// deliveries and marks them, in one statement.
	fanOut = `WITH picked AS (
		SELECT seq, type, webhook FROM events WHERE NOT fanned ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED
	), added AS (
		INSERT INTO deliveries (event_seq, webhook_id, created_at, next_at)
		SELECT p.seq, w.id, $1, $1 FROM picked p JOIN webhooks w
		ON p.webhook = w.id OR p.webhook = '' AND w.enabled AND ('*' = ANY (w.events) OR p.type = ANY (w.events))
		ON CONFLICT DO NOTHING
	), marked AS (
		UPDATE events SET fanned = true FROM picked WHERE events.seq = picked.seq
	)
	SELECT count(*) FROM picked`

	// claimDeliveries locks, per enabled endpoint not skipped ($5), its
	// earliest due deliveries (skipping rows another claimer holds), and
	// leases at most $6 of them.
	claimDeliveries = `WITH picked AS (
		SELECT d.id, d.next_at FROM webhooks w CROSS JOIN LATERAL (
			SELECT d.id, d.next_at FROM deliveries d
			WHERE d.webhook_id = w.id AND NOT d.done AND d.next_at <= $1
			ORDER BY d.next_at, d.id LIMIT $4
			FOR UPDATE OF d SKIP LOCKED
		) d
		WHERE w.enabled AND NOT (w.id = ANY ($5))
		ORDER BY d.next_at, d.id LIMIT $6
	)
	UPDATE deliveries d SET next_at = $2, claim = $3
	FROM picked, events e, webhooks w
	WHERE d.id = picked.id AND e.seq = d.event_seq AND w.id = d.webhook_id
	RETURNING d.id, d.webhook_id, w.url, w.secret, d.attempts, d.first_at, d.created_at, e.id, e.type, e.at, e.data, e.webhook`

	// recordAttempts applies the records ($1...$8 in parallel arrays) whose
	// claim still holds, and logs them.
	recordAttempts = `WITH r AS (
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::int[], $7::text[], $8::timestamptz[])
		AS r (id, token, event_id, type, at, status, error, next_at)
	), updated AS (
		UPDATE deliveries d SET attempts = d.attempts + 1, first_at = coalesce(d.first_at, r.at), last_at = r.at,
			next_at = coalesce(r.next_at, d.next_at), done = r.next_at IS NULL, claim = NULL
		FROM r WHERE d.id = r.id AND d.claim = r.token AND NOT d.done
		RETURNING d.id, d.webhook_id, d.attempts
	)
	INSERT INTO attempts (webhook_id, event_id, type, attempt, at, status, error, next_at)
	SELECT u.webhook_id, r.event_id, r.type, u.attempts, r.at, r.status, r.error, r.next_at
	FROM updated u JOIN r ON r.id = u.id ORDER BY r.at, u.id`
)

// appendEvents writes events to the outbox in tx, skipping those whose
// dedupe key is stored, and returns how many it wrote.
func appendEvents(ctx context.Context, tx pgx.Tx, events []keyward.Event) (int, error) {
	n := 0
	for _, e := range events {
		if e.Dedupe != "" {
			var fresh bool
			err := tx.QueryRow(ctx, insertDedupe, e.Dedupe, ts(e.At)).Scan(&fresh)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return n, err
			}
		}
		data := []byte(e.Data)
		if len(data) == 0 {
			data = []byte("{}")
		}
		if _, err := tx.Exec(ctx, insertEvent, e.ID, e.Type, ts(e.At), data, e.Webhook); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// AppendEvents writes the events whose dedupe keys are new. Concurrent
// appends of one dedupe key (in any process) store it once: the loser waits
// on the winner's row and then skips.
func (s *Store) AppendEvents(ctx context.Context, events []keyward.Event) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		n, err = appendEvents(ctx, tx, events)
		return err
	})
	if err != nil {
		return 0, s.fail(ctx, err, "append events", "")
	}
	return n, nil
}

// ListExpiring reads live keys expiring in (f.From, f.To] through the
// keys_expiring_idx index.
func (s *Store) ListExpiring(ctx context.Context, f keyward.ExpiringFilter) ([]*keyward.Key, error) {
	var afterAt *time.Time
	afterID := ""
	if c := f.After; c != nil {
		t := ts(c.ExpiresAt)
		afterAt, afterID = &t, c.ID
	}
	limit := any(nil)
	if f.Limit > 0 {
		limit = f.Limit
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+keySelect+` FROM keys
	WHERE revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at > $1 AND expires_at <= $2
	AND ($3::timestamptz IS NULL OR (expires_at, id) > ($3, $4::text COLLATE "C"))
	ORDER BY expires_at, id LIMIT $5`, ts(f.From), ts(f.To), afterAt, afterID, limit)
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*keyward.Key, error) { return scanKey(r) })
	if err != nil {
		return nil, s.fail(ctx, err, "list expiring keys", "")
	}
	return keys, nil
}

// EventsAfter reads the outbox by its primary key.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]keyward.Event, error) {
	rows, _ := s.pool.Query(ctx, `SELECT seq, id, type, at, data, webhook FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyward.Event, error) {
		var e keyward.Event
		var data []byte
		err := r.Scan(&e.Seq, &e.ID, &e.Type, &e.At, &data, &e.Webhook)
		e.At, e.Data = e.At.UTC(), data
		return e, err
	})
	if err != nil {
		return nil, s.fail(ctx, err, "read events", "")
	}
	return events, nil
}

// LastEventSeq reads the highest sequence number of the outbox.
func (s *Store) LastEventSeq(ctx context.Context) (int64, error) {
	var n *int64
	if err := s.pool.QueryRow(ctx, `SELECT max(seq) FROM events`).Scan(&n); err != nil {
		return 0, s.fail(ctx, err, "read events", "")
	}
	if n == nil {
		return 0, nil
	}
	return *n, nil
}

// FanOut turns the oldest events not fanned out into deliveries.
func (s *Store) FanOut(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, fanOut, ts(now), limit).Scan(&n); err != nil {
		return 0, s.fail(ctx, err, "fan out events", "")
	}
	return n, nil
}

// ClaimDeliveries leases due deliveries with FOR UPDATE SKIP LOCKED, so that
// concurrent claimers never hold the same one.
func (s *Store) ClaimDeliveries(ctx context.Context, c keyward.DeliveryClaim) ([]keyward.Delivery, error) {
	skip := c.Skip
	if skip == nil {
		skip = []string{}
	}
	rows, _ := s.pool.Query(ctx, claimDeliveries, ts(c.Now), ts(c.Until), c.Token, c.PerWebhook, skip, c.Limit)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyward.Delivery, error) {
		var (
			d     keyward.Delivery
			first *time.Time
			data  []byte
		)
		err := r.Scan(&d.ID, &d.WebhookID, &d.URL, &d.Secret, &d.Attempts, &first, &d.CreatedAt,
			&d.Event.ID, &d.Event.Type, &d.Event.At, &data, &d.Event.Webhook)
		if first != nil {
			d.FirstAttemptAt = *first
		}
		d.Event.Data = jsonValue(data)
		return d, err
	})
	if err != nil {
		return nil, s.fail(ctx, err, "claim deliveries", "")
	}
	return out, nil
}

// RecordAttempts stores the outcomes whose claims still hold, in one
// statement.
func (s *Store) RecordAttempts(ctx context.Context, records []keyward.AttemptRecord) error {
	if len(records) == 0 {
		return nil
	}
	var (
		ids               = make([]int64, len(records))
		tokens, evs, typs = make([]string, len(records)), make([]string, len(records)), make([]string, len(records))
		ats               = make([]time.Time, len(records))
		statuses          = make([]int32, len(records))
		errs              = make([]string, len(records))
		nexts             = make([]*time.Time, len(records))
	)
	for i, r := range records {
		ids[i], tokens[i], evs[i], typs[i] = r.DeliveryID, r.Token, r.EventID, r.EventType
		ats[i], statuses[i], errs[i], nexts[i] = ts(r.At), int32(r.Status), r.Error, tsPtr(r.Next)
	}
	if _, err := s.pool.Exec(ctx, recordAttempts, ids, tokens, evs, typs, ats, statuses, errs, nexts); err != nil {
		return s.fail(ctx, err, "record delivery attempts", "")
	}
	return nil
}

// PruneEvents deletes what is finished and older than the cutoffs, one
// statement at a time.
func (s *Store) PruneEvents(ctx context.Context, p keyward.PruneParams) (keyward.PruneResult, error) {
	var res keyward.PruneResult
	before, dedupe := ts(p.Before), ts(p.DedupeBefore)
	for _, st := range []struct {
		count *int64
		sql   string
		arg   time.Time
	}{
		{&res.Attempts, `DELETE FROM attempts WHERE at < $1`, before},
		{&res.Deliveries, `DELETE FROM deliveries WHERE done AND last_at < $1`, before},
		{&res.Deliveries, `DELETE FROM deliveries d USING webhooks w
			WHERE w.id = d.webhook_id AND NOT w.enabled AND NOT d.done AND d.created_at < $1`, before},
		{&res.Events, `DELETE FROM events e WHERE fanned AND at < $1
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq)`, before},
		{&res.Dedupe, `DELETE FROM event_dedupe WHERE at < $1`, dedupe},
	} {
		tag, err := s.pool.Exec(ctx, st.sql, st.arg)
		if err != nil {
			return res, s.fail(ctx, err, "prune events", "")
		}
		*st.count += tag.RowsAffected()
	}
	return res, nil
}
