package keyward

import (
	"encoding/base64"
	"fmt"
	"strconv"
)

// The size of every list's page, and the paging of lists newest first by a
// numeric id (the audit log, a webhook's deliveries): the opaque cursor and
// the cut of a page. Keys page by creation time (list.go), owners and roles
// by name (names.go).

// pageLimit is a page's limit: DefaultPageSize for 0, else limit, which
// must be 1 to MaxPageSize.
func (p *problems) pageLimit(limit int) int {
	if limit == 0 {
		return DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		p.add("limit", fmt.Sprintf("must be 1-%d", MaxPageSize))
	}
	return limit
}

// idPaging reads the limit and the cursor of a list by id: the page's size
// and the id its items come before (0: from the newest).
func (p *problems) idPaging(limit int, cursor string) (int, int64) {
	limit = p.pageLimit(limit)
	before, ok := decodeIDCursor(cursor)
	if !ok {
		p.add("cursor", "is not a cursor returned by this API")
	}
	return limit, before
}

// idPage cuts items, read with one over limit, to a page (never nil) and
// the cursor of the next page ("" for the last).
func idPage[T any](items []T, limit int, id func(T) int64) ([]T, string) {
	if len(items) > limit {
		return items[:limit], encodeIDCursor(id(items[limit-1]))
	}
	if items == nil {
		items = []T{}
	}
	return items, ""
}

// encodeIDCursor makes an opaque cursor from a numeric id.
func encodeIDCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

// decodeIDCursor reads a cursor of encodeIDCursor: 0 for "", false when it
// is not one.
func decodeIDCursor(c string) (int64, bool) {
	if c == "" {
		return 0, true
	}
	if len(c) > MaxCursorLength {
		return 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil && n >= 1
}
