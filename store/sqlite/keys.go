package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

const keyColumns = `id, prefix, name, description, owner, scopes, metadata, enabled,
	created_at, updated_at, expires_at, last_used_at, revoked_at, refilled_at,
	rate_limit_limit, rate_limit_period_ms, remaining, refill_interval, refill_amount,
	allowed_cidrs, replaced_by, replaces, hash, rate_limits, roles`

const insertKeySQL = `INSERT INTO keys (` + keyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const updateKeySQL = `UPDATE keys SET prefix = ?, name = ?, description = ?, owner = ?, scopes = ?,
	metadata = ?, enabled = ?, created_at = ?, updated_at = ?, expires_at = ?, last_used_at = ?,
	revoked_at = ?, refilled_at = ?, rate_limit_limit = ?, rate_limit_period_ms = ?, remaining = ?,
	refill_interval = ?, refill_amount = ?, allowed_cidrs = ?, replaced_by = ?, replaces = ?, hash = ?,
	rate_limits = ?, roles = ?
	WHERE id = ?`

func ms(t time.Time) int64 { return t.UnixMilli() }

func msPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func fromMs(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMs(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMs(v.Int64)
	return &t
}

func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// readList decodes a JSON list column; the result is never nil.
func readList(col, s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("%s: %w", col, err)
	}
	if l == nil {
		l = []string{}
	}
	return l, nil
}

// storedLimit is the encoding of a named rate limit in the rate_limits
// columns: the store's own, with the period in milliseconds (as
// rate_limit_period_ms), not the API's duration string. Migration 0003
// writes the same shape.
type storedLimit struct {
	Name     string `json:"name"`
	Limit    int64  `json:"limit"`
	PeriodMs int64  `json:"period_ms"`
}

// encodeLimits returns the rate_limits column value of l.
func encodeLimits(l []keyward.NamedRateLimit) string {
	if len(l) == 0 {
		return "[]"
	}
	out := make([]storedLimit, len(l))
	for i, x := range l {
		out[i] = storedLimit{Name: x.Name, Limit: x.Limit, PeriodMs: time.Duration(x.Period).Milliseconds()}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// decodeLimits reads a rate_limits column; the result is never nil.
func decodeLimits(s string) ([]keyward.NamedRateLimit, error) {
	var in []storedLimit
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("rate_limits: %w", err)
	}
	out := make([]keyward.NamedRateLimit, len(in))
	for i, x := range in {
		out[i] = keyward.NamedRateLimit{Name: x.Name, Limit: x.Limit, Period: keyward.Duration(time.Duration(x.PeriodMs) * time.Millisecond)}
	}
	return out, nil
}

// jsonObject returns raw JSON for a NOT NULL object column: {} for none.
func jsonObject(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	return string(raw)
}

// keyArgs returns the column values of k in keyColumns order, without id.
func keyArgs(k *keyward.Key) []any {
	var limit, period, remaining, refillAmount any
	var refillInterval any
	if k.RateLimit != nil {
		limit, period = k.RateLimit.Limit, time.Duration(k.RateLimit.Period).Milliseconds()
	}
	if k.Remaining != nil {
		remaining = *k.Remaining
	}
	if k.Refill != nil {
		refillInterval, refillAmount = k.Refill.Interval, k.Refill.Amount
	}
	return []any{
		k.Prefix, k.Name, k.Description, k.Owner, jsonList(k.Scopes), jsonObject(k.Metadata), k.Enabled,
		ms(k.CreatedAt), ms(k.UpdatedAt), msPtr(k.ExpiresAt), msPtr(k.LastUsedAt), msPtr(k.RevokedAt), msPtr(k.RefilledAt),
		limit, period, remaining, refillInterval, refillAmount,
		jsonList(k.AllowedCIDRs), k.ReplacedBy, k.Replaces, k.Hash,
		encodeLimits(k.RateLimits), jsonList(k.Roles),
	}
}

type scanner interface{ Scan(dest ...any) error }

func scanKey(sc scanner) (*keyward.Key, error) {
	var (
		k                                      keyward.Key
		scopes, meta, cidrs, limits, roles     string
		created, updated                       int64
		expires, lastUsed, revoked, refilled   sql.NullInt64
		limit, period, remaining, refillAmount sql.NullInt64
		refillInterval, replacedBy, replaces   sql.NullString
	)
	err := sc.Scan(&k.ID, &k.Prefix, &k.Name, &k.Description, &k.Owner, &scopes, &meta, &k.Enabled,
		&created, &updated, &expires, &lastUsed, &revoked, &refilled,
		&limit, &period, &remaining, &refillInterval, &refillAmount,
		&cidrs, &replacedBy, &replaces, &k.Hash, &limits, &roles)
	if err != nil {
		return nil, err
	}
	var errs [4]error
	k.Scopes, errs[0] = readList("scopes", scopes)
	k.AllowedCIDRs, errs[1] = readList("allowed_cidrs", cidrs)
	k.Roles, errs[2] = readList("roles", roles)
	k.RateLimits, errs[3] = decodeLimits(limits)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("key %s: %w", k.ID, err)
	}
	k.Metadata = json.RawMessage(meta)
	k.CreatedAt, k.UpdatedAt = fromMs(created), fromMs(updated)
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt, k.RefilledAt = fromNullMs(expires), fromNullMs(lastUsed), fromNullMs(revoked), fromNullMs(refilled)
	if limit.Valid {
		k.RateLimit = &keyward.RateLimit{Limit: limit.Int64, Period: keyward.Duration(time.Duration(period.Int64) * time.Millisecond)}
	}
	if remaining.Valid {
		k.Remaining = &remaining.Int64
	}
	if refillInterval.Valid {
		k.Refill = &keyward.Refill{Interval: refillInterval.String, Amount: refillAmount.Int64}
	}
	if replacedBy.Valid {
		k.ReplacedBy = &replacedBy.String
	}
	if replaces.Valid {
		k.Replaces = &replaces.String
	}
	return &k, nil
}

