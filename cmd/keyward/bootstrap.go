package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// What keyward serve (and migrate) set up on a first start: a pepper beside
// a new SQLite database, and an admin key when no admin credential exists.

// noKeysWithoutPepper refuses to make a new pepper (at path) for a database
// that already holds keys: they were hashed with the pepper that was there,
// and none of them, the admin keys included, would verify with a new one.
func noKeysWithoutPepper(ctx context.Context, store keyward.Store, path string) error {
	counts, err := store.Counts(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("counting keys: %w", err)
	}
	var n int64
	for _, c := range counts {
		n += c
	}
	if n > 0 {
		return fmt.Errorf("no pepper: %s does not exist, but the database holds %d keys hashed with the pepper that was there: "+
			"put it back, or set KEYWARD_PEPPER or --pepper-file to it (a new pepper would make every key fail)", path, n)
	}
	return nil
}

// bootstrapAdmin creates an admin key when no admin token is configured and
// no active key holds keyward:admin (its own or through a role), and prints
// it once: on the first start, and after the last admin key was revoked,
// disabled or expired.
func (a *app) bootstrapAdmin(ctx context.Context, svc *keyward.Service, hasToken bool, log *slog.Logger) error {
	if hasToken {
		return nil
	}
	ok, err := hasAdminKey(ctx, svc)
	if err != nil {
		return fmt.Errorf("looking for an admin key: %w", err)
	}
	if ok {
		return nil
	}
	actx := keyward.NewActorContext(ctx, keyward.Actor{ID: "bootstrap"})
	p := keyward.CreateParams{Name: "admin (created on first start)", Scopes: []string{keyward.ScopeAdmin}}
	if err := bootstrapExpiry(ctx, svc, &p); err != nil {
		return fmt.Errorf("creating the first admin key: %w", err)
	}
	iss, err := svc.Create(actx, p)
	if err != nil {
		return fmt.Errorf("creating the first admin key: %w", err)
	}
	expires := ""
	if e := iss.Key.ExpiresAt; e != nil {
		expires = " It expires at " + e.UTC().Format(time.RFC3339) + " (the key lifetime policy): create another admin key before then."
	}
	fmt.Fprintf(a.stderr, "\nkeyward: no admin credential configured and no active admin key. Created an admin key:\n\n    %s\n\n"+
		"It is shown only this once. Use it as 'Authorization: Bearer <key>' on the admin API.%s\n\n", iss.Secret, expires)
	log.Info("created an admin key", "key_id", iss.Key.ID)
	return nil
}

// hasAdminKey reports whether an active key holds keyward:admin, among its
// own scopes or through one of its roles (keyward: scopes are granted by
// exact match only). It reads the active keys page by page until it finds
// one: at once on an empty database, and in seconds at a million keys.
func hasAdminKey(ctx context.Context, svc *keyward.Service) (bool, error) {
	counts, err := svc.Counts(ctx)
	if err != nil || counts[keyward.StatusActive] == 0 {
		return false, err
	}
	adminRoles := map[string]bool{}
	rp := keyward.NameListParams{Limit: keyward.MaxPageSize}
	for {
		page, err := svc.ListRoles(ctx, rp)
		if err != nil {
			return false, err
		}
		for _, r := range page.Items {
			adminRoles[r.Name] = slices.Contains(r.Scopes, keyward.ScopeAdmin)
		}
		if page.NextCursor == "" {
			break
		}
		rp.Cursor = page.NextCursor
	}
	kp := keyward.ListParams{Status: keyward.StatusActive, Limit: keyward.MaxPageSize}
	for {
		page, err := svc.List(ctx, kp)
		if err != nil {
			return false, err
		}
		for _, k := range page.Items {
			if slices.Contains(k.Scopes, keyward.ScopeAdmin) || slices.ContainsFunc(k.Roles, func(r string) bool { return adminRoles[r] }) {
				return true, nil
			}
		}
		if page.NextCursor == "" {
			return false, nil
		}
		kp.Cursor = page.NextCursor
	}
}
