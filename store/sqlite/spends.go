package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/spendgroup"
)

// Credit spends commit in groups (internal/spendgroup): SQLite has one
// writer, and a spend alone is a write transaction per verified request.

// SpendCredits spends a key's credits and, with an owner, the owner's, both
// or neither (see keyward.Store), in a group commit with the spends that
// wait beside it. A spend whose ctx ends before its group runs spends
// nothing and returns the context's error.
func (s *Store) SpendCredits(ctx context.Context, sp keyward.CreditSpend) (keyward.CreditBalance, error) {
	if err := s.prepare(ctx); err != nil {
		return spendgroup.None, err
	}
	return s.spends.Spend(ctx, sp)
}

// runSpends runs a group of spends in one transaction and answers each. A
// database error fails the whole group: nothing of it is written, and each
// spend gets the error.
func (s *Store) runSpends(ctx context.Context, group []*spendgroup.Call) {
	if len(group) == 1 {
		s.spendAlone(ctx, group[0])
		return
	}
	err := s.inTx(ctx, "spending credits", func(tx *sql.Tx) error {
		st := s.credit.in(ctx, tx)
		return spendgroup.Runs(group, func(day, month time.Time, run []*spendgroup.Call) error {
			r := spendRun{ctx: ctx, st: st, day: day, month: month,
				keys: map[string]*spendgroup.Row{}, owners: map[string]*spendgroup.Row{}}
			err := spendgroup.Decide(run, r.tally(r.keys, st.keyRead), r.tally(r.owners, st.ownerRead), notFound)
			if err != nil {
				return err
			}
			if err := r.write(st.keySpend, r.keys); err != nil {
				return err
			}
			return r.write(st.ownerSpend, r.owners)
		})
	})
	if err != nil {
		spendgroup.Fail(group, err)
	}
}

// spendAlone runs a group of one as it would run without groups, which
// costs an idle store least: a key's spend as one statement, a spend with
// an owner in a transaction rolled back when refused.
func (s *Store) spendAlone(ctx context.Context, p *spendgroup.Call) {
	if p.Err = p.Ctx.Err(); p.Err != nil {
		p.Balance = spendgroup.None
		return
	}
	if p.Spend.Owner == "" {
		p.Balance, _, p.Err = spendOne(ctx, s.credit, p.Spend)
		if p.Err != nil && !errors.Is(p.Err, keyward.ErrNotFound) {
			p.Err = s.wrap(ctx, "spending credits", p.Err)
		}
		return
	}
	err := s.inTx(ctx, "spending credits", func(tx *sql.Tx) error {
		bal, keep, err := spendOne(ctx, s.credit.in(ctx, tx), p.Spend)
		switch {
		case errors.Is(err, keyward.ErrNotFound):
			return passthrough{err}
		case err != nil:
			return err
		}
		p.Balance = bal
		if !keep {
			return passthrough{errRefused}
		}
		return nil
	})
	switch {
	case errors.Is(err, errRefused):
		p.Err = nil
	case err != nil:
		p.Balance, p.Err = spendgroup.None, err
	}
}

// spendRun is one run of a group: the rows it read, by key id and owner
// name, and the statements of the group's transaction.
type spendRun struct {
	ctx        context.Context
	st         creditStmts // bound to the group's transaction
	day, month time.Time
	keys       map[string]*spendgroup.Row
	owners     map[string]*spendgroup.Row
}

func (r *spendRun) args(id string, cost int64) []any {
	return []any{ms(r.day), ms(r.month), cost, id}
}

// tally returns the lookup of the rows of m, each read once with read.
func (r *spendRun) tally(m map[string]*spendgroup.Row, read *sql.Stmt) func(string) (*spendgroup.Row, error) {
	return func(id string) (*spendgroup.Row, error) {
		if row, ok := m[id]; ok {
			return row, nil
		}
		c, err := readCredits(r.ctx, read, r.args(id, 0))
		if err != nil {
			return nil, err
		}
		row := &spendgroup.Row{Found: c.found, Left: c.left}
		m[id] = row
		return row, nil
	}
}

// write takes from each row of m that a spend paid from what the run took
// (a due refill is then stored, even at cost 0), with the conditional spend
// statement; the row must end where the run's tally says.
func (r *spendRun) write(stmt *sql.Stmt, m map[string]*spendgroup.Row) error {
	for id, row := range m {
		if !row.Spent {
			continue
		}
		var left int64
		if err := stmt.QueryRowContext(r.ctx, r.args(id, row.Taken)...).Scan(&left); err != nil {
			return fmt.Errorf("taking %d credits from %q: %w", row.Taken, id, err)
		}
		if left != row.Left {
			return fmt.Errorf("taking %d credits from %q left %d, want %d", row.Taken, id, left, row.Left)
		}
	}
	return nil
}
