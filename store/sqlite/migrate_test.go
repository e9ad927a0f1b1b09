package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testsqlite"
	"github.com/keyward/keyward/store/sqlite"
)

// TestUpgradeFromVersion2 builds a database with the schema of version 2
// (before owners, named limits and roles), writes keys into it as that
// keyward did, and checks that opening it with Migrate keeps every key, with
// its rate_limit as the "default" entry of rate_limits and no roles.
func TestUpgradeFromVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.MigrateTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if v, err := old.SchemaVersion(ctx); v != 2 || err != nil {
		t.Fatalf("schema version %d, %v; want 2", v, err)
	}
	old.Close()

	limited, plain := newID(t), newID(t)
	created := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC).UnixMilli()
	testsqlite.Exec(t, path, fmt.Sprintf(`
		INSERT INTO keys (id, prefix, name, owner, scopes, metadata, enabled, created_at, updated_at,
			rate_limit_limit, rate_limit_period_ms, remaining, allowed_cidrs, hash)
		VALUES ('%[1]s', 'kw', 'limited', 'acme', '["read"]', '{"plan":"pro"}', 1, %[3]d, %[3]d,
			10, 60000, 5, '["10.0.0.0/8"]', 'h1');
		INSERT INTO keys (id, prefix, name, enabled, created_at, updated_at, hash)
		VALUES ('%[2]s', 'kw', 'plain', 1, %[3]d, %[3]d, 'h2');
		INSERT INTO usage (key_id, minute, outcome, count) VALUES ('%[1]s', 60, 'VALID', 3);`,
		limited, plain, created))

	s := open(t, path)
	if v, err := s.SchemaVersion(ctx); v != sqlite.LatestVersion() || err != nil {
		t.Fatalf("schema version after migrating %d, %v; want %d", v, err, sqlite.LatestVersion())
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
		string(k.Metadata) != `{"plan":"pro"}` || k.CreatedAt.UnixMilli() != created {
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
	if _, err := s.PutRole(ctx, &keyward.Role{Name: "reader", Scopes: []string{"read"}, CreatedAt: time.Now(), UpdatedAt: time.Now()}, nil); err != nil {
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
	if _, err := s.PutOwner(ctx, &keyward.Owner{Name: "acme", CreatedAt: time.Now(), UpdatedAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	if o, err := s.GetOwner(ctx, "acme"); err != nil || o.KeyCount != 1 {
		t.Errorf("GetOwner(acme) = %+v, %v; want 1 key", o, err)
	}
	u, err := s.Usage(ctx, keyward.UsageQuery{KeyID: limited, From: time.Unix(0, 0), To: time.Unix(3600, 0), Bucket: time.Hour})
	if err != nil || len(u) != 1 || u[0].Count != 3 {
		t.Errorf("usage of a migrated key = %+v, %v; want 3", u, err)
	}
}

func newID(tb testing.TB) string {
	tb.Helper()
	id, err := keyward.NewID()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
