package server

import (
	"context"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// The key operations of the admin API: create, list, get, update, delete,
// revoke, rotate and usage. Each answers with the api package's bodies.

type idPath struct {
	ID string `path:"id" doc:"The key id."`
}

// The limits of these parameters are set by rules() from the root's
// constants.
type listInput struct {
	Limit  int            `query:"limit"`
	Cursor string         `query:"cursor" doc:"next_cursor of the previous page."`
	Owner  string         `query:"owner"`
	Status keyward.Status `query:"status" enum:"active,disabled,revoked,expired"`
	Q      string         `query:"q" doc:"Name substring, case-insensitive."`
	// The filters by use and expiry. The durations are strings, parsed by
	// listParams (policy.go), so that a bad one is a 422 at its parameter
	// saying what is expected.
	UnusedFor     string `query:"unused_for" maxLength:"40" doc:"A Go duration, e.g. 2160h: keys last used longer ago than that, or never used and created longer ago."`
	ExpiresWithin string `query:"expires_within" maxLength:"40" doc:"A Go duration, e.g. 168h: keys that expire after now and at most that long from now (keys already expired are not listed)."`
	NeverUsed     bool   `query:"never_used" doc:"true: only keys never used (an extension of keyward's contract, for the admin page's hygiene card)."`
	NoExpiry      bool   `query:"no_expiry" doc:"true: only keys without expiry (an extension of keyward's contract, for the admin page's hygiene card)."`
}

type updateInput struct {
	ID   string `path:"id"`
	Body api.UpdateKeyBody
}

type rotateInput struct {
	ID   string          `path:"id"`
	Body *api.RotateBody `required:"false"`
}

type usageInput struct {
	ID     string    `path:"id"`
	From   time.Time `query:"from" doc:"RFC 3339; default 24h before to."`
	To     time.Time `query:"to" doc:"RFC 3339; default now."`
	Bucket string    `query:"bucket" enum:"minute,hour,day" default:"hour"`
}

// usage answers with the report of p over from-to (zero times take the
// defaults), or with the problem of err for sub.
func (s *Server) usage(ctx context.Context, p keyward.UsageParams, from, to time.Time, sub subject) (*body[keyward.UsageReport], error) {
	if !from.IsZero() {
		p.From = &from
	}
	if !to.IsZero() {
		p.To = &to
	}
	rep, err := s.svc.Usage(ctx, p)
	if err != nil {
		return nil, s.errs.problemOf(err, sub)
	}
	return &body[keyward.UsageReport]{Body: rep}, nil
}

// keyView answers with k, or with the problem of err at location.
func (s *Server) keyView(k *keyward.Key, err error, location string) (*body[api.KeyView], error) {
	if err != nil {
		return nil, s.errs.problem(err, location)
	}
	return &body[api.KeyView]{Body: api.NewKeyView(k, s.svc.Now())}, nil
}

// issuedOutput is an answer that carries a secret: no cache (a browser's,
// a proxy's) may keep it.
type issuedOutput struct {
	CacheControl string `header:"Cache-Control" doc:"no-store: the body holds a secret."`
	Pragma       string `header:"Pragma" doc:"no-cache, for HTTP/1.0 caches."`
	Body         api.IssuedBody
}

// issued answers with iss, or with the problem of err at body.
func (s *Server) issued(iss keyward.Issued, err error) (*issuedOutput, error) {
	if err != nil {
		return nil, s.errs.problem(err, "body")
	}
	return &issuedOutput{CacheControl: "no-store", Pragma: "no-cache", Body: api.NewIssuedBody(iss, s.svc.Now())}, nil
}

func (s *Server) createKey(ctx context.Context, in *body[api.CreateKeyBody]) (*issuedOutput, error) {
	iss, err := s.svc.Create(ctx, in.Body.Params())
	return s.issued(iss, err)
}

func (s *Server) listKeys(ctx context.Context, in *listInput) (*body[api.PageBody], error) {
	p, err := in.listParams()
	if err != nil {
		return nil, s.errs.problem(err, "query")
	}
	page, err := s.svc.List(ctx, p)
	if err != nil {
		return nil, s.errs.problem(err, "query")
	}
	return &body[api.PageBody]{Body: api.NewPageBody(page, s.svc.Now())}, nil
}

func (s *Server) getKey(ctx context.Context, in *idPath) (*body[api.KeyView], error) {
	k, err := s.svc.Get(ctx, in.ID)
	return s.keyView(k, err, "path")
}

func (s *Server) updateKey(ctx context.Context, in *updateInput) (*body[api.KeyView], error) {
	k, err := s.svc.Update(ctx, in.ID, in.Body.Params())
	return s.keyView(k, err, "body")
}

func (s *Server) deleteKey(ctx context.Context, in *idPath) (*struct{}, error) {
	if err := s.svc.Delete(ctx, in.ID); err != nil {
		return nil, s.errs.problem(err, "path")
	}
	return nil, nil
}

func (s *Server) revokeKey(ctx context.Context, in *idPath) (*body[api.KeyView], error) {
	k, err := s.svc.Revoke(ctx, in.ID)
	return s.keyView(k, err, "path")
}

func (s *Server) rotateKey(ctx context.Context, in *rotateInput) (*issuedOutput, error) {
	iss, err := s.svc.Rotate(ctx, in.ID, in.Body.Params())
	return s.issued(iss, err)
}

func (s *Server) keyUsage(ctx context.Context, in *usageInput) (*body[keyward.UsageReport], error) {
	p := keyward.UsageParams{KeyID: in.ID, Bucket: in.Bucket}
	return s.usage(ctx, p, in.From, in.To, subject{field: under("query"), notFound: "no key with that id"})
}
