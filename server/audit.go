package server

import (
	"context"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// The overview and the audit log of the admin API.

// auditInput's limits are set by rules() from the root's constants.
type auditInput struct {
	KeyID  string `query:"key_id"`
	Cursor string `query:"cursor"`
	Limit  int    `query:"limit"`
}

func (s *Server) stats(ctx context.Context, _ *struct{}) (*body[api.StatsBody], error) {
	counts, err := s.svc.Counts(ctx)
	if err != nil {
		return nil, s.errs.problem(err, "query")
	}
	from := s.svc.Now().Add(-time.Hour)
	rep, err := s.svc.Usage(ctx, keyward.UsageParams{From: &from, Bucket: keyward.BucketMinute})
	if err != nil {
		return nil, s.errs.problem(err, "query")
	}
	out := api.StatsBody{Keys: map[string]int64{}, Usage: rep}
	for st, n := range counts {
		out.Keys[string(st)] = n
	}
	return &body[api.StatsBody]{Body: out}, nil
}

func (s *Server) listAudit(ctx context.Context, in *auditInput) (*body[keyward.AuditPage], error) {
	page, err := s.svc.Audit(ctx, keyward.AuditParams{KeyID: in.KeyID, Cursor: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, s.errs.problem(err, "query")
	}
	return &body[keyward.AuditPage]{Body: page}, nil
}
