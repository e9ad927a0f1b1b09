package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for keyshield on PostgreSQL
)

// legacySource is the database of another system keys are imported from,
// read through database/sql: SQLite with the driver keyward's store uses,
// PostgreSQL with pgx. Nothing is ever written to it.
type legacySource struct {
	db   *sql.DB
	kind string // "sqlite" or "postgres"
	name string // for messages: the path, or the URL without its password
}

// parseSourceURL reads --from-keyshield and --from-simple-security: a file
// path, sqlite:<path>, or a PostgreSQL URL; SQLAlchemy's URL forms are
// accepted too, as a FastAPI app configures them (sqlite+aiosqlite:///rel.db
// is rel.db and sqlite:////abs.db is /abs.db; postgresql+asyncpg://...).
func parseSourceURL(flag, raw string) (kind, target string, err error) {
	scheme, rest, hasScheme := strings.Cut(raw, ":")
	base, _, _ := strings.Cut(scheme, "+")
	switch {
	case raw == "":
		return "", "", usagef("%s: give a database: a SQLite file or a PostgreSQL URL", flag)
	case hasScheme && (base == "postgres" || base == "postgresql"):
		return "postgres", "postgres:" + rest, nil
	case hasScheme && base == "sqlite":
		if after, ok := strings.CutPrefix(rest, "///"); ok {
			rest = after // SQLAlchemy: sqlite:///<path>
		} else {
			rest = strings.TrimPrefix(rest, "//")
		}
		if rest == "" || rest == ":memory:" {
			return "", "", usagef("%s %s: needs a file path", flag, raw)
		}
		return "sqlite", rest, nil
	case strings.Contains(raw, "://"):
		return "", "", usagef("%s: unsupported scheme %q: give a SQLite file or a postgres:// URL", flag, scheme)
	}
	return "sqlite", raw, nil
}

// openLegacySource opens what parseSourceURL named and checks that it can be
// read.
func openLegacySource(ctx context.Context, flag, raw string) (*legacySource, error) {
	kind, target, err := parseSourceURL(flag, raw)
	if err != nil {
		return nil, err
	}
	src := &legacySource{kind: kind, name: target}
	var dsn string
	if kind == "sqlite" {
		if strings.ContainsAny(target, "?#") {
			return nil, fmt.Errorf("%s %s: the path may not contain '?' or '#'", flag, target)
		}
		st, err := os.Stat(target)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("cannot open %s: no such file", target)
		case err != nil:
			return nil, fmt.Errorf("cannot open %s: %v", target, err)
		case !st.Mode().IsRegular():
			return nil, fmt.Errorf("cannot open %s: not a file", target)
		}
		dsn = "file:" + target + "?_pragma=query_only(1)&_pragma=busy_timeout(5000)"
	} else {
		dsn = target
		src.name = redactURL(target)
	}
	driver := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[kind]
	if src.db, err = sql.Open(driver, dsn); err != nil {
		return nil, fmt.Errorf("cannot open %s: %v", src.name, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var one int
	if err := src.db.QueryRowContext(pctx, "SELECT 1").Scan(&one); err != nil {
		src.db.Close()
		return nil, fmt.Errorf("cannot open %s: %v", src.name, err)
	}
	return src, nil
}

func (s *legacySource) Close() { s.db.Close() }

// redactURL hides the password of a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the PostgreSQL database"
	}
	return u.Redacted()
}

// columns returns the column names of table, or an error naming the tables
// the database has when there is no such table.
func (s *legacySource) columns(ctx context.Context, table string) (map[string]bool, error) {
	var q string
	if s.kind == "sqlite" {
		q = `SELECT name FROM pragma_table_info(?)`
	} else {
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`
	}
	names, err := s.strings(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %s in %s: %v", table, s.name, err)
	}
	if len(names) == 0 {
		return nil, s.noTable(ctx, table)
	}
	cols := map[string]bool{}
	for _, n := range names {
		cols[strings.ToLower(n)] = true
	}
	return cols, nil
}

func (s *legacySource) noTable(ctx context.Context, table string) error {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if s.kind == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`
	}
	tables, err := s.strings(ctx, q)
	if err != nil || len(tables) == 0 {
		return fmt.Errorf("%s has no table %s (it has no tables at all: is it the right database?)", s.name, table)
	}
	return fmt.Errorf("%s has no table %s (it has: %s)", s.name, table, strings.Join(tables, ", "))
}

