package postgres

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

var _ keyward.RecentKeys = (*Store)(nil)

// selectRecentKeys reads the keys with usage counts in minute $1 or later,
// the $2 used last (all for NULL), through usage's minute index.
const selectRecentKeys = `SELECT ` + keySelect + `, keys.last_used_at FROM keys JOIN (
	SELECT key_id, max(minute) AS used FROM usage WHERE minute >= $1 GROUP BY key_id) u
	ON u.key_id = keys.id ORDER BY u.used DESC LIMIT $2`

// RecentKeys calls fn with the keys that have usage counts in the minute of
// since or later (see keyward.RecentKeys), in one query.
func (s *Store) RecentKeys(ctx context.Context, since time.Time, limit int, fn func(*keyward.Key) error) error {
	var lim *int64
	if limit > 0 {
		n := int64(limit)
		lim = &n
	}
	rows, err := s.pool.Query(ctx, selectRecentKeys, since.Truncate(time.Minute).Unix(), lim)
	if err != nil {
		return s.fail(ctx, err, "read the keys in use", "")
	}
	defer rows.Close()
	for rows.Next() {
		k, err := s.scanKeyNoting(rows)
		if err != nil {
			return s.fail(ctx, err, "read the keys in use", "")
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.fail(ctx, err, "read the keys in use", "")
	}
	return nil
}
