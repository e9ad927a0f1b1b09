package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// pruneBatch is the most rows one transaction of PruneEvents deletes, so
// that pruning never holds the writer (which credit spends need) for long.
const pruneBatch = 2000

// eventStmts are the statements of the outbox and the dispatcher, prepared
// once the schema has them (a failure is retried on the next call).
type eventStmts struct {
	insertEvent, insertDedupe, hooks, due, lease, record, attempt *sql.Stmt // writer
	anyPending, anyDue                                            *sql.Stmt // reader
}

func (e *eventStmts) all() []*sql.Stmt {
	return []*sql.Stmt{e.insertEvent, e.insertDedupe, e.hooks, e.due, e.lease, e.record, e.attempt, e.anyPending, e.anyDue}
}

// events returns the prepared event statements.
func (s *Store) events(ctx context.Context) (*eventStmts, error) {
	if e := s.evStmts.Load(); e != nil {
		return e, nil
	}
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if e := s.evStmts.Load(); e != nil {
		return e, nil
	}
	var e eventStmts
	for _, q := range []struct {
		db   *sql.DB
		dst  **sql.Stmt
		text string
	}{
		{s.writer, &e.insertEvent, `INSERT INTO events (id, type, at, data, webhook) VALUES (?, ?, ?, ?, ?)`},
		{s.writer, &e.insertDedupe, `INSERT OR IGNORE INTO event_dedupe (dedupe, at) VALUES (?, ?)`},
		{s.writer, &e.hooks, `SELECT ` + webhookColumns + `, secret FROM webhooks ORDER BY id`},
		{s.writer, &e.due, `SELECT d.id, d.attempts, d.first_at, d.created_at, e.id, e.type, e.at, e.data, e.webhook
			FROM deliveries d JOIN events e ON e.seq = d.event_seq
			WHERE d.webhook_id = ? AND d.done = 0 AND d.next_at <= ?
			ORDER BY d.next_at, d.id LIMIT ?`},
		{s.writer, &e.lease, `UPDATE deliveries SET next_at = ?, claim = ? WHERE id = ?`},
		{s.writer, &e.record, `UPDATE deliveries SET attempts = attempts + 1, first_at = coalesce(first_at, ?),
			last_at = ?, next_at = coalesce(?, next_at), done = ?, claim = NULL
			WHERE id = ? AND claim = ? AND done = 0
			RETURNING webhook_id, attempts`},
		{s.writer, &e.attempt, `INSERT INTO attempts (webhook_id, event_id, type, attempt, at, status, error, next_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{s.reader, &e.anyPending, `SELECT EXISTS (SELECT 1 FROM events WHERE fanned = 0)`},
		{s.reader, &e.anyDue, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE done = 0 AND next_at <= ?)`},
	} {
		st, err := q.db.PrepareContext(ctx, q.text)
		if err != nil {
			for _, p := range e.all() {
				if p != nil {
					p.Close()
				}
			}
			return nil, s.wrap(ctx, "preparing", err)
		}
		*q.dst = st
	}
	s.evStmts.Store(&e)
	return &e, nil
}

