package postgres

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/useddays"
)

const (
	// upsertUsage adds the counts of five parallel arrays (key id, minute,
	// outcome code, count, and the last use within the minute or NULL),
	// summing duplicates first; last_at only moves forward. Rows are written
	// in key order so that concurrent flushes lock them in the same order.
	upsertUsage = `INSERT INTO usage (key_id, minute, outcome, count, last_at)
	SELECT key_id, minute, outcome, sum(count)::bigint, max(last_at)
	FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::timestamptz[]) AS u(key_id, minute, outcome, count, last_at)
	GROUP BY 1, 2, 3
	ORDER BY 1, 2, 3
	ON CONFLICT (key_id, minute, outcome) DO UPDATE SET count = usage.count + excluded.count,
		last_at = greatest(usage.last_at, excluded.last_at)`

	// upsertOwnerUsage is upsertUsage for owner_usage, by owner.
	upsertOwnerUsage = `INSERT INTO owner_usage (owner, minute, outcome, count)
	SELECT owner, minute, outcome, sum(count)::bigint
	FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) AS u(owner, minute, outcome, count)
	GROUP BY 1, 2, 3
	ORDER BY 1, 2, 3
	ON CONFLICT (owner, minute, outcome) DO UPDATE SET count = owner_usage.count + excluded.count`

	// touchKeys moves last_used_at forward, never back, for two parallel
	// arrays (key id, time). It locks the rows in key order first (the
	// locking happens above the sort), so that concurrent flushes of
	// several instances never deadlock, whatever join the planner picks
	// for the update.
	touchKeys = `WITH u AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)),
	l AS (SELECT keys.id, u.at FROM keys JOIN u ON keys.id = u.id
		WHERE keys.last_used_at IS NULL OR keys.last_used_at < u.at
		ORDER BY keys.id FOR UPDATE OF keys)
	UPDATE keys SET last_used_at = l.at FROM l
	WHERE keys.id = l.id AND (keys.last_used_at IS NULL OR keys.last_used_at < l.at)`

	selectUsage = `SELECT (minute / $2) * $2, outcome, sum(count)::bigint FROM usage
	WHERE key_id = $1 AND minute >= $3 AND minute < $4
	GROUP BY 1, 2
	ORDER BY 1`
	// selectOwnerUsage is selectUsage of an owner's counts.
	selectOwnerUsage = `SELECT (minute / $2) * $2, outcome, sum(count)::bigint FROM owner_usage
	WHERE owner = $1 AND minute >= $3 AND minute < $4
	GROUP BY 1, 2
	ORDER BY 1`
	// selectAllUsage is selectUsage over every key ($1 is ignored).
	selectAllUsage = `SELECT (minute / $2) * $2, outcome, sum(count)::bigint FROM usage
	WHERE $1::text = '' AND minute >= $3 AND minute < $4
	GROUP BY 1, 2
	ORDER BY 1`
)

// RecordUsage adds the batch's counts (per key, and per owner for those with
// one) and moves last uses forward in one transaction and one round trip:
// one statement per table over arrays, whatever the number of keys (a
// statement per key's last use took about 1.5x as long per flush of 8,500
// keys; docs/benchmarks.md).
//
// A key's last use goes into the last_at of its count rows of the minute
// the use falls in (lastUsedExpr reads it back). The key's row in keys, wide
// and under seven indexes, is written only when no count row carries the use
// or when the Store has not yet seen that key's row hold the use's day
// (usedDays): at most once a day per key and process, which keeps the
// filters on last_used_at exact (listWhere).
func (s *Store) RecordUsage(ctx context.Context, b keyward.UsageBatch) error {
	if len(b.Counts) == 0 && len(b.LastUsed) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	carried := make(map[string]bool, len(b.LastUsed))
	if n := len(b.Counts); n > 0 {
		ids, minutes, outcomes, counts := make([]string, n), make([]int64, n), make([]string, n), make([]int64, n)
		lastAt := make([]*time.Time, n)
		for i, c := range b.Counts {
			ids[i], minutes[i], outcomes[i], counts[i] = c.KeyID, c.Start.Unix(), c.Outcome.String(), c.Count
			if t, ok := b.LastUsed[c.KeyID]; ok && t.Truncate(time.Minute).Equal(c.Start) {
				at := ts(t)
				lastAt[i], carried[c.KeyID] = &at, true
			}
		}
		batch.Queue(upsertUsage, ids, minutes, outcomes, counts, lastAt)
		if owners, minutes, outcomes, counts := ownerCounts(b.Counts); len(owners) > 0 {
			batch.Queue(upsertOwnerUsage, owners, minutes, outcomes, counts)
		}
	}
	var rows []string // the keys whose row is written
	for _, id := range slices.Sorted(maps.Keys(b.LastUsed)) {
		if !carried[id] || !s.usedDays.Has(id, useddays.Of(b.LastUsed[id])) {
			rows = append(rows, id)
		}
	}
	if len(rows) > 0 {
		at := make([]time.Time, len(rows))
		for i, id := range rows {
			at[i] = ts(b.LastUsed[id])
		}
		batch.Queue(touchKeys, rows, at)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return s.fail(ctx, err, "record usage", "")
	}
	for _, id := range rows {
		s.usedDays.Set(id, useddays.Of(b.LastUsed[id]))
	}
	return nil
}

