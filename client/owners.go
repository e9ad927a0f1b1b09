package client

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// Owner records and roles. Names are URL-escaped in the paths, so any name
// (spaces, slashes, any script) reaches the server as it is.

func ownerPath(name string) string { return "/v1/owners/" + escapeName(name) }

func rolePath(name string) string { return "/v1/roles/" + escapeName(name) }

// escapeName escapes a name as one path segment. The names "." and ".."
// are percent-encoded too, so that no one takes them for dot-segments.
func escapeName(name string) string {
	if name == "." || name == ".." {
		return strings.Repeat("%2E", len(name))
	}
	return url.PathEscape(name)
}

// nameListQuery is the query of a page of owners or roles.
func nameListQuery(p keyward.NameListParams) url.Values {
	return pageQuery("q", p.Query, p.Cursor, p.Limit)
}

// call sends a request and returns its JSON answer and status.
func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, body any) (T, int, error) {
	var out T
	status, err := c.send(ctx, method, path, query, body, &out)
	return out, status, err
}

// listNames returns a page of owners or roles, converted with page.
func listNames[V, P any](ctx context.Context, c *Client, path string, p keyward.NameListParams, page func(api.NamePage[V]) P) (P, error) {
	b, _, err := call[api.NamePage[V]](ctx, c, http.MethodGet, path, nameListQuery(p), nil)
	if err != nil {
		var zero P
		return zero, err
	}
	return page(b), nil
}

// PutOwner creates (created true) or replaces the owner record named name;
// omitted fields take their defaults.
func (c *Client) PutOwner(ctx context.Context, name string, p keyward.OwnerParams) (o *keyward.Owner, created bool, err error) {
	v, status, err := call[api.OwnerView](ctx, c, http.MethodPut, ownerPath(name), nil, api.NewOwnerBody(p))
	if err != nil {
		return nil, false, err
	}
	return &v.Owner, status == http.StatusCreated, nil
}

// UpdateOwner changes the fields set in p (e.g. a top-up of Remaining).
// Returns an error matching keyward.ErrNotFound if there is no record.
func (c *Client) UpdateOwner(ctx context.Context, name string, p keyward.OwnerUpdate) (*keyward.Owner, error) {
	return record(ctx, c, http.MethodPatch, ownerPath(name), api.NewUpdateOwnerBody(p), ownerOf)
}

// GetOwner returns the owner record, with its key count.
func (c *Client) GetOwner(ctx context.Context, name string) (*keyward.Owner, error) {
	return record(ctx, c, http.MethodGet, ownerPath(name), nil, ownerOf)
}

func ownerOf(v *api.OwnerView) *keyward.Owner { return &v.Owner }

func roleOf(v *api.RoleView) *keyward.Role { return &v.Role }

// record sends a request answered with a view of a record, and returns the
// record.
func record[V, R any](ctx context.Context, c *Client, method, path string, body any, of func(*V) *R) (*R, error) {
	v, _, err := call[V](ctx, c, method, path, nil, body)
	if err != nil {
		return nil, err
	}
	return of(&v), nil
}

// ListOwners returns a page of owner records, by name.
func (c *Client) ListOwners(ctx context.Context, p keyward.NameListParams) (keyward.OwnerPage, error) {
	return listNames(ctx, c, "/v1/owners", p, api.OwnerPage)
}

// DeleteOwner deletes the owner record; the keys keep their owner string.
func (c *Client) DeleteOwner(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, ownerPath(name), nil, nil, nil)
}

// OwnerUsage returns the usage of the owner p.Owner: the verifications of
// the keys that carried it, summed.
func (c *Client) OwnerUsage(ctx context.Context, p keyward.UsageParams) (keyward.UsageReport, error) {
	rep, _, err := call[keyward.UsageReport](ctx, c, http.MethodGet, ownerPath(p.Owner)+"/usage", usageQuery(p), nil)
	return rep, err
}

// PutRole creates (created true) or replaces a role.
func (c *Client) PutRole(ctx context.Context, name string, p keyward.RoleParams) (r *keyward.Role, created bool, err error) {
	v, status, err := call[api.RoleView](ctx, c, http.MethodPut, rolePath(name), nil, api.NewRoleBody(p))
	if err != nil {
		return nil, false, err
	}
	return &v.Role, status == http.StatusCreated, nil
}

// GetRole returns a role.
func (c *Client) GetRole(ctx context.Context, name string) (*keyward.Role, error) {
	return record(ctx, c, http.MethodGet, rolePath(name), nil, roleOf)
}

// ListRoles returns a page of roles, by name.
func (c *Client) ListRoles(ctx context.Context, p keyward.NameListParams) (keyward.RolePage, error) {
	return listNames(ctx, c, "/v1/roles", p, api.RolePage)
}

// DeleteRole deletes a role. Returns an error matching keyward.ErrConflict
// while a key has it.
func (c *Client) DeleteRole(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, rolePath(name), nil, nil, nil)
}
