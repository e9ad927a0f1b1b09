package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/sqlite"
	"github.com/keyward/keyward/store/storetest"
)

// A usage flush writes a key's row at the key's first use of a day
// (storetest.KeyRowWrittenOncePerDay).
func TestKeyRowWrittenOncePerDay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	raw := rawDB(t, path)
	storetest.KeyRowWrittenOncePerDay(t, func(t *testing.T) keyward.Store { return open(t, path) },
		func(t *testing.T, id string) *time.Time {
			t.Helper()
			var ms sql.NullInt64
			if err := raw.QueryRow(`SELECT last_used_at FROM keys WHERE id = ?`, id).Scan(&ms); err != nil {
				t.Fatal(err)
			}
			if !ms.Valid {
				return nil
			}
			at := time.UnixMilli(ms.Int64).UTC()
			return &at
		})
}

func mustGetKey(t *testing.T, s *sqlite.Store, id string) *keyward.Key {
	t.Helper()
	k, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
