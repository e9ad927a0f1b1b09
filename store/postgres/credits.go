package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// The credit rule of [keyward.Store.SpendCredits] in SQL, on a row of a
// table with credit columns (keys, owners): $1 is the key id or owner name,
// $2 the cost, $3 and $4 the starts of the current UTC day and month.
const (
	periodStart = `(CASE WHEN refill_interval = 'monthly' THEN $4::timestamptz ELSE $3::timestamptz END)`
	refillDue   = `(refill_interval IS NOT NULL AND refill_amount IS NOT NULL AND (refilled_at IS NULL OR refilled_at < ` + periodStart + `))`
	credits     = `(CASE WHEN ` + refillDue + ` THEN refill_amount ELSE remaining END)`

	// spendSet and spendWhere take $2 credits from a row that has enough, in
	// one conditional write. SET expressions all see the row before the
	// update; a row changed by a concurrent transaction is checked again in
	// its new version before it is written.
	spendSet = `remaining = ` + credits + ` - $2,
	refilled_at = CASE WHEN ` + refillDue + ` THEN ` + periodStart + ` ELSE refilled_at END`
	spendWhere = `remaining IS NOT NULL AND ` + credits + ` >= $2`
	// spendResult is, beside the spend, the credits left after it (NULL if
	// nothing was taken) and the credits of the row as the statement's
	// snapshot saw them (-1 for none counted), so that a refusal needs no
	// second query to tell why.
	spendResult = `(SELECT remaining FROM spent), CASE WHEN remaining IS NULL THEN -1 ELSE ` + credits + ` END`

	spendKeyCredits = `WITH spent AS (UPDATE keys SET ` + spendSet + ` WHERE id = $1 AND ` + spendWhere + ` RETURNING remaining)
	SELECT ` + spendResult + ` FROM keys WHERE id = $1`
	spendOwnerCredits = `WITH spent AS (UPDATE owners SET ` + spendSet + ` WHERE name = $1 AND ` + spendWhere + ` RETURNING remaining)
	SELECT ` + spendResult + ` FROM owners WHERE name = $1`
)

// rowCredits is what a spend statement found in one row (of keys or owners).
type rowCredits struct {
	found bool
	took  *int64 // credits left after the spend, nil if nothing was taken
	seen  int64  // credits before it, as the statement's snapshot saw them; -1 for none
}

// scanCredits reads the result of spendKeyCredits or spendOwnerCredits.
func scanCredits(row pgx.Row) (rowCredits, error) {
	c := rowCredits{found: true}
	err := row.Scan(&c.took, &c.seen)
	if errors.Is(err, pgx.ErrNoRows) {
		return rowCredits{seen: -1}, nil
	}
	return c, err
}

// spent reports whether the row let the spend through: it took the cost or
// counts no credits.
func (c rowCredits) spent() bool { return c.took != nil || c.seen < 0 }

// stale reports a refusal of a row whose snapshot showed enough credits: it
// changed while the statement ran (a concurrent spend or top-up), so the
// refusal is right but the count it reports is old. The caller asks again.
func (c rowCredits) stale(cost int64) bool { return !c.spent() && c.seen >= cost }

// left returns the credits left after the spend.
func (c rowCredits) left() int64 {
	if c.took != nil {
		return *c.took
	}
	return c.seen
}

// before returns the credits before the spend: what a refused spend reports
// once its transaction is rolled back.
func (c rowCredits) before(cost int64) int64 {
	if c.took != nil {
		return *c.took + cost
	}
	return c.seen
}

// errRefused rolls back a spend that the key or the owner refused.
var errRefused = errors.New("postgres: credits refused")

// spendAttempts bounds the retries of a spend whose refusal was stale.
const spendAttempts = 3

// spendAlone spends a key's credits in one statement. With an owner, the
// key's and the owner's statements run in one transaction, in one round
// trip, locking the key's row before the owner's (so concurrent spends never
// deadlock), and it is rolled back unless both have enough.
func (s *Store) spendAlone(ctx context.Context, sp keyward.CreditSpend) (keyward.CreditBalance, error) {
	none := keyward.CreditBalance{Key: -1, Owner: -1}
	day, month := keyward.RefillBoundaries(sp.Now)
	for attempt := 1; ; attempt++ {
		var key, owner rowCredits
		var err error
		if sp.Owner == "" {
			key, err = scanCredits(s.pool.QueryRow(ctx, spendKeyCredits, sp.KeyID, sp.Cost, day, month))
			owner = rowCredits{seen: -1}
		} else {
			key, owner, err = s.spendBoth(ctx, sp, day, month)
		}
		switch {
		case err != nil:
			return none, s.fail(ctx, err, "spend credits of key", sp.KeyID)
		case !key.found:
			return none, notFound(sp.KeyID)
		case key.spent() && owner.spent():
			return keyward.CreditBalance{Spent: true, Key: key.left(), Owner: owner.left()}, nil
		case (key.stale(sp.Cost) || owner.stale(sp.Cost)) && attempt < spendAttempts:
			continue
		}
		return keyward.CreditBalance{Key: key.before(sp.Cost), Owner: owner.before(sp.Cost)}, nil
	}
}

// spendBoth runs the key's and the owner's spends in one transaction,
// committed only when both let it through.
func (s *Store) spendBoth(ctx context.Context, sp keyward.CreditSpend, day, month time.Time) (key, owner rowCredits, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(spendKeyCredits, sp.KeyID, sp.Cost, day, month)
		b.Queue(spendOwnerCredits, sp.Owner, sp.Cost, day, month)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		var err error
		if key, err = scanCredits(br.QueryRow()); err != nil {
			return err
		}
		if owner, err = scanCredits(br.QueryRow()); err != nil {
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		if key.found && key.spent() && owner.spent() {
			return nil
		}
		return errRefused
	})
	if errors.Is(err, errRefused) {
		err = nil
	}
	return key, owner, err
}
