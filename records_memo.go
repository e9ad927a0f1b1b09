package keyward

import (
	"context"
	"errors"
	"time"
)

// RecordCache is implemented by a Store that caches owner records and roles
// (package cache). It lets a verification of a key instance that keeps a
// memo (see [Key.EnableVerifyMemo]) reuse the owner record, the roles and the
// effective scopes that an earlier verification of that instance read,
// instead of asking the store for each of them again.
type RecordCache interface {
	// RecordsEpoch returns a value that changes whenever an answer of
	// GetOwner or GetRole given before may differ from the answer it would
	// give now: a record was dropped, replaced or loaded, here or (through
	// the store's bus) elsewhere, or enough time passed for a cached record
	// to come due for its reload. Equal epochs mean every earlier answer is
	// still the store's answer. now is the verification's time when the
	// Service is on the wall clock (a reading of time.Now that a store on
	// the wall clock may use instead of reading it again), else the zero
	// time; a store on its own clock reads that clock.
	RecordsEpoch(now time.Time) RecordEpoch
}

// KeyGetterAt is implemented by a Store that can take the time of a lookup
// from its caller (package cache): Verify passes the reading of the wall
// clock it took when it started, and only when its own clock is the wall
// clock, so that a cache hit reads the clock once per verification instead of
// twice. GetAt(ctx, id, time.Time{}) is Get.
type KeyGetterAt interface {
	GetAt(ctx context.Context, id string, now time.Time) (*Key, error)
}

// RecordEpoch is a moment of a [RecordCache]: how many times its records
// changed, and which period of its clock it is in.
type RecordEpoch struct {
	Changes uint64
	Period  int64
}

// recordsMemo is what a key instance's verifications read beside the key:
// its owner record (nil when the key has no owner or its owner no record)
// and its effective scopes, as of one epoch of the store's record cache.
type recordsMemo struct {
	epoch  RecordEpoch
	owner  *Owner
	scopes []string // nil when the key has no roles: its own scopes are used
}

// keyRecords returns the owner record and roles of k as its memo holds them
// for the store's current epoch, reading them into the memo when the epoch
// moved. It returns nil, and the caller reads them as usual, for a key
// without a memo or without an owner and roles, a store that caches no
// records, a verification that asks for fresh reads, or a read that failed
// (the caller's own reads then meet the same error where the contract's
// order of checks puts it).
func (s *Service) keyRecords(ctx context.Context, k *Key, start time.Time) *recordsMemo {
	m := k.memo
	if m == nil || s.records == nil || (k.Owner == "" && len(k.Roles) == 0) || FreshFromContext(ctx) {
		return nil
	}
	epoch := s.records.RecordsEpoch(s.wallTime(start))
	if cur := m.records.Load(); cur != nil && cur.epoch == epoch {
		return cur
	}
	rm := &recordsMemo{epoch: epoch}
	if k.Owner != "" {
		o, err := s.store.GetOwner(ctx, k.Owner)
		switch {
		case err == nil:
			rm.owner = o
		case !errors.Is(err, ErrNotFound):
			return nil
		}
	}
	if len(k.Roles) > 0 {
		var buf [MaxKeyRoles]*Role
		roles, err := s.readRoles(ctx, k, buf[:0])
		if err != nil {
			return nil
		}
		rm.scopes = scopesOf(k, roles)
	}
	m.records.Store(rm)
	return rm
}

// wallTime returns start, a verification's reading of time.Now, when the
// Service is on the wall clock; else the zero time, which lets a store read
// its own clock (see KeyGetterAt).
func (s *Service) wallTime(start time.Time) time.Time {
	if s.wallClock {
		return start
	}
	return time.Time{}
}

// getKey is store.Get, at the verification's start when the store takes it.
func (s *Service) getKey(ctx context.Context, id string, start time.Time) (*Key, error) {
	if s.getAt != nil {
		return s.getAt.GetAt(ctx, id, s.wallTime(start))
	}
	return s.store.Get(ctx, id)
}
