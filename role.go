package keyward

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Limits on roles.
const (
	// MaxKeyRoles is the most roles a key has.
	MaxKeyRoles = 16
	// MaxRoleNameLength is the longest role name.
	MaxRoleNameLength = 64
)

// Role is a named set of scopes. A key's effective scopes are its own
// scopes plus those of each of its roles; changing a role changes every key
// that has it. A *Role returned by a Store may be shared: treat it as
// read-only.
type Role struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Scopes      []string  `json:"scopes"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// RoleParams is the content of a role for [Service.PutRole].
type RoleParams struct {
	Description string
	// Scopes follow the rules of key scopes; keyward: scopes are allowed
	// (granted by exact match only, as ever).
	Scopes []string
}

// RolePage is a page of roles, by name.
type RolePage = NamePage[*Role]

// validRoleName reports whether s matches [a-z0-9][a-z0-9:_.-]{0,63}.
func validRoleName(s string) bool {
	if s == "" || len(s) > MaxRoleNameLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == ':' || c == '_' || c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// PutRole creates (created true) or replaces the role. Returns a
// *ValidationError for a bad name or bad scopes.
func (s *Service) PutRole(ctx context.Context, name string, p RoleParams) (r *Role, created bool, err error) {
	var probs problems
	if !validRoleName(name) {
		probs.add("name", "must match [a-z0-9][a-z0-9:_.-]{0,63}")
	}
	if utf8.RuneCountInString(p.Description) > MaxDescriptionLength || !utf8.ValidString(p.Description) {
		probs.add("description", fmt.Sprintf("must be valid UTF-8 of at most %d characters", MaxDescriptionLength))
	}
	scopes := validateScopes(p.Scopes, &probs)
	if err := probs.err(); err != nil {
		return nil, false, err
	}
	now := s.Now()
	role := &Role{Name: name, Description: p.Description, Scopes: scopes, CreatedAt: now, UpdatedAt: now}
	ev := *role // the event shows the role as stored: a replace keeps CreatedAt
	if cur, err := s.store.GetRole(NewFreshContext(ctx), name); err == nil {
		ev.CreatedAt = cur.CreatedAt
	}
	e, err := s.newEvent(EventRoleUpdated, &ev)
	a, err := withEvent(s.audit(ctx, ActionRolePut, "", map[string]any{"role": name, "scopes": scopes}), e, err)
	if err != nil {
		return nil, false, err
	}
	created, err = s.store.PutRole(ctx, role, a)
	if err != nil {
		return nil, false, fmt.Errorf("keyward: storing role %q: %w", name, err)
	}
	s.notifyEvents()
	role, err = s.GetRole(ctx, name)
	return role, created, err
}

// GetRole returns the role, or ErrNotFound.
func (s *Service) GetRole(ctx context.Context, name string) (*Role, error) {
	if !validRoleName(name) {
		return nil, fmt.Errorf("keyward: role %q: %w", name, ErrNotFound)
	}
	return s.store.GetRole(NewFreshContext(ctx), name)
}

// ListRoles returns a page of roles by name.
func (s *Service) ListRoles(ctx context.Context, p NameListParams) (RolePage, error) {
	f, limit, err := p.filter()
	if err != nil {
		return RolePage{}, err
	}
	roles, err := s.store.ListRoles(ctx, f)
	if err != nil {
		return RolePage{}, fmt.Errorf("keyward: listing roles: %w", err)
	}
	page := RolePage{Items: roles}
	if len(roles) > limit {
		page.Items = roles[:limit]
		page.NextCursor = encodeNameCursor(roles[limit-1].Name)
	}
	if page.Items == nil {
		page.Items = []*Role{}
	}
	return page, nil
}

// DeleteRole deletes the role. Returns ErrNotFound, or ErrConflict while a
// key has the role.
func (s *Service) DeleteRole(ctx context.Context, name string) error {
	if !validRoleName(name) {
		return fmt.Errorf("keyward: role %q: %w", name, ErrNotFound)
	}
	r, err := s.store.GetRole(NewFreshContext(ctx), name)
	if err != nil {
		return err
	}
	e, err := s.newEvent(EventRoleDeleted, r)
	a, err := withEvent(s.audit(ctx, ActionRoleDelete, "", map[string]any{"role": name}), e, err)
	if err != nil {
		return err
	}
	if err := s.store.DeleteRole(ctx, name, a); err != nil {
		return err
	}
	s.notifyEvents()
	return nil
}

// checkRoles reports, as problems, the roles of a key that do not exist.
func (s *Service) checkRoles(ctx context.Context, roles []string, p *problems) error {
	for i, r := range roles {
		if !validRoleName(r) {
			continue // reported by the field validation
		}
		_, err := s.store.GetRole(NewFreshContext(ctx), r)
		switch {
		case errors.Is(err, ErrNotFound):
			p.add(fmt.Sprintf("roles[%d]", i), fmt.Sprintf("no role is named %q; create it first (PUT /v1/roles/%s)", r, r))
		case err != nil:
			return fmt.Errorf("keyward: reading role %q: %w", r, err)
		}
	}
	return nil
}
