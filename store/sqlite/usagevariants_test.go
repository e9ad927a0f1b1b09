package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

// UsageVariants are the ways of writing a flush that BenchmarkUsageWrites
// compares: the store's RecordUsage, and alternatives measured before it
// was chosen.
var UsageVariants = map[string]func(*Store, context.Context, keyward.UsageBatch) error{
	"store":         (*Store).RecordUsage,
	"rows":          (*Store).usageRows,
	"rows-sorted":   (*Store).usageRowsSorted,
	"sorted-cache":  (*Store).usageSortedCache,
	"json":          (*Store).usageJSON,
	"json-narrow":   (*Store).usageJSONNarrow,
	"counts-only":   (*Store).usageCountsOnly,
	"lastused-only": (*Store).usageLastUsedOnly,
}

// usageRows is RecordUsage as it was before the writes in key order: one
// statement per row.
func (s *Store) usageRows(ctx context.Context, b keyward.UsageBatch) error {
	return s.inTx(ctx, "recording usage", func(tx *sql.Tx) error {
		if err := rowCounts(ctx, tx, b.Counts); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, `UPDATE keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for id, t := range b.LastUsed {
			if _, err := st.ExecContext(ctx, id, ms(t)); err != nil {
				return err
			}
		}
		return nil
	})
}

// usageRowsSorted is usageRows in key order (the B-trees' order).
func (s *Store) usageRowsSorted(ctx context.Context, b keyward.UsageBatch) error {
	slices.SortFunc(b.Counts, func(x, y keyward.UsageCount) int { return strings.Compare(x.KeyID, y.KeyID) })
	return s.inTx(ctx, "recording usage", func(tx *sql.Tx) error {
		if err := rowCounts(ctx, tx, b.Counts); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, `UPDATE keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range slices.Sorted(maps.Keys(b.LastUsed)) {
			if _, err := st.ExecContext(ctx, id, ms(b.LastUsed[id])); err != nil {
				return err
			}
		}
		return nil
	})
}

// usageSortedCache is usageRowsSorted with a 64 MiB page cache on the
// writer's connection (SQLite's default is 2 MiB).
func (s *Store) usageSortedCache(ctx context.Context, b keyward.UsageBatch) error {
	if _, err := s.writer.ExecContext(ctx, `PRAGMA cache_size = -65536`); err != nil {
		return err
	}
	return s.usageRowsSorted(ctx, b)
}

func rowCounts(ctx context.Context, tx *sql.Tx, counts []keyward.UsageCount) error {
	keyStmt, err := tx.PrepareContext(ctx, `INSERT INTO usage (key_id, minute, outcome, count) VALUES (?, ?, ?, ?)
		ON CONFLICT (key_id, minute, outcome) DO UPDATE SET count = count + excluded.count`)
	if err != nil {
		return err
	}
	defer keyStmt.Close()
	ownerStmt, err := tx.PrepareContext(ctx, `INSERT INTO owner_usage (owner, minute, outcome, count) VALUES (?, ?, ?, ?)
		ON CONFLICT (owner, minute, outcome) DO UPDATE SET count = count + excluded.count`)
	if err != nil {
		return err
	}
	defer ownerStmt.Close()
	for _, c := range counts {
		if _, err := keyStmt.ExecContext(ctx, c.KeyID, c.Start.Unix(), c.Outcome.String(), c.Count); err != nil {
			return err
		}
		if c.Owner == "" {
			continue
		}
		if _, err := ownerStmt.ExecContext(ctx, c.Owner, c.Start.Unix(), c.Outcome.String(), c.Count); err != nil {
			return err
		}
	}
	return nil
}

// jsonRows encodes rows as one JSON array of arrays.
func jsonRows(n int, row func(i int, b []byte) []byte) string {
	b := make([]byte, 0, 64*n)
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = row(i, append(b, '['))
		b = append(b, ']')
	}
	return string(append(b, ']'))
}

func jsonCounts(ctx context.Context, tx *sql.Tx, counts []keyward.UsageCount) error {
	slices.SortFunc(counts, func(x, y keyward.UsageCount) int { return strings.Compare(x.KeyID, y.KeyID) })
	arg := jsonRows(len(counts), func(i int, b []byte) []byte {
		c := counts[i]
		b, _ = appendJSON(b, c.KeyID, c.Owner, c.Outcome.String())
		b = append(b, ',')
		b = strconv.AppendInt(b, c.Start.Unix(), 10)
		b = append(b, ',')
		return strconv.AppendInt(b, c.Count, 10)
	})
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage (key_id, minute, outcome, count)
		SELECT value->>0, value->>3, value->>2, value->>4 FROM json_each(?1) WHERE true
		ON CONFLICT (key_id, minute, outcome) DO UPDATE SET count = count + excluded.count`, arg); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO owner_usage (owner, minute, outcome, count)
		SELECT value->>1, value->>3, value->>2, sum(value->>4) FROM json_each(?1) WHERE value->>1 <> '' GROUP BY 1, 2, 3
		ON CONFLICT (owner, minute, outcome) DO UPDATE SET count = count + excluded.count`, arg)
	return err
}

func appendJSON(b []byte, ss ...string) ([]byte, error) {
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		q, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		b = append(b, q...)
	}
	return b, nil
}

func jsonLastUsed(b keyward.UsageBatch) string {
	ids := slices.Sorted(maps.Keys(b.LastUsed))
	return jsonRows(len(ids), func(i int, out []byte) []byte {
		out, _ = appendJSON(out, ids[i])
		out = append(out, ',')
		return strconv.AppendInt(out, ms(b.LastUsed[ids[i]]), 10)
	})
}

// usageJSON writes each table with one statement over a JSON array.
func (s *Store) usageJSON(ctx context.Context, b keyward.UsageBatch) error {
	return s.inTx(ctx, "recording usage", func(tx *sql.Tx) error {
		if err := jsonCounts(ctx, tx, b.Counts); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE keys SET last_used_at = u.at
			FROM (SELECT value->>0 AS id, value->>1 AS at FROM json_each(?1)) AS u
			WHERE keys.id = u.id AND (keys.last_used_at IS NULL OR keys.last_used_at < u.at)`, jsonLastUsed(b))
		return err
	})
}

// usageJSONNarrow is usageJSON with last_used_at in a narrow table of its
// own (made on first use).
func (s *Store) usageJSONNarrow(ctx context.Context, b keyward.UsageBatch) error {
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS key_used (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID`); err != nil {
		return err
	}
	return s.inTx(ctx, "recording usage", func(tx *sql.Tx) error {
		if err := jsonCounts(ctx, tx, b.Counts); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO key_used (id, at) SELECT value->>0, value->>1 FROM json_each(?1) WHERE true
			ON CONFLICT (id) DO UPDATE SET at = max(at, excluded.at)`, jsonLastUsed(b))
		return err
	})
}

// usageCountsOnly writes the counts as usageJSON does, and no last use.
func (s *Store) usageCountsOnly(ctx context.Context, b keyward.UsageBatch) error {
	return s.inTx(ctx, "recording usage", func(tx *sql.Tx) error { return jsonCounts(ctx, tx, b.Counts) })
}

// usageLastUsedOnly writes the last uses as usageJSON does, and no count.
func (s *Store) usageLastUsedOnly(ctx context.Context, b keyward.UsageBatch) error {
	return s.usageJSON(ctx, keyward.UsageBatch{LastUsed: b.LastUsed})
}