func (s *legacySource) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// checkColumns returns an error naming the columns of need that table lacks.
func checkColumns(src *legacySource, table, what string, have map[string]bool, need ...string) error {
	var missing []string
	for _, c := range need {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("table %s in %s is not %s: it has no column %s", table, src.name, what, strings.Join(missing, ", "))
}

// selectEach reads the columns sel (names, or NULL for one the table lacks)
// of every row of table, ordered by order, and calls each with the values
// of each row as the driver gives them.
func (src *legacySource) selectEach(ctx context.Context, table string, sel []string, order string, each func(v []any)) error {
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(table) + " ORDER BY " + order
	rows, err := src.db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("reading %s in %s: %v", table, src.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		v := make([]any, len(sel))
		ptrs := make([]any, len(v))
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("reading %s in %s: %v", table, src.name, err)
		}
		each(v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading %s in %s: %v", table, src.name, err)
	}
	return nil
}

// rowValues reads the values of one row with the value functions below,
// noting each column it cannot read; err says which, in the order read.
type rowValues struct {
	v    []any
	errs []string
}

func (r *rowValues) note(col string, err error) {
	if err != nil {
		r.errs = append(r.errs, col+": "+err.Error())
	}
}

// err returns why the row could not be read, or nil.
func (r *rowValues) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(r.errs, "; "))
}

func (r *rowValues) string(i int) string { return valueString(r.v[i]) }

func (r *rowValues) bool(col string, i int) bool {
	b, err := valueBool(r.v[i])
	r.note(col, err)
	return b
}

func (r *rowValues) int(col string, i int) int64 {
	n, err := valueInt(r.v[i])
	r.note(col, err)
	return n
}

func (r *rowValues) time(col string, i int) *time.Time {
	t, err := valueTime(r.v[i])
	r.note(col, err)
	return t
}

func (r *rowValues) strings(col string, i int) []string {
	l, err := valueStrings(r.v[i])
	r.note(col, err)
	return l
}

// quoteIdent quotes a table name for SQL.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// The drivers give a column's value as they stored it: these read it the
// way the other system meant it.

// valueString reads text; NULL is "".
func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// valueBool reads a boolean column (SQLite keeps 0 and 1); NULL is false.
func valueBool(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case int64:
		return x != 0, nil
	case float64:
		return x != 0, nil
	}
	s := strings.ToLower(strings.TrimSpace(valueString(v)))
	switch s {
	case "1", "true", "t":
		return true, nil
	case "0", "false", "f", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

// valueInt reads an integer column; NULL is 0.
func valueInt(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int64:
		return x, nil
	case float64:
		return int64(x), nil
	}
	return strconv.ParseInt(strings.TrimSpace(valueString(v)), 10, 64)
}

// timeLayouts are the ways Python code writes times to SQLite: SQLAlchemy
// ("2026-11-30 10:53:57.112567", naive UTC) and isoformat()
// ("2026-12-15T10:00:00", naive UTC), with or without an offset.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02",
}

// valueTime reads a time column; NULL (or empty text) is nil. A time
// without an offset is UTC, as both libraries write them.
func valueTime(v any) (*time.Time, error) {
	if t, ok := v.(time.Time); ok {
		u := t.UTC()
		return &u, nil
	}
	s := strings.TrimSpace(valueString(v))
	if s == "" {
		return nil, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			u := t.UTC()
			return &u, nil
		}
	}
	return nil, fmt.Errorf("%q is not a date and time", s)
}

// valueStrings reads a JSON list of strings; NULL is an empty list.
func valueStrings(v any) ([]string, error) {
	s := strings.TrimSpace(valueString(v))
	if s == "" || s == "null" {
		return []string{}, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, errors.New("not a JSON list of strings")
	}
	return out, nil
}