func notFound(id string) error { return fmt.Errorf("sqlite: key %q: %w", id, keyward.ErrNotFound) }

const insertAuditSQL = `INSERT INTO audit (at, actor, action, key_id, client_ip, details) VALUES (?, ?, ?, ?, ?, ?)`

func (s *Store) insertKey(ctx context.Context, tx *sql.Tx, k *keyward.Key) error {
	_, err := tx.StmtContext(ctx, s.insertStmt).ExecContext(ctx, append([]any{k.ID}, keyArgs(k)...)...)
	return err
}

func (s *Store) updateKey(ctx context.Context, tx *sql.Tx, k *keyward.Key) error {
	_, err := tx.StmtContext(ctx, s.updateStmt).ExecContext(ctx, append(keyArgs(k), k.ID)...)
	return err
}

// insertAudit appends a, if not nil, and writes its events to the outbox, in
// tx.
func (s *Store) insertAudit(ctx context.Context, tx *sql.Tx, a *keyward.AuditEntry) error {
	if a == nil {
		return nil
	}
	details := string(a.Details)
	if details == "" {
		details = "{}"
	}
	if _, err := tx.StmtContext(ctx, s.auditStmt).ExecContext(ctx, ms(a.At), a.Actor, a.Action, a.KeyID, a.ClientIP, details); err != nil {
		return err
	}
	_, err := s.insertEvents(ctx, tx, a.Events)
	return err
}

// Create inserts the key and its audit entry in one transaction.
func (s *Store) Create(ctx context.Context, k *keyward.Key, a *keyward.AuditEntry) error {
	return s.inTx(ctx, "creating key", func(tx *sql.Tx) error {
		if err := s.insertKey(ctx, tx, k); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, a)
	})
}

// inTx runs fn in a write transaction and commits it, rolling back on error.
// Driver errors are wrapped with op; errors of fn that are not driver errors
// pass through unchanged.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if err := s.prepare(ctx); err != nil {
		return err
	}
	// The event statements too, before the writer's one connection is taken
	// by the transaction. A schema without the events tables fails later,
	// where events are written.
	_, _ = s.events(ctx)
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		var fnErr passthrough
		if errors.As(err, &fnErr) {
			return fnErr.err
		}
		return s.wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// passthrough marks an error that inTx returns as is (from a callback, or
