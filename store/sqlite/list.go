package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/useddays"
)

// List pages through keys newest first, with the filters in SQL.
func (s *Store) List(ctx context.Context, f keyward.ListFilter) ([]*keyward.Key, error) {
	where, args := listWhere(f)
	const order = " ORDER BY created_at DESC, id DESC"
	query := `SELECT ` + keySelect + ` FROM keys` + where + order
	if f.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, f.Limit)
		if !f.ExpiresBy.IsZero() {
			// The keys of a window of expiries are a range of keys_expires
			// to sort: pick the page from the index, then read its rows
			// (rather than reading the row of every key in the window).
			// Left alone, SQLite may walk keys_created instead, hoping to
			// meet them early; but keys that expire soon are rarely the
			// newest (they were created a lifetime ago).
			query = `SELECT ` + keySelect + ` FROM keys WHERE rid IN (SELECT rid FROM keys INDEXED BY keys_expires` +
				where + order + ` LIMIT ?)` + order
		}
	}
	return queryRows(ctx, s, "listing keys", nil, scanKey, query, args...)
}

// CountKeys counts the keys List returns for f without After and Limit.
func (s *Store) CountKeys(ctx context.Context, f keyward.ListFilter) (int64, error) {
	f.After = nil
	where, args := listWhere(f)
	var n int64
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM keys`+where, args...).Scan(&n); err != nil {
		return 0, s.wrap(ctx, "counting keys", err)
	}
	return n, nil
}

// listWhere returns the WHERE clause of f (with a leading space, or "") and
// its arguments.
func listWhere(f keyward.ListFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.Owner != "" {
		add("owner = ?", f.Owner)
	}
	if f.Status != "" {
		cond, cargs := statusCondition(f.Status, f.Now)
		add(cond, cargs...)
	}
	if q := f.NameContains; q != "" {
		if len([]rune(q)) >= 3 {
			// The trigram index finds candidates; a phrase of trigrams is a substring.
			add("rid IN (SELECT rowid FROM keys_fts WHERE keys_fts MATCH ?)", `name : "`+strings.ReplaceAll(q, `"`, `""`)+`"`)
		} else {
			add(containsFolded("name", q))
		}
	}
	if f.NeverUsed {
		add("used_day IS NULL") // kept with last_used_at (migration 0006)
	}
	if f.NoExpiry {
		add("expires_at IS NULL")
	}
	if t := f.ExpiresBy; !t.IsZero() {
		add("expires_at > ? AND expires_at <= ?", ms(f.Now), ms(t))
	}
	if t := f.UnusedSince; !t.IsZero() {
		// Last used before t: on an earlier day, or earlier on its day.
		// keys_created holds used_day: only the keys last used on the day
		// of t need their row read here.
		cut := ms(t)
		day := useddays.Of(t)
		add("(used_day IS NULL OR used_day < ? OR (used_day = ? AND "+lastUsedExpr+" < ?))", day, day, cut)
	}
	if c := before(f); c != nil {
		// One row value, so that SQLite seeks the (created_at, id) index to
		// the tighter of the cursor and the creation bound of UnusedSince.
		add("(created_at, id) < (?, ?)", ms(c.CreatedAt), c.ID)
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// before returns the position in list order that the keys f keeps come
// after: the cursor, or the creation time of UnusedSince (keys created
// before it: the position (UnusedSince, "")), whichever is earlier; nil for
// none.
func before(f keyward.ListFilter) *keyward.ListCursor {
	c := f.After
	if t := f.UnusedSince; !t.IsZero() {
		if c == nil || !t.After(c.CreatedAt) {
			c = &keyward.ListCursor{CreatedAt: t}
		}
	}
	return c
}

// statusCondition is the SQL for "the key is in status st at now". The
// unary plus keeps SQLite from reading a status as a range of keys_expires
// to sort (expired keys are many): lists by status read keys_created in
// order.
func statusCondition(st keyward.Status, now time.Time) (string, []any) {
	n := ms(now)
	switch st {
	case keyward.StatusRevoked:
		return "revoked_at IS NOT NULL", nil
	case keyward.StatusExpired:
		return "revoked_at IS NULL AND +expires_at IS NOT NULL AND +expires_at <= ?", []any{n}
	case keyward.StatusDisabled:
		return "revoked_at IS NULL AND (+expires_at IS NULL OR +expires_at > ?) AND enabled = 0", []any{n}
	default:
		return "revoked_at IS NULL AND (+expires_at IS NULL OR +expires_at > ?) AND enabled = 1", []any{n}
	}
}
