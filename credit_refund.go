package keyward

import (
	"context"
	"time"
)

// CreditRefunder is the optional part of a [Store] that gives credits back:
// the credits a [Service] took ahead of its spends (a credit lease, see
// [Options.CreditLease]) and did not spend. The stores of this module
// implement it, and so do their wrappers (packages cache and metrics), which
// return an error matching ErrUnsupported when the store they wrap does not.
type CreditRefunder interface {
	// RefundCredits adds r.Amount to the credits of the key with id
	// r.KeyID, when r.KeyID is not "", and to those of the owner record
	// named r.Owner, when r.Owner is not "": each row on its own, and only
	// when nothing but spends changed its credits since they were taken.
	// A row gets nothing back when:
	//   - it no longer counts credits, or no longer exists;
	//   - its record was written since (its UpdatedAt is no longer
	//     r.KeyUpdatedAt or r.OwnerUpdatedAt): the write set its credits;
	//   - its refill period changed since r.Taken (a refill interval set
	//     and the refill of a later period applied): the refill replaced
	//     the credits.
	// An Amount of 0 writes nothing and returns at once: with no error, a
	// Store supports refunds.
	RefundCredits(ctx context.Context, r CreditRefund) (CreditRefunded, error)
}

// CreditRefund is a request to [CreditRefunder.RefundCredits].
type CreditRefund struct {
	KeyID string // "" for no key row
	Owner string // "" for no owner row
	// Amount is the credits given back to each row, ≥ 0.
	Amount int64
	// Taken is when the credits were taken (the Now of their spend).
	Taken time.Time
	// KeyUpdatedAt and OwnerUpdatedAt are the UpdatedAt of the key and
	// owner records the credits were taken with.
	KeyUpdatedAt, OwnerUpdatedAt time.Time
}

// CreditRefunded reports which rows of a [CreditRefund] got the credits
// back.
type CreditRefunded struct {
	Key, Owner bool
}

// RefundCredits gives credits back through the store of a [Service] when it
// implements [CreditRefunder]: the library's way for wrappers of a Store
// (package cache) to forward the call. It returns ErrUnsupported when store
// does not implement it.
func RefundCredits(ctx context.Context, store Store, r CreditRefund) (CreditRefunded, error) {
	cr, ok := store.(CreditRefunder)
	if !ok {
		return CreditRefunded{}, ErrUnsupported
	}
	return cr.RefundCredits(ctx, r)
}