// insertEvents writes events to the outbox in tx, skipping those whose
// dedupe key is stored, and returns how many it wrote.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, events []keyward.Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	st := s.evStmts.Load() // prepared by inTx, before the transaction
	if st == nil {
		return 0, passthrough{fmt.Errorf("sqlite: writing events: %s has no events table (run keyward migrate)", s.path)}
	}
	n := 0
	for _, e := range events {
		if e.Dedupe != "" {
			res, err := tx.StmtContext(ctx, st.insertDedupe).ExecContext(ctx, e.Dedupe, ms(e.At))
			if err != nil {
				return n, err
			}
			if added, _ := res.RowsAffected(); added == 0 {
				continue
			}
		}
		if _, err := tx.StmtContext(ctx, st.insertEvent).ExecContext(ctx, e.ID, e.Type, ms(e.At), jsonObject(e.Data), e.Webhook); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// AppendEvents writes the events whose dedupe keys are new.
func (s *Store) AppendEvents(ctx context.Context, events []keyward.Event) (int, error) {
	var n int
	err := s.inTx(ctx, "appending events", func(tx *sql.Tx) error {
		var err error
		n, err = s.insertEvents(ctx, tx, events)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// EventsAfter reads the outbox by its primary key. SQLite has one writer
// at a time, so sequence numbers become visible in order.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]keyward.Event, error) {
	return queryRows(ctx, s, "reading events", nil, func(sc scanner) (keyward.Event, error) {
		var e keyward.Event
		var at int64
		var data string
		err := sc.Scan(&e.Seq, &e.ID, &e.Type, &at, &data, &e.Webhook)
		e.At, e.Data = fromMs(at), json.RawMessage(data)
		return e, err
	}, `SELECT seq, id, type, at, data, webhook FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

// LastEventSeq reads the highest sequence number of the outbox.
func (s *Store) LastEventSeq(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	if err := s.reader.QueryRowContext(ctx, `SELECT max(seq) FROM events`).Scan(&n); err != nil {
		return 0, s.wrap(ctx, "reading events", err)
	}
	return n.Int64, nil
}

// ListExpiring reads live keys expiring in (f.From, f.To] through the
// keys_expiring index.
func (s *Store) ListExpiring(ctx context.Context, f keyward.ExpiringFilter) ([]*keyward.Key, error) {
	query := `SELECT ` + keySelect + ` FROM keys
	WHERE revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at > ? AND expires_at <= ?`
	args := []any{ms(f.From), ms(f.To)}
	if c := f.After; c != nil {
		query += ` AND (expires_at, id) > (?, ?)`
		args = append(args, ms(c.ExpiresAt), c.ID)
	}
	query += ` ORDER BY expires_at, id`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return queryRows(ctx, s, "listing expiring keys", nil, scanKey, query, args...)
}

// hook is what fan-out and claims need of an endpoint.
type hook struct {
	w      keyward.Webhook
	secret string
}

// hooks reads every endpoint with its secret in tx.
func hooks(ctx context.Context, tx *sql.Tx, st *eventStmts) ([]hook, error) {
	rows, err := tx.StmtContext(ctx, st.hooks).QueryContext(ctx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hook
	for rows.Next() {
		var h hook
		w, err := scanWebhook(scanFunc(func(dest ...any) error { return rows.Scan(append(dest, &h.secret)...) }))
		if err != nil {
			return nil, err
		}
		h.w = *w
		out = append(out, h)
	}
	return out, rows.Err()
}

// scanFunc adapts a function to scanner.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// FanOut turns the oldest events not fanned out into deliveries. The write
// transaction is IMMEDIATE, so fan-outs of several processes take turns and
// never see the same event unfanned.
func (s *Store) FanOut(ctx context.Context, now time.Time, limit int) (int, error) {
	st, err := s.events(ctx)
	if err != nil {
		return 0, err
	}
	// A read first: polls that find nothing take no write lock.
	var pending bool
	if err := st.anyPending.QueryRowContext(ctx).Scan(&pending); err != nil {
		return 0, s.wrap(ctx, "fanning out events", err)
	}
	if !pending {
		return 0, nil
	}
	n := 0
	err = s.inTx(ctx, "fanning out events", func(tx *sql.Tx) error {
		hs, err := hooks(ctx, tx, st)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT seq, type, webhook FROM events WHERE fanned = 0 ORDER BY seq LIMIT ?`, limit)
		if err != nil {
			return err
		}
		type pending struct {
			seq         int64
			typ, target string
		}
		var evs []pending
		for rows.Next() {
			var p pending
			if err := rows.Scan(&p.seq, &p.typ, &p.target); err != nil {
				rows.Close()
				return err
			}
			evs = append(evs, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(evs) == 0 {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO deliveries (event_seq, webhook_id, created_at, next_at) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, e := range evs {
			for _, h := range hs {
				if e.target == h.w.ID || e.target == "" && h.w.Enabled && h.w.Wants(e.typ) {
					if _, err := ins.ExecContext(ctx, e.seq, h.w.ID, ms(now), ms(now)); err != nil {
						return err
					}
				}
			}
		}
		// One writer at a time: the unfanned events up to the last one read
		// are exactly those read.
		_, err = tx.ExecContext(ctx, `UPDATE events SET fanned = 1 WHERE fanned = 0 AND seq <= ?`, evs[len(evs)-1].seq)
		n = len(evs)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ClaimDeliveries leases due deliveries in one IMMEDIATE transaction, so
// claimers in several processes take turns and never share a delivery.
func (s *Store) ClaimDeliveries(ctx context.Context, c keyward.DeliveryClaim) ([]keyward.Delivery, error) {
	st, err := s.events(ctx)
	if err != nil {
		return nil, err
	}
	// A read first: polls that find nothing due take no write lock.
	var due bool
	if err := st.anyDue.QueryRowContext(ctx, ms(c.Now)).Scan(&due); err != nil {
		return nil, s.wrap(ctx, "claiming deliveries", err)
	}
	if !due {
		return nil, nil
	}
	var out []keyward.Delivery
	err = s.inTx(ctx, "claiming deliveries", func(tx *sql.Tx) error {
		hs, err := hooks(ctx, tx, st)
		if err != nil {
			return err
		}
		for _, h := range hs {
			if !h.w.Enabled || slices.Contains(c.Skip, h.w.ID) {
				continue
			}
			ds, err := dueFor(ctx, tx, st, h, c)
			if err != nil {
				return err
			}
			out = append(out, ds...)
		}
		slices.SortFunc(out, func(a, b keyward.Delivery) int { return cmp.Compare(a.ID, b.ID) })
		if len(out) > c.Limit {
			out = out[:c.Limit]
		}
		lease := tx.StmtContext(ctx, st.lease)
		for _, d := range out {
			if _, err := lease.ExecContext(ctx, ms(c.Until), c.Token, d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// dueFor reads at most c.PerWebhook deliveries to h that are due at c.Now,
// earliest due first.
func dueFor(ctx context.Context, tx *sql.Tx, st *eventStmts, h hook, c keyward.DeliveryClaim) ([]keyward.Delivery, error) {
	rows, err := tx.StmtContext(ctx, st.due).QueryContext(ctx, h.w.ID, ms(c.Now), c.PerWebhook)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []keyward.Delivery
	for rows.Next() {
		var (
			d           = keyward.Delivery{WebhookID: h.w.ID, URL: h.w.URL, Secret: h.secret}
			first       sql.NullInt64
			created, at int64
			data        string
		)
		if err := rows.Scan(&d.ID, &d.Attempts, &first, &created, &d.Event.ID, &d.Event.Type, &at, &data, &d.Event.Webhook); err != nil {
			return nil, err
		}
		if first.Valid {
			d.FirstAttemptAt = fromMs(first.Int64)
		}
		d.CreatedAt, d.Event.At, d.Event.Data = fromMs(created), fromMs(at), []byte(data)
		out = append(out, d)
	}
	return out, rows.Err()
}

// RecordAttempts stores the outcomes whose claims still hold.
func (s *Store) RecordAttempts(ctx context.Context, records []keyward.AttemptRecord) error {
	if len(records) == 0 {
		return nil
	}
	st, err := s.events(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, "recording delivery attempts", func(tx *sql.Tx) error {
		upd, ins := tx.StmtContext(ctx, st.record), tx.StmtContext(ctx, st.attempt)
		for _, r := range records {
			var (
				webhook string
				attempt int
			)
			err := upd.QueryRowContext(ctx, ms(r.At), ms(r.At), msPtr(r.Next), r.Next == nil, r.DeliveryID, r.Token).Scan(&webhook, &attempt)
			if errors.Is(err, sql.ErrNoRows) {
				continue // the claim was lost
			}
			if err != nil {
				return err
			}
			if _, err := ins.ExecContext(ctx, webhook, r.EventID, r.EventType, attempt, ms(r.At), r.Status, r.Error, msPtr(r.Next)); err != nil {
				return err
			}
		}
		return nil
	})
}

// PruneEvents deletes, in batches of its own transactions, what is finished
// and older than the cutoffs.
func (s *Store) PruneEvents(ctx context.Context, p keyward.PruneParams) (keyward.PruneResult, error) {
	var res keyward.PruneResult
	before, dedupe := ms(p.Before), ms(p.DedupeBefore)
	steps := []struct {
		count *int64
		sql   string
		arg   int64
	}{
		{&res.Attempts, `DELETE FROM attempts WHERE id IN (SELECT id FROM attempts WHERE at < ? LIMIT ?)`, before},
		{&res.Deliveries, `DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE done = 1 AND last_at < ? LIMIT ?)`, before},
		{&res.Deliveries, `DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
			WHERE w.enabled = 0 AND d.done = 0 AND d.created_at < ? LIMIT ?)`, before},
		{&res.Events, `DELETE FROM events WHERE seq IN (SELECT seq FROM events e WHERE fanned = 1 AND at < ?
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq) LIMIT ?)`, before},
		{&res.Dedupe, `DELETE FROM event_dedupe WHERE dedupe IN (SELECT dedupe FROM event_dedupe WHERE at < ? LIMIT ?)`, dedupe},
	}
	for _, st := range steps {
		for {
			var n int64
			err := s.inTx(ctx, "pruning events", func(tx *sql.Tx) error {
				r, err := tx.ExecContext(ctx, st.sql, st.arg, pruneBatch)
				if err == nil {
					n, err = r.RowsAffected()
				}
				return err
			})
			if err != nil {
				return res, err
			}
			*st.count += n
			if n < pruneBatch {
				break
			}
		}
	}
	return res, nil
}
