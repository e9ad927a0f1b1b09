package server

import (
	"context"

	"github.com/keyward/keyward/api"
)

// The role operations of the admin API: put, get, list and delete.

type rolePath struct {
	Name string `path:"name" doc:"The role's name."`
}

type putRoleInput struct {
	Name string        `path:"name" doc:"The role's name: [a-z0-9][a-z0-9:_.-]{0,63}."`
	Body *api.RoleBody `required:"false"`
}

// roleSubject is the subject of the role operations.
func roleSubject() subject {
	return subject{
		field: inPathOrBody, notFound: "no role with that name",
		conflict: "keys still have this role; take it off them first",
	}
}

func (s *Server) putRole(ctx context.Context, in *putRoleInput) (*putOutput[api.RoleView], error) {
	r, created, err := s.svc.PutRole(ctx, in.Name, in.Body.Params())
	if err != nil {
		return nil, s.errs.problemOf(err, roleSubject())
	}
	return &putOutput[api.RoleView]{Status: putStatus(created), Body: api.NewRoleView(r)}, nil
}

func (s *Server) getRole(ctx context.Context, in *rolePath) (*body[api.RoleView], error) {
	r, err := s.svc.GetRole(ctx, in.Name)
	if err != nil {
		return nil, s.errs.problemOf(err, roleSubject())
	}
	return &body[api.RoleView]{Body: api.NewRoleView(r)}, nil
}

func (s *Server) listRoles(ctx context.Context, in *nameListInput) (*body[api.RolePageBody], error) {
	return listNames(ctx, s, in, s.svc.ListRoles, api.NewRolePageBody)
}

func (s *Server) deleteRole(ctx context.Context, in *rolePath) (*struct{}, error) {
	return s.deleted(s.svc.DeleteRole(ctx, in.Name), roleSubject())
}
