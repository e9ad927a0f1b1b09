package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

// A read of a key finds its last use through usage's primary key: keys.id
// and usage.key_id have different collations, and a comparison of the two
// as they are matches no index of usage (the planner then walked
// usage_minute, 6 ms a read at 88,000 count rows).
func TestLastUseReadsThePrimaryKey(t *testing.T) {
	u, _ := freshSchema(t)
	open(t, u, &postgres.Options{Migrate: true})
	c := connect(t, u)
	ctx := context.Background()
	for _, q := range []string{`SET enable_seqscan = off`, `SET plan_cache_mode = force_generic_plan`, `PREPARE get(text) AS ` + postgres.SelectKey} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows, err := c.Query(ctx, `EXPLAIN EXECUTE get('kwplan0000001')`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if strings.Count(text, "using usage_pkey on usage") != 2 || strings.Contains(text, "usage_minute") {
		t.Errorf("the read of a key does not look up its count rows by usage's primary key:\n%s", text)
	}
}
