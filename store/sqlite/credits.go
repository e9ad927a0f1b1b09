package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/keyward/keyward"
)

// The credit rule of Store.SpendCredits in SQL, on a row of a table with
// credit columns (keys, owners): ?1 is the start of the UTC day, ?2 of the
// UTC month, ?3 the cost and ?4 the key id or owner name.
const (
	refillStart = `(CASE refill_interval WHEN 'monthly' THEN ?2 ELSE ?1 END)`
	refillDue   = `(refill_interval IS NOT NULL AND (refilled_at IS NULL OR refilled_at < ` + refillStart + `))`
	effective   = `(CASE WHEN ` + refillDue + ` THEN refill_amount ELSE remaining END)`

	spendKeySQL     = `UPDATE keys SET ` + spendSet + ` WHERE id = ?4 AND ` + spendWhere
	spendOwnerSQL   = `UPDATE owners SET ` + spendSet + ` WHERE name = ?4 AND ` + spendWhere
	keyCreditsSQL   = `SELECT ` + creditsLeft + ` FROM keys WHERE id = ?4`
	ownerCreditsSQL = `SELECT ` + creditsLeft + ` FROM owners WHERE name = ?4`

	// spendSet and spendWhere take ?3 credits from a row that has enough, in
	// one conditional write (SET expressions all see the row before it).
	spendSet = `remaining = ` + effective + ` - ?3,
	refilled_at = CASE WHEN ` + refillDue + ` THEN ` + refillStart + ` ELSE refilled_at END`
	spendWhere = `remaining IS NOT NULL AND ` + effective + ` >= ?3 RETURNING remaining`
	// creditsLeft is the credits of a row as a spend sees them, -1 for none.
	creditsLeft = `CASE WHEN remaining IS NULL THEN -1 ELSE ` + effective + ` END`
)

// rowCredits is what a spend found in one row (of keys or owners).
type rowCredits struct {
	found bool  // the row exists
	spent bool  // the cost was taken, or the row counts no credits
	took  bool  // the row was written
	left  int64 // credits left after the spend, -1 for none counted
}

// before returns the credits the row had before the spend: what a refused
// spend reports once the transaction is rolled back.
func (c rowCredits) before(cost int64) int64 {
	if c.took {
		return c.left + cost
	}
	return c.left
}

// creditStmts are the prepared statements of a spend, on the writer: the
// conditional spends of a key and of an owner, and the reads of their
// credits when a spend writes nothing.
type creditStmts struct {
	keySpend, ownerSpend, keyRead, ownerRead *sql.Stmt
}

// in returns the statements bound to tx.
func (c creditStmts) in(ctx context.Context, tx *sql.Tx) creditStmts {
	return creditStmts{tx.StmtContext(ctx, c.keySpend), tx.StmtContext(ctx, c.ownerSpend),
		tx.StmtContext(ctx, c.keyRead), tx.StmtContext(ctx, c.ownerRead)}
}

// spendRow runs the conditional spend and, when it writes nothing, reads the
// row with read to tell why. args are ?1-?4.
func spendRow(ctx context.Context, spend, read *sql.Stmt, args []any) (rowCredits, error) {
	var left int64
	err := spend.QueryRowContext(ctx, args...).Scan(&left)
	if err == nil {
		return rowCredits{found: true, spent: true, took: true, left: left}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return rowCredits{}, err
	}
	return readCredits(ctx, read, args)
}

// readCredits reads the credits of a row with read, as a spend of args[2]
// sees them.
func readCredits(ctx context.Context, read *sql.Stmt, args []any) (rowCredits, error) {
	var left int64
	err := read.QueryRowContext(ctx, args...).Scan(&left)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return rowCredits{spent: true, left: -1}, nil
	case err != nil:
		return rowCredits{}, err
	}
	return rowCredits{found: true, spent: left < 0, left: left}, nil
}

// errRefused rolls back a spend run alone that one of key and owner refused.
var errRefused = errors.New("sqlite: credits refused")

// spendOne runs the spend of sp with st: the key's conditional UPDATE and,
// with an owner, the owner's, reading a row when its UPDATE writes nothing;
// with an owner, all of them belong to one transaction.
// keep is false when the spend must be undone (the owner refused what the
// key took; see keyward.Store). It returns ErrNotFound for a key that does
// not exist, and other errors as the database gives them.
func spendOne(ctx context.Context, st creditStmts, sp keyward.CreditSpend) (bal keyward.CreditBalance, keep bool, err error) {
	bal = keyward.CreditBalance{Key: -1, Owner: -1}
	day, month := keyward.RefillBoundaries(sp.Now)
	args := func(id string) []any { return []any{ms(day), ms(month), sp.Cost, id} }
	key, err := spendRow(ctx, st.keySpend, st.keyRead, args(sp.KeyID))
	if err != nil {
		return bal, false, err
	}
	if !key.found {
		return bal, false, notFound(sp.KeyID)
	}
	if sp.Owner == "" {
		return keyward.CreditBalance{Spent: key.spent, Key: key.left, Owner: -1}, true, nil
	}
	var owner rowCredits
	if key.spent {
		owner, err = spendRow(ctx, st.ownerSpend, st.ownerRead, args(sp.Owner))
	} else {
		owner, err = readCredits(ctx, st.ownerRead, args(sp.Owner)) // to report it
	}
	if err != nil {
		return bal, false, err
	}
	if !key.spent || !owner.spent {
		bal.Key, bal.Owner = key.before(sp.Cost), owner.before(sp.Cost)
		return bal, false, nil
	}
	return keyward.CreditBalance{Spent: true, Key: key.left, Owner: owner.left}, true, nil
}
