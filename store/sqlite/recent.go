package sqlite

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

var _ keyward.RecentKeys = (*Store)(nil)

// RecentKeys calls fn with the keys that have usage counts in the minute of
// since or later (see keyward.RecentKeys): the ids from usage through its
// minute index and from the small usage_recent, the keys used last kept when
// there are more than limit, then their rows, in one query on a reader.
func (s *Store) RecentKeys(ctx context.Context, since time.Time, limit int, fn func(*keyward.Key) error) error {
	if limit <= 0 {
		limit = -1 // SQLite's "no limit"
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+keySelect+`, keys.last_used_at FROM keys JOIN (
		SELECT key_id, max(minute) AS used FROM (
			SELECT key_id, minute FROM usage WHERE minute >= ?1
			UNION ALL SELECT key_id, minute FROM usage_recent WHERE minute >= ?1)
		GROUP BY key_id) u ON u.key_id = keys.id ORDER BY u.used DESC LIMIT ?2`, minuteOf(since), limit)
	if err != nil {
		return s.wrap(ctx, "reading the keys in use", err)
	}
	defer rows.Close()
	for rows.Next() {
		k, err := s.scanKeyNoting(rows)
		if err != nil {
			return s.wrap(ctx, "reading the keys in use", err)
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return s.wrap(ctx, "reading the keys in use", rows.Err())
}