// ownerCounts returns the parallel arrays of upsertOwnerUsage: the counts
// that carry an owner.
func ownerCounts(cs []keyward.UsageCount) (owners []string, minutes []int64, outcomes []string, counts []int64) {
	for _, c := range cs {
		if c.Owner != "" {
			owners, minutes = append(owners, c.Owner), append(minutes, c.Start.Unix())
			outcomes, counts = append(outcomes, c.Outcome.String()), append(counts, c.Count)
		}
	}
	return owners, minutes, outcomes, counts
}

// Usage sums the minute counts of the key (or of the owner, or of all keys)
// into buckets of q.Bucket.
func (s *Store) Usage(ctx context.Context, q keyward.UsageQuery) ([]keyward.UsageCount, error) {
	size := int64(q.Bucket / time.Second)
	if size <= 0 {
		return nil, fmt.Errorf("postgres: usage of key %q: bucket %v is not a positive number of seconds", q.KeyID, q.Bucket)
	}
	query, id := selectUsage, q.KeyID
	switch {
	case q.Owner != "":
		query, id = selectOwnerUsage, q.Owner
	case q.KeyID == "":
		query = selectAllUsage
	}
	rows, _ := s.pool.Query(ctx, query, id, size, q.From.Unix(), q.To.Unix())
	var (
		out   []keyward.UsageCount
		start int64
		code  string
		n     int64
	)
	_, err := pgx.ForEachRow(rows, []any{&start, &code, &n}, func() error {
		o, ok := keyward.ParseOutcome(code)
		if !ok {
			return fmt.Errorf("unknown outcome %q in the usage table", code)
		}
		out = append(out, keyward.UsageCount{KeyID: q.KeyID, Start: time.Unix(start, 0).UTC(), Outcome: o, Count: n})
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, err, "usage of key", q.KeyID)
	}
	// Within a bucket, in outcome order (as the codes' text order is not).
	slices.SortStableFunc(out, func(a, b keyward.UsageCount) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.Outcome, b.Outcome)
	})
	return out, nil
}

// ListAudit returns audit entries newest first.
func (s *Store) ListAudit(ctx context.Context, f keyward.AuditFilter) ([]keyward.AuditEntry, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.KeyID != "" {
		where = append(where, "key_id = "+arg(f.KeyID))
	}
	if f.Before != 0 {
		where = append(where, "id < "+arg(f.Before))
	}
	q := `SELECT id, at, actor, action, key_id, client_ip, details FROM audit`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ` + arg(f.Limit)
	}
	rows, _ := s.pool.Query(ctx, q, args...)
	var (
		out     []keyward.AuditEntry
		e       keyward.AuditEntry
		details []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&e.ID, &e.At, &e.Actor, &e.Action, &e.KeyID, &e.ClientIP, &details}, func() error {
		e.Details = jsonValue(details)
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, err, "list audit entries", "")
	}
	return out, nil
}
