package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/useddays"
)

// List returns the keys matching f, newest first.
func (s *Store) List(ctx context.Context, f keyward.ListFilter) ([]*keyward.Key, error) {
	w := listWhere(f, unusedBoth)
	const order = ` ORDER BY created_at DESC, id DESC`
	q := `SELECT ` + keySelect + ` FROM keys` + w.sql() + order
	if f.Limit > 0 {
		limit := w.arg(f.Limit)
		q += ` LIMIT ` + limit
		if !f.ExpiresBy.IsZero() {
			// The keys of a window of expiries are a range of
			// keys_expires_idx to sort: pick the page from the index, then
			// read its rows. The planner, left alone, walks keys_created_idx
			// hoping to meet them early, but keys that expire soon are
			// rarely the newest (they were created a lifetime ago); the
			// expression in ORDER BY keeps it from walking that index.
			q = `SELECT ` + keySelect + ` FROM keys WHERE id IN (SELECT id FROM keys` + w.sql() +
				` ORDER BY created_at + interval '0' DESC, id DESC LIMIT ` + limit + `)` + order
		}
	}
	rows, _ := s.pool.Query(ctx, q, w.args...)
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*keyward.Key, error) { return scanKey(r) })
	if err != nil {
		return nil, s.fail(ctx, err, "list keys", "")
	}
	return keys, nil
}

// CountKeys counts the keys List returns for f without After and Limit.
func (s *Store) CountKeys(ctx context.Context, f keyward.ListFilter) (int64, error) {
	f.After = nil
	parts := []unusedPart{unusedBoth}
	if !f.UnusedSince.IsZero() && !f.NeverUsed {
		// Unused keys are the never used ones, those whose row holds a use
		// before the day of UnusedSince, and those whose row falls on that
		// day before it and whose count rows hold no later use: three
		// ranges of keys_used_idx, counted apart (an OR of them reads rows,
		// and the look at the count rows, costed as if every key needed it,
		// turns the planner away from the index-only scan of the others).
		parts = []unusedPart{unusedNever, unusedBeforeDay, unusedOnDay}
	}
	var total int64
	for _, p := range parts {
		w := listWhere(f, p)
		var n int64
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM keys`+w.sql(), w.args...).Scan(&n); err != nil {
			return 0, s.fail(ctx, err, "count keys", "")
		}
		total += n
	}
	return total, nil
}

// unusedPart selects which keys of an UnusedSince filter a query keeps.
type unusedPart int

const (
	unusedBoth      unusedPart = iota // never used or used before
	unusedNever                       // never used
	unusedBeforeDay                   // the row holds a use before the day of UnusedSince
	unusedOnDay                       // the row holds a use on that day, before UnusedSince, and no later one is counted
)

// where is a WHERE clause being built: conditions joined by AND, with their
// numbered arguments.
type where struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

// sql returns the clause with a leading space, or "" without conditions.
func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// listWhere returns the conditions of f (of the part of an UnusedSince
// filter).
func listWhere(f keyward.ListFilter, part unusedPart) *where {
	w := &where{}
	add := func(c string) { w.conds = append(w.conds, c) }
	if f.Owner != "" {
		add("owner = " + w.arg(f.Owner))
	}
	if f.Status != "" {
		switch f.Status {
		case keyward.StatusRevoked:
			add("revoked_at IS NOT NULL")
		case keyward.StatusExpired:
			add("revoked_at IS NULL AND expires_at <= " + w.arg(f.Now))
		case keyward.StatusDisabled:
			add("revoked_at IS NULL AND (expires_at IS NULL OR expires_at > " + w.arg(f.Now) + ") AND NOT enabled")
		case keyward.StatusActive:
			add("revoked_at IS NULL AND (expires_at IS NULL OR expires_at > " + w.arg(f.Now) + ") AND enabled")
		default:
			add("false") // no key is in an unknown status
		}
	}
	if f.NameContains != "" {
		add(`lower(name) LIKE '%' || lower(` + w.arg(escapeLike(f.NameContains)) + `) || '%' ESCAPE '\'`)
	}
	if f.NeverUsed {
		add("last_used_at IS NULL")
	}
	if f.NoExpiry {
		add("expires_at IS NULL")
	}
	if t := f.ExpiresBy; !t.IsZero() {
		add("expires_at > " + w.arg(f.Now) + " AND expires_at <= " + w.arg(t))
	}
	if t := f.UnusedSince; !t.IsZero() {
		// Last used before t: the key row's last_used_at is before t (a
		// range of keys_used_idx) and, when it falls on t's day, so is the
		// newest use the key's count rows hold. A row holds the first use
		// of each day the key was used on (RecordUsage), so a row before
		// the start of t's day means no use since.
		day := useddays.Start(useddays.Of(t))
		onDay := func() string {
			return "last_used_at >= " + w.arg(day) + " AND last_used_at < " + w.arg(t) + " AND " + lastUsedExpr + " < " + w.arg(t)
		}
		switch part {
		case unusedNever:
			add("last_used_at IS NULL")
		case unusedBeforeDay:
			add("last_used_at < " + w.arg(day))
		case unusedOnDay:
			add(onDay())
		default:
			add("(last_used_at IS NULL OR last_used_at < " + w.arg(day) + " OR (" + onDay() + "))")
		}
	}
	if c := before(f); c != nil {
		// One row comparison, the tighter of the cursor and the creation
		// bound of UnusedSince, where the index scan starts.
		add("(created_at, id) < (" + w.arg(c.CreatedAt) + ", " + w.arg(c.ID) + ")")
	}
	return w
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

// escapeLike escapes the wildcards of a LIKE pattern (with ESCAPE '\'), so
// that every character of s matches itself.
func escapeLike(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '%' || c == '_' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
