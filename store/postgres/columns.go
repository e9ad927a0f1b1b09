package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// ts returns t as stored: UTC, millisecond precision.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// tsPtr is ts for optional times.
func tsPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// list returns l, or an empty list for nil (the columns are NOT NULL).
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// jsonArg returns raw JSON for a jsonb parameter; nil is stored as null.
func jsonArg(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("null")
	}
	return raw
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

// encodeLimits returns the rate_limits jsonb of l.
func encodeLimits(l []keyward.NamedRateLimit) []byte {
	out := make([]storedLimit, len(l))
	for i, x := range l {
		out[i] = storedLimit{Name: x.Name, Limit: x.Limit, PeriodMs: time.Duration(x.Period).Milliseconds()}
	}
	b, _ := json.Marshal(out)
	return b
}

// decodeLimits reads a rate_limits column; the result is never nil.
func decodeLimits(b []byte) ([]keyward.NamedRateLimit, error) {
	var in []storedLimit
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("rate_limits: %w", err)
	}
	out := make([]keyward.NamedRateLimit, len(in))
	for i, x := range in {
		out[i] = keyward.NamedRateLimit{Name: x.Name, Limit: x.Limit, Period: keyward.Duration(time.Duration(x.PeriodMs) * time.Millisecond)}
	}
	return out, nil
}

// jsonValue returns stored jsonb as compact JSON, nil for null.
func jsonValue(b []byte) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(len(b))
	if err := json.Compact(&buf, b); err != nil {
		return bytes.Clone(b)
	}
	return buf.Bytes()
}
