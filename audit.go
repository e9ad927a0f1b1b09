package keyward

import (
	"context"
	"encoding/json"
	"fmt"
)

// audit builds an audit entry for an action by the actor in ctx.
func (s *Service) audit(ctx context.Context, action, keyID string, details map[string]any) *AuditEntry {
	a := ActorFromContext(ctx)
	d := json.RawMessage("{}")
	if details != nil {
		if b, err := json.Marshal(details); err == nil {
			d = b
		}
	}
	return &AuditEntry{At: s.Now(), Actor: a.ID, Action: action, KeyID: keyID, ClientIP: a.ClientIP, Details: d}
}

// AuditParams selects a page of the audit log.
type AuditParams struct {
	KeyID  string
	Cursor string
	Limit  int
}

// AuditPage is one page of audit entries, newest first.
type AuditPage struct {
	Items      []AuditEntry `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// Audit returns a page of the audit log, newest first.
func (s *Service) Audit(ctx context.Context, p AuditParams) (AuditPage, error) {
	var probs problems
	limit, before := probs.idPaging(p.Limit, p.Cursor)
	if p.KeyID != "" && !ValidID(p.KeyID) {
		probs.add("key_id", "must be 16 base62 characters")
	}
	if err := probs.err(); err != nil {
		return AuditPage{}, err
	}
	items, err := s.store.ListAudit(ctx, AuditFilter{KeyID: p.KeyID, Before: before, Limit: limit + 1})
	if err != nil {
		return AuditPage{}, fmt.Errorf("keyward: listing audit log: %w", err)
	}
	page := AuditPage{}
	page.Items, page.NextCursor = idPage(items, limit, func(e AuditEntry) int64 { return e.ID })
	return page, nil
}
