package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/keyward/keyward"
)

// Credit spends commit in groups. SQLite has one writer, and a spend is a
// write transaction per verified request: alone it costs a transaction's
// begin and commit for two small UPDATEs. Spends that arrive while one
// group runs wait and go together into the next one transaction, each in
// its own savepoint, so a refused spend is undone alone and every spend
// stays as exact as in a transaction of its own. An idle store runs a spend
// at once; a busy one commits once for many.

// spendQueue is the spends waiting for the next group. The spend that finds
// no group running leads: it takes every waiting spend (its own among them),
// runs them, answers each, then wakes the first spend that came meanwhile,
// which leads the next group.
type spendQueue struct {
	mu      sync.Mutex
	waiting []*pendingSpend
	running bool
	groups  atomic.Int64 // groups run, for tests
}

// pendingSpend is one SpendCredits call in the queue.
type pendingSpend struct {
	ctx      context.Context
	sp       keyward.CreditSpend
	bal      keyward.CreditBalance
	err      error
	answered bool          // set before wake: bal and err are its answer
	wake     chan struct{} // answered, or leads the next group
}

// SpendCredits spends a key's credits and, with an owner, the owner's, both
// or neither (see keyward.Store), in a group commit with the spends that
// wait beside it. A spend whose ctx ends before its group runs spends
// nothing and returns the context's error.
func (s *Store) SpendCredits(ctx context.Context, sp keyward.CreditSpend) (keyward.CreditBalance, error) {
	none := keyward.CreditBalance{Key: -1, Owner: -1}
	if err := s.prepare(ctx); err != nil {
		return none, err
	}
	p := &pendingSpend{ctx: ctx, sp: sp, wake: make(chan struct{}, 1)}
	q := &s.spends
	q.mu.Lock()
	q.waiting = append(q.waiting, p)
	lead := !q.running
	q.running = true
	q.mu.Unlock()
	if !lead {
		<-p.wake
		if p.answered {
			return p.bal, p.err
		}
	}
	q.mu.Lock()
	group := q.waiting
	q.waiting = nil
	q.mu.Unlock()
	s.runSpends(group)
	q.mu.Lock()
	if len(q.waiting) > 0 {
		q.waiting[0].wake <- struct{}{} // it leads the next group
	} else {
		q.running = false
	}
	q.mu.Unlock()
	return p.bal, p.err
}

// runSpends runs a group of spends in one transaction and answers each. A
// database error fails the whole group: nothing of it is written, and each
// spend gets the error.
func (s *Store) runSpends(group []*pendingSpend) {
	s.spends.groups.Add(1)
	ctx := context.Background() // the group's: one caller's end must not undo the others
	if len(group) == 1 {
		s.spendAlone(ctx, group[0])
		group[0].answered = true
		group[0].wake <- struct{}{}
		return
	}
	err := s.inTx(ctx, "spending credits", func(tx *sql.Tx) error {
		keyStmt, ownerStmt := tx.StmtContext(ctx, s.spendStmt), tx.StmtContext(ctx, s.ownerSpendStmt)
		for _, p := range group {
			if p.err = p.ctx.Err(); p.err != nil {
				p.bal = keyward.CreditBalance{Key: -1, Owner: -1}
				continue // its caller is gone: it spends nothing
			}
			if err := spendSaved(ctx, tx, keyStmt, ownerStmt, p); err != nil {
				return err
			}
		}
		return nil
	})
	for _, p := range group {
		if err != nil {
			p.bal, p.err = keyward.CreditBalance{Key: -1, Owner: -1}, err
		}
		p.answered = true
		p.wake <- struct{}{}
	}
}

// spendAlone runs a group of one as it would run without groups, which
// costs an idle store least: a key's spend as one statement, a spend with
// an owner in a transaction rolled back when refused.
func (s *Store) spendAlone(ctx context.Context, p *pendingSpend) {
	none := keyward.CreditBalance{Key: -1, Owner: -1}
	if p.err = p.ctx.Err(); p.err != nil {
		p.bal = none
		return
	}
	if p.sp.Owner == "" {
		p.bal, _, p.err = spendOne(ctx, s.reader, s.spendStmt, nil, p.sp)
		if p.err != nil && !errors.Is(p.err, keyward.ErrNotFound) {
			p.err = s.wrap("spending credits", p.err)
		}
		return
	}
	err := s.inTx(ctx, "spending credits", func(tx *sql.Tx) error {
		bal, keep, err := spendOne(ctx, tx, tx.StmtContext(ctx, s.spendStmt), tx.StmtContext(ctx, s.ownerSpendStmt), p.sp)
		switch {
		case errors.Is(err, keyward.ErrNotFound):
			return passthrough{err}
		case err != nil:
			return err
		}
		p.bal = bal
		if !keep {
			return passthrough{errRefused}
		}
		return nil
	})
	switch {
	case errors.Is(err, errRefused):
		p.err = nil
	case err != nil:
		p.bal, p.err = none, err
	}
}

// spendSaved runs p's spend in a savepoint of tx, rolled back to when the
// spend must be undone, and sets p's answer. It returns only the errors that
// fail the group. A key's spend alone is one conditional UPDATE, which
// writes all or nothing: it needs no savepoint.
func spendSaved(ctx context.Context, tx *sql.Tx, keyStmt, ownerStmt *sql.Stmt, p *pendingSpend) error {
	if p.sp.Owner == "" {
		bal, _, err := spendOne(ctx, tx, keyStmt, ownerStmt, p.sp)
		if err != nil && !errors.Is(err, keyward.ErrNotFound) {
			return err
		}
		p.bal, p.err = bal, err
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT spend"); err != nil {
		return err
	}
	bal, keep, err := spendOne(ctx, tx, keyStmt, ownerStmt, p.sp)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		p.bal, p.err = keyward.CreditBalance{Key: -1, Owner: -1}, err
		keep = false
	case err != nil:
		return err
	default:
		p.bal = bal
	}
	if !keep {
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO spend"); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, "RELEASE spend")
	return err
}
