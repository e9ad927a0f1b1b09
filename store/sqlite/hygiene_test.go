package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testsqlite"
	"github.com/keyward/keyward/store/sqlite"
)

// TestUpgradeKeepsLastUseForFilters: keys used before migration 0006 get
// their used_day, so the filters on use see them as the keys written after.
func TestUpgradeKeepsLastUseForFilters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.MigrateTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	old.Close()

	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	created := now.Add(-200 * 24 * time.Hour).UnixMilli()
	used, stale, never := newID(t), newID(t), newID(t)
	testsqlite.Exec(t, path, fmt.Sprintf(`
		INSERT INTO keys (id, prefix, name, enabled, created_at, updated_at, last_used_at, hash)
		VALUES ('%s', 'kw', 'used yesterday', 1, %d, %d, %d, 'h1'),
			('%s', 'kw', 'used long ago', 1, %d, %d, %d, 'h2'),
			('%s', 'kw', 'never used', 1, %d, %d, NULL, 'h3');`,
		used, created, created, now.Add(-24*time.Hour).UnixMilli(),
		stale, created-1, created-1, now.Add(-100*24*time.Hour).UnixMilli(),
		never, created+1, created+1))

	s := open(t, path)
	for _, tc := range []struct {
		name string
		f    keyward.ListFilter
		want []string
	}{
		{"never used", keyward.ListFilter{NeverUsed: true}, []string{never}},
		{"unused for 90 days", keyward.ListFilter{UnusedSince: now.Add(-90 * 24 * time.Hour)}, []string{never, stale}},
		{"unused for a day and a millisecond", keyward.ListFilter{UnusedSince: now.Add(-24*time.Hour - time.Millisecond)}, []string{never, stale}},
		{"unused for a day", keyward.ListFilter{UnusedSince: now.Add(-24*time.Hour + time.Millisecond)}, []string{never, used, stale}},
	} {
		tc.f.Now = now
		keys, err := s.List(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range keys {
			got = append(got, k.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
