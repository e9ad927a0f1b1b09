package postgres

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// UsageVariants are the ways of writing a flush that BenchmarkUsageWrites
// compares: the store's RecordUsage, and alternatives measured before it
// was chosen.
var UsageVariants = map[string]func(*Store, context.Context, keyward.UsageBatch) error{
	"store":         (*Store).RecordUsage,
	"batch":         (*Store).usageBatch,
	"unnest":        (*Store).usageUnnest,
	"unnest-noidx":  (*Store).usageUnnestNoIndex,
	"narrow":        (*Store).usageNarrow,
	"counts-only":   (*Store).usageCountsOnly,
	"lastused-only": (*Store).usageLastUsedOnly,
}

// queueCounts queues the count upserts of the batch.
func queueCounts(batch *pgx.Batch, b keyward.UsageBatch) {
	if n := len(b.Counts); n > 0 {
		ids, minutes, outcomes, counts := make([]string, n), make([]int64, n), make([]string, n), make([]int64, n)
		for i, c := range b.Counts {
			ids[i], minutes[i], outcomes[i], counts[i] = c.KeyID, c.Start.Unix(), c.Outcome.String(), c.Count
		}
		batch.Queue(upsertUsage, ids, minutes, outcomes, counts, make([]*time.Time, n)) // no last uses in the count rows
		if owners, minutes, outcomes, counts := ownerCounts(b.Counts); len(owners) > 0 {
			batch.Queue(upsertOwnerUsage, owners, minutes, outcomes, counts)
		}
	}
}

func (s *Store) sendBatch(ctx context.Context, batch *pgx.Batch) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, batch).Close()
	})
}

// usageBatch is RecordUsage as it was before one statement for all last
// uses (docs/benchmarks.md, "Usage flushes at scale"): the counts by
// arrays, one UPDATE per last use, all in one pipelined batch.
func (s *Store) usageBatch(ctx context.Context, b keyward.UsageBatch) error {
	batch := &pgx.Batch{}
	queueCounts(batch, b)
	for _, id := range slices.Sorted(maps.Keys(b.LastUsed)) {
		batch.Queue(`UPDATE keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, ts(b.LastUsed[id]))
	}
	return s.sendBatch(ctx, batch)
}

func lastUsedArrays(b keyward.UsageBatch) ([]string, []time.Time) {
	ids := slices.Sorted(maps.Keys(b.LastUsed))
	at := make([]time.Time, len(ids))
	for i, id := range ids {
		at[i] = ts(b.LastUsed[id])
	}
	return ids, at
}

const variantTouch = `UPDATE keys SET last_used_at = u.at
	FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
	WHERE keys.id = u.id AND (keys.last_used_at IS NULL OR keys.last_used_at < u.at)`

// usageUnnest moves last_used_at with one statement over arrays.
func (s *Store) usageUnnest(ctx context.Context, b keyward.UsageBatch) error {
	batch := &pgx.Batch{}
	queueCounts(batch, b)
	ids, at := lastUsedArrays(b)
	batch.Queue(variantTouch, ids, at)
	return s.sendBatch(ctx, batch)
}

// usageUnnestNoIndex is usageUnnest without the index on last_used_at: it
// drops the index in its transaction and rolls it all back.
func (s *Store) usageUnnestNoIndex(ctx context.Context, b keyward.UsageBatch) error {
	batch := &pgx.Batch{}
	batch.Queue(`DROP INDEX keys_used_idx`)
	queueCounts(batch, b)
	ids, at := lastUsedArrays(b)
	batch.Queue(variantTouch, ids, at)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	return tx.SendBatch(ctx, batch).Close()
}

// usageNarrow keeps last_used_at in a narrow table of its own, indexed by
// last use (made on first use).
func (s *Store) usageNarrow(ctx context.Context, b keyward.UsageBatch) error {
	if _, err := s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS key_used (id text PRIMARY KEY, at timestamptz NOT NULL);
		CREATE INDEX IF NOT EXISTS key_used_at_idx ON key_used (at)`); err != nil {
		return err
	}
	batch := &pgx.Batch{}
	queueCounts(batch, b)
	ids, at := lastUsedArrays(b)
	batch.Queue(`INSERT INTO key_used (id, at) SELECT * FROM unnest($1::text[], $2::timestamptz[])
		ON CONFLICT (id) DO UPDATE SET at = greatest(key_used.at, excluded.at)`, ids, at)
	return s.sendBatch(ctx, batch)
}

// usageCountsOnly writes the counts and no last use.
func (s *Store) usageCountsOnly(ctx context.Context, b keyward.UsageBatch) error {
	batch := &pgx.Batch{}
	queueCounts(batch, b)
	return s.sendBatch(ctx, batch)
}

// usageLastUsedOnly writes the last uses as usageUnnest does, and no count.
func (s *Store) usageLastUsedOnly(ctx context.Context, b keyward.UsageBatch) error {
	return s.usageUnnest(ctx, keyward.UsageBatch{LastUsed: b.LastUsed})
}
