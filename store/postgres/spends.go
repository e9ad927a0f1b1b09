package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/spendgroup"
)

// Credit spends commit in groups (internal/spendgroup). A spend locks its
// key's row until it commits, so the spends of a hot key wait for each
// other's commits whatever the pool's size; together they wait for one.

// Within a group's transaction, the rows of a run are locked in a fixed
// order, keys by id and then owners by name, as a spend alone locks its key
// before its owner, so that groups of several instances and single spends
// never deadlock. The credits are read as a spend sees them ($2 and $3 the
// starts of the current UTC day and month).
var (
	lockKeyCredits   = `SELECT id, ` + creditsLeft + ` FROM keys WHERE id = ANY($1) ORDER BY id FOR UPDATE`
	lockOwnerCredits = `SELECT name, ` + creditsLeft + ` FROM owners WHERE name = ANY($1) ORDER BY name FOR UPDATE`
	creditsLeft      = strings.NewReplacer("$3", "$2", "$4", "$3").Replace(`CASE WHEN remaining IS NULL THEN -1 ELSE ` + credits + ` END`)
)

// SpendCredits spends a key's credits and, with an owner, the owner's, both
// or neither (see keyward.Store), in a group commit with the spends that
// wait beside it. A spend whose ctx ends before its group runs spends
// nothing and returns the context's error.
func (s *Store) SpendCredits(ctx context.Context, sp keyward.CreditSpend) (keyward.CreditBalance, error) {
	return s.spends.Spend(ctx, sp)
}

// runSpends runs a group of spends and answers each: a group of one as a
// spend alone, a larger one in one transaction. A database error fails the
// whole group: nothing of it is written, and each spend gets the error.
func (s *Store) runSpends(ctx context.Context, group []*spendgroup.Call) {
	if len(group) == 1 {
		c := group[0]
		if c.Err = c.Ctx.Err(); c.Err != nil {
			c.Balance = spendgroup.None
			return
		}
		c.Balance, c.Err = s.spendAlone(ctx, c.Spend)
		return
	}
	keyOf := func(sp keyward.CreditSpend) string { return sp.KeyID }
	ownerOf := func(sp keyward.CreditSpend) string { return sp.Owner }
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if runs(group) > 1 {
			// A group across midnight: lock all its rows first, in the one
			// order, so that a later run never locks a key after an owner.
			day, month := keyward.RefillBoundaries(group[0].Spend.Now)
			if _, err := lockCredits(ctx, tx, lockKeyCredits, group, keyOf, day, month); err != nil {
				return err
			}
			if _, err := lockCredits(ctx, tx, lockOwnerCredits, group, ownerOf, day, month); err != nil {
				return err
			}
		}
		return spendgroup.Runs(group, func(day, month time.Time, run []*spendgroup.Call) error {
			keys, err := lockCredits(ctx, tx, lockKeyCredits, run, keyOf, day, month)
			if err != nil {
				return err
			}
			owners, err := lockCredits(ctx, tx, lockOwnerCredits, run, ownerOf, day, month)
			if err != nil {
				return err
			}
			if err := spendgroup.Decide(run, lookup(keys), lookup(owners), notFound); err != nil {
				return err
			}
			return takeCredits(ctx, tx, keys, owners, day, month)
		})
	})
	if err != nil {
		spendgroup.Fail(group, s.fail(ctx, err, "spend credits", ""))
	}
}

// runs returns the number of runs of group (see spendgroup.Runs).
func runs(group []*spendgroup.Call) int {
	n := 0
	spendgroup.Runs(group, func(time.Time, time.Time, []*spendgroup.Call) error { n++; return nil })
	return n
}

// lockCredits locks and reads, with query, the rows that name gives for the
// spends of run (a row that does not exist is absent from the map).
func lockCredits(ctx context.Context, tx pgx.Tx, query string, run []*spendgroup.Call, name func(keyward.CreditSpend) string, day, month time.Time) (map[string]*spendgroup.Row, error) {
	var ids []string
	for _, c := range run {
		if id := name(c.Spend); id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	rows, err := tx.Query(ctx, query, slices.Compact(ids), day, month)
	if err != nil {
		return nil, err
	}
	out := map[string]*spendgroup.Row{}
	var id string
	var left int64
	_, err = pgx.ForEachRow(rows, []any{&id, &left}, func() error {
		out[id] = &spendgroup.Row{Found: true, Left: left}
		return nil
	})
	return out, err
}

// lookup returns the rows of m by id; a row m lacks has no credits.
func lookup(m map[string]*spendgroup.Row) func(string) (*spendgroup.Row, error) {
	return func(id string) (*spendgroup.Row, error) {
		if r, ok := m[id]; ok {
			return r, nil
		}
		r := &spendgroup.Row{Left: -1}
		m[id] = r
		return r, nil
	}
}

// takeCredits writes, in one round trip, what the run took from each row a
// spend paid from (a due refill is then stored, even at cost 0),
// with the conditional spend statements; each row must end where the run's
// decisions say.
func takeCredits(ctx context.Context, tx pgx.Tx, keys, owners map[string]*spendgroup.Row, day, month time.Time) error {
	b := &pgx.Batch{}
	type taken struct {
		id  string
		row *spendgroup.Row
	}
	var order []taken
	for _, t := range []struct {
		query string
		rows  map[string]*spendgroup.Row
	}{{spendKeyCredits, keys}, {spendOwnerCredits, owners}} {
		for id, row := range t.rows {
			if row.Spent {
				b.Queue(t.query, id, row.Taken, day, month)
				order = append(order, taken{id, row})
			}
		}
	}
	if len(order) == 0 {
		return nil
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for _, t := range order {
		c, err := scanCredits(br.QueryRow())
		if err != nil {
			return err
		}
		if c.took == nil || *c.took != t.row.Left {
			return fmt.Errorf("taking %d credits from %q left %v, want %d", t.row.Taken, t.id, c.took, t.row.Left)
		}
	}
	return br.Close()
}
