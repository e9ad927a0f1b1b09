package sqlite

import (
	"context"
	"database/sql"

	"github.com/keyward/keyward"
)

// refundWhere is the guard of keyward.CreditRefunder on a row of keys or
// owners: ?1 and ?2 are the day and month starts when the credits were
// taken, ?3 the amount, ?4 the id or name, ?5 the record's updated_at then.
// A spend of a row with a refill leaves refilled_at at its period's start,
// so a refill of a later period shows as a refilled_at that moved.
const (
	refundWhere = ` AND remaining IS NOT NULL AND updated_at = ?5
	AND (refill_interval IS NULL OR refilled_at = ` + refillStart + `)`
	refundKeySQL   = `UPDATE keys SET remaining = remaining + ?3 WHERE id = ?4` + refundWhere
	refundOwnerSQL = `UPDATE owners SET remaining = remaining + ?3 WHERE name = ?4` + refundWhere
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
	err := s.inTx(ctx, "refunding credits", func(tx *sql.Tx) error {
		for _, row := range []struct {
			sql, id string
			at      int64
			done    *bool
		}{
			{refundKeySQL, r.KeyID, ms(r.KeyUpdatedAt), &back.Key},
			{refundOwnerSQL, r.Owner, ms(r.OwnerUpdatedAt), &back.Owner},
		} {
			if row.id == "" {
				continue
			}
			res, err := tx.ExecContext(ctx, row.sql, ms(day), ms(month), r.Amount, row.id, row.at)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			*row.done = n == 1
		}
		return nil
	})
	if err != nil {
		return keyward.CreditRefunded{}, err
	}
	return back, nil
}
