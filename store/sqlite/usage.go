package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/useddays"
)

// RecordUsage upserts the counts and moves last uses forward, all in one
// transaction, in key order: a flush of thousands of distinct keys then
// walks each B-tree once from left to right instead of jumping around it.
// The counts go into usage_recent, which holds about the current minute, and
// the first flushes of each new minute move the minutes before it into usage
// (rollUpUsage): a flush writes a few hundred pages of the small table, not
// a page of the history per key (docs/benchmarks.md, "The current minute's
// counts apart").
//
// A key's last use goes into the last_at of its count rows of the minute
// the use falls in (lastUsedExpr reads it back). The key's row in keys, a
// random page of the largest table, is written only when no count row
// carries the use or when the Store has not yet written that key's row for
// the use's day (usedDays): at most once a day per key, which keeps used_day
// exact. At 1,000,000 keys this took the key table out of nearly every
// flush (docs/benchmarks.md, "Last uses in the usage rows").
func (s *Store) RecordUsage(ctx context.Context, b keyward.UsageBatch) error {
	if len(b.Counts) == 0 && len(b.LastUsed) == 0 {
		return nil
	}
	counts := slices.SortedFunc(slices.Values(b.Counts), compareCounts)
	carried := make(map[string]bool, len(b.LastUsed))
	lastAt := make([]any, len(counts)) // nil or Unix ms, per count
	for i, c := range counts {
		if t, ok := b.LastUsed[c.KeyID]; ok && minuteOf(t) == c.Start.Unix() {
			lastAt[i], carried[c.KeyID] = ms(t), true
		}
	}
	var rows []string // the keys whose row is written
	for _, id := range slices.Sorted(maps.Keys(b.LastUsed)) {
		if !carried[id] || !s.usedDays.Has(id, useddays.Of(b.LastUsed[id])) {
			rows = append(rows, id)
		}
	}
	newest := int64(math.MinInt64) // the newest minute of the counts
	for _, c := range counts {
		newest = max(newest, c.Start.Unix())
	}
	rollUp, rolled := newest > s.rolledUp.Load(), false
	err := s.inTx(ctx, "recording usage", func(tx *sql.Tx) error {
		if len(counts) > 0 {
			if err := recordCounts(ctx, tx, counts, lastAt); err != nil {
				return err
			}
		}
		if rollUp {
			var err error
			if rolled, err = rollUpUsage(ctx, tx, newest, moveChunk); err != nil {
				return err
			}
		}
		if len(rows) > 0 {
			st, err := tx.PrepareContext(ctx, `UPDATE keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)`)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, id := range rows {
				if _, err := st.ExecContext(ctx, id, ms(b.LastUsed[id])); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		for _, id := range rows {
			s.usedDays.Set(id, useddays.Of(b.LastUsed[id]))
		}
		if rolled {
			s.rolledUp.Store(newest)
		}
	}
	return err
}

// rollUpUsage moves the counts of minutes before before from usage_recent
// into usage, in key order, in the flush's transaction: a reader sees each
// count in exactly one of the two tables. It moves the rows of the first
// keys only, about chunk rows, and reports whether it moved the last of
// them. RecordUsage calls it while a flush brings a minute newer than the
// last one everything was moved up to, so usage_recent holds about a minute
// of rows and the flushes in between write only its few hundred pages
// (migration 0008); the chunks spread a minute's move over several flushes
// instead of holding the writer for all of it at once (at 1,000,000 keys,
// about 40,000 rows a minute took 1.8 s in one piece). Rows of older minutes
// that a flush writes later (a retried batch, another process's clock) stay
// in usage_recent until the next minute's move; every read adds both tables.
func rollUpUsage(ctx context.Context, tx *sql.Tx, before int64, chunk int) (done bool, err error) {
	var last sql.NullString // the key of the chunk-th row to move, in key order
	err = tx.QueryRowContext(ctx, `SELECT key_id FROM usage_recent WHERE minute < ?1 ORDER BY key_id LIMIT 1 OFFSET ?2`,
		before, chunk-1).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		done = true // fewer rows than a chunk: all of them (last is NULL)
	case err != nil:
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage (key_id, minute, outcome, count, last_at)
		SELECT key_id, minute, outcome, count, last_at FROM usage_recent WHERE minute < ?1 AND (?2 IS NULL OR key_id <= ?2) ORDER BY key_id, minute, outcome
		ON CONFLICT (key_id, minute, outcome) DO UPDATE SET count = count + excluded.count,
			last_at = coalesce(max(last_at, excluded.last_at), last_at, excluded.last_at)`, before, last); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM usage_recent WHERE minute < ?1 AND (?2 IS NULL OR key_id <= ?2)`, before, last); err != nil {
		return false, err
	}
	return done, nil
}

// moveChunk is about the number of rows one flush moves from usage_recent
// into usage (rollUpUsage).
var moveChunk = 5000

// minuteOf returns the Unix seconds of the start of t's minute.
func minuteOf(t time.Time) int64 {
	u := t.Unix()
	return u - ((u%60)+60)%60
}

// compareCounts orders counts as the usage table's primary key does.
func compareCounts(x, y keyward.UsageCount) int {
	return cmp.Or(strings.Compare(x.KeyID, y.KeyID), x.Start.Compare(y.Start), strings.Compare(x.Outcome.String(), y.Outcome.String()))
}

// recordCounts adds the counts per key (to usage_recent), with lastAt[i] as the last use of
// counts[i]'s row when it is not nil, and, summed per owner, minute and
// outcome, per owner.
func recordCounts(ctx context.Context, tx *sql.Tx, counts []keyward.UsageCount, lastAt []any) error {
	rows := make([]any, 0, 5*len(counts))
	for i, c := range counts {
		rows = append(rows, c.KeyID, c.Start.Unix(), c.Outcome.String(), c.Count, lastAt[i])
	}
	if err := upsertRows(ctx, tx, `INSERT INTO usage_recent (key_id, minute, outcome, count, last_at) VALUES `,
		`ON CONFLICT (key_id, minute, outcome) DO UPDATE SET count = count + excluded.count,
			last_at = coalesce(max(last_at, excluded.last_at), last_at, excluded.last_at)`, 5, rows); err != nil {
		return err
	}
	return upsertRows(ctx, tx, `INSERT INTO owner_usage (owner, minute, outcome, count) VALUES `,
		`ON CONFLICT (owner, minute, outcome) DO UPDATE SET count = count + excluded.count`, 4, ownerRows(counts))
}

// ownerRows sums the counts of keys with an owner per owner, minute and
// outcome, in owner_usage's primary-key order, as rows of 4 values.
func ownerRows(counts []keyward.UsageCount) []any {
	type cell struct {
		owner   string
		minute  int64
		outcome string
	}
	sums := make(map[cell]int64)
	for _, c := range counts {
		if c.Owner != "" {
			sums[cell{c.Owner, c.Start.Unix(), c.Outcome.String()}] += c.Count
		}
	}
	cells := slices.SortedFunc(maps.Keys(sums), func(x, y cell) int {
		return cmp.Or(strings.Compare(x.owner, y.owner), cmp.Compare(x.minute, y.minute), strings.Compare(x.outcome, y.outcome))
	})
	rows := make([]any, 0, 4*len(cells))
	for _, c := range cells {
		rows = append(rows, c.owner, c.minute, c.outcome, sums[c])
	}
	return rows
}

// upsertChunk is the number of rows one upsert statement writes: a
// statement per row spent more in database/sql and in SQLite's statement
// setup than in the B-tree (docs/benchmarks.md, "Multi-row count upserts").
// 200 rows of 5 values stay far below SQLite's limit of 32,766 parameters.
const upsertChunk = 200

// upsertRows runs insert, a VALUES list of rows of width values, and
// conflict over rows, at most upsertChunk rows a statement. A row that
// conflicts with one before it in the same statement updates it, as SQLite
// applies the rows of a VALUES list one by one.
func upsertRows(ctx context.Context, tx *sql.Tx, insert, conflict string, width int, rows []any) error {
	var full *sql.Stmt // the statement of upsertChunk rows, kept for the next chunk
	for len(rows) > 0 {
		n := min(len(rows)/width, upsertChunk)
		st := full
		if st == nil || n < upsertChunk {
			tuple := "(?" + strings.Repeat(", ?", width-1) + ")"
			var err error
			st, err = tx.PrepareContext(ctx, insert+tuple+strings.Repeat(", "+tuple, n-1)+" "+conflict)
			if err != nil {
				return err
			}
			defer st.Close()
			if n == upsertChunk {
				full = st
			}
		}
		if _, err := st.ExecContext(ctx, rows[:n*width]...); err != nil {
			return err
		}
		rows = rows[n*width:]
	}
	return nil
}

// Usage sums minute counts into buckets in SQL: of a key, of an owner (from
// owner_usage) or of all keys.
func (s *Store) Usage(ctx context.Context, q keyward.UsageQuery) ([]keyward.UsageCount, error) {
	size := int64(q.Bucket / time.Second)
	from, id := "", q.KeyID
	switch {
	case q.Owner != "":
		from, id = `SELECT minute, outcome, count FROM owner_usage WHERE owner = ?2 AND minute >= ?3 AND minute < ?4`, q.Owner
	case q.KeyID != "":
		from = `SELECT minute, outcome, count FROM usage WHERE key_id = ?2 AND minute >= ?3 AND minute < ?4
			UNION ALL SELECT minute, outcome, count FROM usage_recent WHERE key_id = ?2 AND minute >= ?3 AND minute < ?4`
	default: // all keys: usage through its minute index, and the whole of the small usage_recent
		from = `SELECT minute, outcome, count FROM usage WHERE ?2 = '' AND minute >= ?3 AND minute < ?4
			UNION ALL SELECT minute, outcome, count FROM usage_recent WHERE ?2 = '' AND minute >= ?3 AND minute < ?4`
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT (minute / ?1) * ?1 AS start, outcome, sum(count)
		FROM (`+from+`) GROUP BY start, outcome ORDER BY start, outcome`, size, id, q.From.Unix(), q.To.Unix())
	if err != nil {
		return nil, s.wrap(ctx, "reading usage", err)
	}
	defer rows.Close()
	var out []keyward.UsageCount
	for rows.Next() {
		var start, n int64
		var code string
		if err := rows.Scan(&start, &code, &n); err != nil {
			return nil, s.wrap(ctx, "reading usage", err)
		}
		o, ok := keyward.ParseOutcome(code)
		if !ok {
			continue // written by a newer keyward
		}
		out = append(out, keyward.UsageCount{KeyID: q.KeyID, Start: time.Unix(start, 0).UTC(), Outcome: o, Count: n})
	}
	return out, s.wrap(ctx, "reading usage", rows.Err())
}

// ListAudit returns audit entries newest first.
func (s *Store) ListAudit(ctx context.Context, f keyward.AuditFilter) ([]keyward.AuditEntry, error) {
	query := `SELECT id, at, actor, action, key_id, client_ip, details FROM audit WHERE 1 = 1`
	var args []any
	if f.KeyID != "" {
		query += " AND key_id = ?"
		args = append(args, f.KeyID)
	}
	if f.Before != 0 {
		query += " AND id < ?"
		args = append(args, f.Before)
	}
	query += " ORDER BY id DESC"
	if f.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(ctx, "listing audit entries", err)
	}
	defer rows.Close()
	var out []keyward.AuditEntry
	for rows.Next() {
		var e keyward.AuditEntry
		var at int64
		var details string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.KeyID, &e.ClientIP, &details); err != nil {
			return nil, s.wrap(ctx, "listing audit entries", err)
		}
		e.At, e.Details = fromMs(at), json.RawMessage(details)
		out = append(out, e)
	}
	return out, s.wrap(ctx, "listing audit entries", rows.Err())
}

// Counts counts keys per status in one query.
func (s *Store) Counts(ctx context.Context, now time.Time) (map[keyward.Status]int64, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT CASE
			WHEN revoked_at IS NOT NULL THEN 'revoked'
			WHEN expires_at IS NOT NULL AND expires_at <= ?1 THEN 'expired'
			WHEN enabled = 0 THEN 'disabled'
			ELSE 'active' END AS status, count(*)
		FROM keys GROUP BY status`, ms(now))
	if err != nil {
		return nil, s.wrap(ctx, "counting keys", err)
	}
	defer rows.Close()
	m := map[keyward.Status]int64{keyward.StatusActive: 0, keyward.StatusDisabled: 0, keyward.StatusRevoked: 0, keyward.StatusExpired: 0}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, s.wrap(ctx, "counting keys", err)
		}
		m[keyward.Status(st)] = n
	}
	return m, s.wrap(ctx, "counting keys", rows.Err())
}
