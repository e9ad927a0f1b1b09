package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/storetest"
)

// A usage flush writes a key's row at the key's first use of a day
// (storetest.KeyRowWrittenOncePerDay): the row, under seven indexes, is
// not rewritten for every key of every flush.
func TestKeyRowWrittenOncePerDay(t *testing.T) {
	u, _ := freshSchema(t)
	open(t, u, &postgres.Options{Migrate: true})
	raw := connect(t, u)
	storetest.KeyRowWrittenOncePerDay(t, func(t *testing.T) keyward.Store { return open(t, u, nil) },
		func(t *testing.T, id string) *time.Time {
			t.Helper()
			var at *time.Time
			if err := raw.QueryRow(context.Background(), `SELECT last_used_at FROM keys WHERE id = $1`, id).Scan(&at); err != nil {
				t.Fatal(err)
			}
			if at != nil {
				utc := at.UTC()
				at = &utc
			}
			return at
		})
}
