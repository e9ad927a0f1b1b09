package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/keyward/keyward"
)

// simpleRow is one row of fastapi_simple_security's table.
type simpleRow struct {
	n                               int
	key, name                       string
	active, neverExpire             bool
	expiration, creation, lastQuery *time.Time
	queries                         int64
	err                             error
}

// readSimpleSecurity reads every row of fastapi_simple_security's table:
// api_key, is_active, never_expire, latest_query_date, total_queries, and
// expiration_date (1.x) or creation_date (older versions, whose keys expire
// a fixed number of days after creation); name (added later) may be
// missing. It reports whether the table has creation_date instead of
// expiration_date.
func readSimpleSecurity(ctx context.Context, src *legacySource, table string) (rows []simpleRow, byCreation bool, err error) {
	cols, err := src.columns(ctx, table)
	if err != nil {
		return nil, false, err
	}
	what := "fastapi_simple_security's table"
	if err := checkColumns(src, table, what, cols, "api_key", "is_active", "never_expire", "latest_query_date", "total_queries"); err != nil {
		return nil, false, err
	}
	sel := []string{"api_key", "is_active", "never_expire", "latest_query_date", "total_queries", "expiration_date", "NULL"}
	switch {
	case cols["expiration_date"]:
	case cols["creation_date"]:
		sel[5], byCreation = "creation_date", true
	default:
		return nil, false, checkColumns(src, table, what, cols, "expiration_date")
	}
	if cols["name"] {
		sel[6] = "name"
	}
	err = src.selectEach(ctx, table, sel, "api_key", func(v []any) {
		rows = append(rows, simpleRowOf(len(rows)+1, v, byCreation))
	})
	if err != nil {
		return nil, false, err
	}
	return rows, byCreation, nil
}

// simpleRowOf reads the values selected by readSimpleSecurity.
func simpleRowOf(n int, v []any, byCreation bool) simpleRow {
	rv := rowValues{v: v}
	r := simpleRow{n: n, key: rv.string(0), active: rv.bool("is_active", 1), neverExpire: rv.bool("never_expire", 2),
		lastQuery: rv.time("latest_query_date", 3), queries: rv.int("total_queries", 4), name: rv.string(6)}
	if byCreation {
		r.creation = rv.time("creation_date", 5)
	} else {
		r.expiration = rv.time("expiration_date", 5)
	}
	r.err = rv.err()
	return r
}

// simpleKey turns a row into a keyward key whose hash is made now from the
// plaintext key (which is never stored), or says why it cannot be imported.
// A table with creation_date gives keys lifetime after their creation, as
// fastapi_simple_security did (FAST_API_SIMPLE_SECURITY_AUTOMATIC_EXPIRATION).
func simpleKey(r simpleRow, hasher keyward.Hasher, lifetime time.Duration, prefix string) (*keyward.Key, string) {
	if r.err != nil {
		return nil, r.err.Error()
	}
	f := keyward.LegacyFormat{Kind: keyward.LegacySimpleSecurity}
	id, secret, ok := f.Parse(r.key)
	if !ok {
		return nil, "api_key is not a UUID, the form fastapi_simple_security gives its keys: keyward would not recognise it"
	}
	k := &keyward.Key{ID: id, Prefix: prefix, Name: r.name, Enabled: r.active, LastUsedAt: r.lastQuery}
	switch {
	case r.neverExpire:
	case r.creation != nil:
		t := r.creation.Add(lifetime)
		k.ExpiresAt = &t
	case r.expiration != nil:
		k.ExpiresAt = r.expiration
	default:
		return nil, "never_expire is 0 but the row has no expiration_date (or creation_date)"
	}
	if r.creation != nil {
		k.CreatedAt = *r.creation
	}
	if k.Name == "" {
		k.Name = "imported from fastapi_simple_security"
	}
	k.Metadata, _ = json.Marshal(map[string]any{"imported_from": "fastapi_simple_security", "imported_total_queries": r.queries})
	hash, err := hasher.Hash(secret)
	if err != nil {
		return nil, "hashing the key: " + err.Error()
	}
	k.Hash = hash
	return k, ""
}
