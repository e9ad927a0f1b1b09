package keyward

import (
	"encoding/base64"
	"unicode/utf8"
)

// NameListParams selects a page of owners or roles, by name.
type NameListParams struct {
	// Query keeps records whose name contains it, ignoring case.
	Query string
	// Cursor is the NextCursor of the previous page, or "".
	Cursor string
	// Limit is 1-1000; 0 means 50.
	Limit int
}

// NameFilter selects owners or roles for a Store, in name order (byte-wise).
type NameFilter struct {
	// Contains, if not "", keeps names that contain it, ignoring case.
	Contains string
	// After, if not "", keeps names that sort after it.
	After string
	// Limit is the most records to return; 0 means no limit.
	Limit int
}

// filter validates p and returns the store filter (one more than a page, to
// see whether a next page exists) and the page size.
func (p NameListParams) filter() (NameFilter, int, error) {
	var probs problems
	limit := probs.pageLimit(p.Limit)
	var after string
	if p.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		if err != nil || len(b) == 0 || len(b) > 4*MaxOwnerLength || !utf8.Valid(b) {
			probs.add("cursor", "is not a cursor returned by this API")
		}
		after = string(b)
	}
	if err := probs.err(); err != nil {
		return NameFilter{}, 0, err
	}
	return NameFilter{Contains: p.Query, After: after, Limit: limit + 1}, limit, nil
}

// encodeNameCursor makes an opaque, URL-safe cursor from the last name of a
// page.
func encodeNameCursor(name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(name))
}
