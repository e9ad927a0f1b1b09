package keyward

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// List returns a page of keys, newest first, filtered as p says. Returns a
// *ValidationError for a bad limit, status or cursor, or a negative
// UnusedFor or ExpiresWithin.
func (s *Service) List(ctx context.Context, p ListParams) (Page, error) {
	var probs problems
	limit := probs.pageLimit(p.Limit)
	if p.Status != "" && !p.Status.Valid() {
		probs.add("status", "must be active, disabled, revoked or expired")
	}
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		probs.add("cursor", err.Error())
	}
	f := ListFilter{
		Owner: p.Owner, Status: p.Status, NameContains: p.Query,
		After: after, Limit: limit + 1, Now: s.Now(),
	}
	hygieneFilter(&f, p, &probs)
	if err := probs.err(); err != nil {
		return Page{}, err
	}
	keys, err := s.store.List(ctx, f)
	if err != nil {
		return Page{}, fmt.Errorf("keyward: listing keys: %w", err)
	}
	page := Page{Items: make([]*Key, 0, min(len(keys), limit))}
	for i, k := range keys {
		if i == limit {
			last := keys[limit-1]
			page.NextCursor = encodeCursor(ListCursor{CreatedAt: last.CreatedAt, ID: last.ID})
			break
		}
		page.Items = append(page.Items, s.view(k))
	}
	return page, nil
}

// encodeCursor makes an opaque, URL-safe cursor from a list position.
func encodeCursor(c ListCursor) string {
	raw := strconv.FormatInt(c.CreatedAt.UnixMilli(), 10) + "." + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (*ListCursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := errors.New("is not a cursor returned by this API")
	if len(s) > MaxCursorLength {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	ms, id, ok := strings.Cut(string(raw), ".")
	if !ok || !ValidID(id) {
		return nil, bad
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 0 {
		return nil, bad
	}
	return &ListCursor{CreatedAt: time.UnixMilli(n).UTC(), ID: id}, nil
}
