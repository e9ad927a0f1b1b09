package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// ms returns t as stored: milliseconds since the Unix epoch.
func ms(t time.Time) int64 { return t.UnixMilli() }

// msPtr is ms for optional times: NULL for nil.
func msPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// fromMs reads a time column.
func fromMs(v int64) time.Time { return time.UnixMilli(v).UTC() }

// fromNullMs reads an optional time column.
func fromNullMs(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMs(v.Int64)
	return &t
}

// jsonList returns the JSON list column value of l: [] for none.
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

// scanner is a row to scan: *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
