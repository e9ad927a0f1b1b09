package api

import "github.com/keyward/keyward"

// RoleBody is the body of PUT /v1/roles/{name}: the whole role.
type RoleBody struct {
	Description string   `json:"description,omitempty"`
	Scopes      []string `json:"scopes,omitempty" nullable:"false" doc:"Granted to every key that has the role; the rules of key scopes apply, keyward: scopes included (granted by exact match only)."`
}

// NewRoleBody is the body that asks for p.
func NewRoleBody(p keyward.RoleParams) RoleBody { return RoleBody(p) }

// Params returns what the body asks for; a nil body asks for a role with no
// description and no scopes.
func (b *RoleBody) Params() keyward.RoleParams {
	if b == nil {
		return keyward.RoleParams{}
	}
	return keyward.RoleParams(*b)
}

// RoleView is a role as the API shows it.
type RoleView struct {
	keyward.Role
}

// NewRoleView shows r; its scopes are never null.
func NewRoleView(r *keyward.Role) RoleView {
	v := RoleView{Role: *r}
	v.Scopes = nonNil(v.Scopes)
	return v
}
