package postgres_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/postgres"
)

// TestUpgradeFromVersion2 builds a database with the schema of version 2
// (before owners, named limits and roles), writes keys into it as that
// keyward did, and checks that opening it with Migrate keeps every key, with
// its rate_limit as the "default" entry of rate_limits and no roles.
func TestUpgradeFromVersion2(t *testing.T) {
	ctx := context.Background()
	u, _ := freshSchema(t)
	old := open(t, u, nil)
	if err := old.MigrateTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if v, err := old.SchemaVersion(ctx); v != 2 || err != nil {
		t.Fatalf("schema version %d, %v; want 2", v, err)
	}
	old.Close()

	limited, plain := plainKey(t, "limited").ID, plainKey(t, "plain").ID
	created := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	c := connect(t, u)
	_, err := c.Exec(ctx, `
		INSERT INTO keys (id, prefix, name, owner, scopes, metadata, enabled, created_at, updated_at,
			rate_limit_limit, rate_limit_period_ms, remaining, allowed_cidrs, hash)
		VALUES ($1, 'kw', 'limited', 'acme', '{read}', '{"plan":"pro"}', true, $3, $3,
			10, 60000, 5, '{10.0.0.0/8}', 'h1'),
		($2, 'kw', 'plain', '', '{}', '{}', true, $3, $3, NULL, NULL, NULL, '{}', 'h2')`,
		limited, plain, created)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `INSERT INTO usage (key_id, minute, outcome, count) VALUES ($1, 60, 'VALID', 3)`, limited); err != nil {
		t.Fatal(err)
	}

	s := open(t, u, &postgres.Options{Migrate: true})
	if v, err := s.SchemaVersion(ctx); v != s.LatestVersion() || err != nil {
		t.Fatalf("schema version after migrating %d, %v; want %d", v, err, s.LatestVersion())
	}
	ids := map[string]bool{}
	if err := s.KeyIDs(ctx, func(id string) error { ids[id] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || !ids[limited] || !ids[plain] {
		t.Fatalf("keys after migrating: %v; want both", ids)
	}

	k, err := s.Get(ctx, limited)
	if err != nil {
		t.Fatal(err)
	}
	minute := keyward.Duration(time.Minute)
	if want := (&keyward.RateLimit{Limit: 10, Period: minute}); !reflect.DeepEqual(k.RateLimit, want) {
		t.Errorf("rate_limit = %+v, want %+v", k.RateLimit, want)
	}
	if want := []keyward.NamedRateLimit{{Name: keyward.DefaultLimitName, Limit: 10, Period: minute}}; !reflect.DeepEqual(k.RateLimits, want) {
		t.Errorf("rate_limits = %+v, want %+v", k.RateLimits, want)
	}
	if k.Roles == nil || len(k.Roles) != 0 {
		t.Errorf("roles = %#v, want []", k.Roles)
	}
	if k.Owner != "acme" || !reflect.DeepEqual(k.Scopes, []string{"read"}) || *k.Remaining != 5 ||
		string(k.Metadata) != `{"plan":"pro"}` || !k.CreatedAt.Equal(created) {
		t.Errorf("other fields changed: %+v", k)
	}

	p, err := s.Get(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if p.RateLimit != nil || p.RateLimits == nil || len(p.RateLimits) != 0 || p.Roles == nil || len(p.Roles) != 0 {
		t.Errorf("key without a limit: rate_limit %+v, rate_limits %#v, roles %#v; want nil, [], []", p.RateLimit, p.RateLimits, p.Roles)
	}

	// The migrated keys work with the new tables: roles, owners, usage.
	now := time.Now()
	if _, err := s.PutRole(ctx, &keyward.Role{Name: "reader", Scopes: []string{"read"}, CreatedAt: now, UpdatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, plain, func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.Roles = []string{"reader"}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRole(ctx, "reader", nil); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("DeleteRole of a role a migrated key has: %v, want ErrConflict", err)
	}
	if _, err := s.PutOwner(ctx, &keyward.Owner{Name: "acme", CreatedAt: now, UpdatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	if o, err := s.GetOwner(ctx, "acme"); err != nil || o.KeyCount != 1 {
		t.Errorf("GetOwner(acme) = %+v, %v; want 1 key", o, err)
	}
	got, err := s.Usage(ctx, keyward.UsageQuery{KeyID: limited, From: time.Unix(0, 0), To: time.Unix(3600, 0), Bucket: time.Hour})
	if err != nil || len(got) != 1 || got[0].Count != 3 {
		t.Errorf("usage of a migrated key = %+v, %v; want 3", got, err)
	}
}
