package server

import (
	"context"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// The owner operations of the admin API: put, update, get, list, delete and
// usage. Names travel URL-escaped in the path.

type ownerPath struct {
	Name string `path:"name" doc:"The owner's name (the string keys carry in owner), URL-escaped."`
}

type putOwnerInput struct {
	Name string         `path:"name" doc:"The owner's name, URL-escaped: 1-200 characters, no control characters."`
	Body *api.OwnerBody `required:"false"`
}

type updateOwnerInput struct {
	Name string `path:"name" doc:"The owner's name, URL-escaped."`
	Body api.UpdateOwnerBody
}

// nameListInput selects a page of owners or roles; rules() sets its limits.
type nameListInput struct {
	Limit  int    `query:"limit"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page."`
	Q      string `query:"q" doc:"Name substring, case-insensitive."`
}

func (in *nameListInput) params() keyward.NameListParams {
	return keyward.NameListParams{Query: in.Q, Cursor: in.Cursor, Limit: in.Limit}
}

type ownerUsageInput struct {
	Name   string    `path:"name" doc:"The owner's name, URL-escaped."`
	From   time.Time `query:"from" doc:"RFC 3339; default 24h before to."`
	To     time.Time `query:"to" doc:"RFC 3339; default now."`
	Bucket string    `query:"bucket" enum:"minute,hour,day" default:"hour"`
}

// putOutput is the answer of a PUT: 201 when it created the record, 200
// when it replaced one.
type putOutput[T any] struct {
	Status int
	Body   T
}

func putStatus(created bool) int {
	if created {
		return 201
	}
	return 200
}

// inPathOrBody locates the name in the path and the other fields in the
// body.
func inPathOrBody(field string) string {
	if field == "name" {
		return "path.name"
	}
	return under("body")(field)
}

// ownerSubject is the subject of the owner operations.
func ownerSubject() subject {
	return subject{field: inPathOrBody, notFound: "no owner record with that name"}
}

// ownerView answers with o, or with the problem of err.
func (s *Server) ownerView(o *keyward.Owner, err error) (*body[api.OwnerView], error) {
	if err != nil {
		return nil, s.errs.problemOf(err, ownerSubject())
	}
	return &body[api.OwnerView]{Body: api.NewOwnerView(o)}, nil
}

func (s *Server) putOwner(ctx context.Context, in *putOwnerInput) (*putOutput[api.OwnerView], error) {
	o, created, err := s.svc.PutOwner(ctx, in.Name, in.Body.Params())
	if err != nil {
		return nil, s.errs.problemOf(err, ownerSubject())
	}
	return &putOutput[api.OwnerView]{Status: putStatus(created), Body: api.NewOwnerView(o)}, nil
}

func (s *Server) updateOwner(ctx context.Context, in *updateOwnerInput) (*body[api.OwnerView], error) {
	return s.ownerView(s.svc.UpdateOwner(ctx, in.Name, in.Body.Params()))
}

func (s *Server) getOwner(ctx context.Context, in *ownerPath) (*body[api.OwnerView], error) {
	return s.ownerView(s.svc.GetOwner(ctx, in.Name))
}

func (s *Server) listOwners(ctx context.Context, in *nameListInput) (*body[api.OwnerPageBody], error) {
	return listNames(ctx, s, in, s.svc.ListOwners, api.NewOwnerPageBody)
}

func (s *Server) deleteOwner(ctx context.Context, in *ownerPath) (*struct{}, error) {
	return s.deleted(s.svc.DeleteOwner(ctx, in.Name), ownerSubject())
}

// listNames answers with a page of owners or roles, shown with show.
func listNames[P, B any](ctx context.Context, s *Server, in *nameListInput,
	list func(context.Context, keyward.NameListParams) (P, error), show func(P) B) (*body[B], error) {
	page, err := list(ctx, in.params())
	if err != nil {
		return nil, s.errs.problem(err, "query")
	}
	return &body[B]{Body: show(page)}, nil
}

// deleted answers a DELETE: 204, or the problem of err for sub.
func (s *Server) deleted(err error, sub subject) (*struct{}, error) {
	if err != nil {
		return nil, s.errs.problemOf(err, sub)
	}
	return nil, nil
}

func (s *Server) ownerUsage(ctx context.Context, in *ownerUsageInput) (*body[keyward.UsageReport], error) {
	p := keyward.UsageParams{Owner: in.Name, Bucket: in.Bucket}
	return s.usage(ctx, p, in.From, in.To, subject{field: under("query"), notFound: "no owner with that name: no record, no key and no usage"})
}
