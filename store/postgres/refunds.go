package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// refundWhere is the guard of keyward.CreditRefunder on a row of keys or
// owners: $1 is the id or name, $2 the amount, $3 and $4 the day and month
// starts when the credits were taken, $5 the record's updated_at then. A
// spend of a row with a refill leaves refilled_at at its period's start, so
// a refill of a later period shows as a refilled_at that moved.
const (
	refundWhere = ` AND remaining IS NOT NULL AND updated_at = $5
	AND (refill_interval IS NULL OR refilled_at = ` + periodStart + `)`
	refundKeySQL   = `UPDATE keys SET remaining = remaining + $2 WHERE id = $1` + refundWhere
	refundOwnerSQL = `UPDATE owners SET remaining = remaining + $2 WHERE name = $1` + refundWhere
)

var _ keyward.CreditRefunder = (*Store)(nil)

// RefundCredits gives back credits taken ahead of spends (see
// keyward.CreditRefunder), the key's and the owner's rows in one
// transaction.
func (s *Store) RefundCredits(ctx context.Context, r keyward.CreditRefund) (keyward.CreditRefunded, error) {
	var back keyward.CreditRefunded
	if r.Amount <= 0 || r.KeyID == "" && r.Owner == "" {
		return back, nil
	}
	day, month := keyward.RefillBoundaries(r.Taken)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, row := range []struct {
			sql, id string
			at      any
			done    *bool
		}{
			{refundKeySQL, r.KeyID, r.KeyUpdatedAt, &back.Key},
			{refundOwnerSQL, r.Owner, r.OwnerUpdatedAt, &back.Owner},
		} {
			if row.id == "" {
				continue
			}
			tag, err := tx.Exec(ctx, row.sql, row.id, r.Amount, day, month, row.at)
			if err != nil {
				return err
			}
			*row.done = tag.RowsAffected() == 1
		}
		return nil
	})
	if err != nil {
		return keyward.CreditRefunded{}, s.fail(ctx, err, "refunding credits", r.KeyID)
	}
	return back, nil
}