// already wrapped).
type passthrough struct{ err error }

func (p passthrough) Error() string { return p.err.Error() }

// Get reads one key through the prepared statement on the reader pool.
func (s *Store) Get(ctx context.Context, id string) (*keyward.Key, error) {
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	k, err := scanKey(s.getStmt.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, s.wrap("reading key", err)
	}
	return k, nil
}

// getTx reads a key inside a write transaction.
func getTx(ctx context.Context, tx *sql.Tx, id string) (*keyward.Key, error) {
	k, err := scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, passthrough{notFound(id)}
	}
	return k, err
}

// Update runs fn on the key inside an IMMEDIATE transaction, so no other
// write can happen between its read and its write.
func (s *Store) Update(ctx context.Context, id string, fn func(*keyward.Key) (*keyward.AuditEntry, error)) (*keyward.Key, error) {
	var out *keyward.Key
	err := s.inTx(ctx, "updating key", func(tx *sql.Tx) error {
		k, err := getTx(ctx, tx, id)
		if err != nil {
			return err
		}
		cur := k.Clone()
		a, err := fn(k)
		if errors.Is(err, keyward.ErrNoChange) {
			out = cur
			return nil
		}
		if err != nil {
			return passthrough{err}
		}
		k.ID = id
		if err := s.updateKey(ctx, tx, k); err != nil {
			return err
		}
		out = k
		return s.insertAudit(ctx, tx, a)
	})
	return out, err
}

// Rotate changes the old key and inserts its successor in one transaction.
func (s *Store) Rotate(ctx context.Context, id string, fn func(*keyward.Key) (*keyward.Key, *keyward.AuditEntry, error)) (*keyward.Key, *keyward.Key, error) {
	var old, next *keyward.Key
	err := s.inTx(ctx, "rotating key", func(tx *sql.Tx) error {
		k, err := getTx(ctx, tx, id)
		if err != nil {
			return err
		}
		n, a, err := fn(k)
		if err != nil {
			return passthrough{err}
		}
		k.ID = id
		if err := s.updateKey(ctx, tx, k); err != nil {
			return err
		}
		if err := s.insertKey(ctx, tx, n); err != nil {
			return err
		}
		old, next = k, n
		return s.insertAudit(ctx, tx, a)
	})
	if err != nil {
		return nil, nil, err
	}
	return old, next, nil
}

// Delete removes the key and appends the audit entry in one transaction.
func (s *Store) Delete(ctx context.Context, id string, a *keyward.AuditEntry) error {
	return s.inTx(ctx, "deleting key", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return passthrough{notFound(id)}
		}
		return s.insertAudit(ctx, tx, a)
	})
}

// KeyIDs calls fn with every key id (see keyward.Store).
func (s *Store) KeyIDs(ctx context.Context, fn func(id string) error) error {
	rows, err := s.reader.QueryContext(ctx, `SELECT id FROM keys`)
	if err != nil {
		return s.wrap("listing key ids", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return s.wrap("listing key ids", err)
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	return s.wrap("listing key ids", rows.Err())
}

// CreateBatch inserts the keys whose ids are free, with their audit entries,
// in one transaction (see keyward.Store).
func (s *Store) CreateBatch(ctx context.Context, keys []*keyward.Key, audit []*keyward.AuditEntry) (int, error) {
	n := 0
	err := s.inTx(ctx, "importing keys", func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, strings.Replace(insertKeySQL, "INSERT INTO", "INSERT OR IGNORE INTO", 1))
		if err != nil {
			return err
		}
		defer ins.Close()
		for i, k := range keys {
			res, err := ins.ExecContext(ctx, append([]any{k.ID}, keyArgs(k)...)...)
			if err != nil {
				return err
			}
			if added, _ := res.RowsAffected(); added == 1 {
				n++
				if err := s.insertAudit(ctx, tx, audit[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
