package keyward

import (
	"crypto/sha256"
	"crypto/subtle"
	"sync/atomic"
)

// A verified-secret memo lets a key instance that many Verify calls share (a
// caching Store's copy) skip the Hasher once its secret has matched: it keeps
// the SHA-256 of that secret, in memory only, next to the hash it matched.
// A later presentation is checked by its SHA-256 in constant time, which
// costs one SHA-256 block instead of HMAC-SHA256's two and its set-up, or
// instead of Argon2id or bcrypt. The memo is bound to the hash string, so a
// copy of the key with another hash (a rotation, a rehash) never uses it.
type verifyMemo struct {
	p       atomic.Pointer[memoEntry]
	plan    atomic.Pointer[limitPlan]   // the key's rate checks, with those of plan.owner
	scopes  atomic.Pointer[scopeSet]    // the key's effective scopes, with its role instances
	records atomic.Pointer[recordsMemo] // its owner record and effective scopes, for one epoch of a RecordCache
	lease   atomic.Pointer[creditLease] // its credit lease entry (credit_leases.go)
}

type memoEntry struct {
	svc    *Service // the Service whose hasher accepted the secret
	hash   string
	sum    [sha256.Size]byte
	rehash bool // what the hasher said: the hash should be redone
}

// EnableVerifyMemo lets Verify remember, in k itself, the SHA-256 of the
// secret that matched k.Hash, and check later presentations of that secret
// against it instead of running the Hasher again. A caching Store calls it
// on each key it loads, before handing that instance to any caller; the
// memo lives as long as the cached instance (package cache replaces it after
// any write to the key and after its TTL). Clone does not copy the memo. A
// memo answers only the Service that filled it, so Services with different
// hashers or peppers may share one caching Store.
//
// The memo also keeps the key's rate checks (counter names and limits,
// with those of its owner's record), so that a verification builds no
// strings.
func (k *Key) EnableVerifyMemo() {
	if k.memo == nil {
		k.memo = new(verifyMemo)
	}
}

// checkSecret reports whether secret matches k's hash, and whether the hash
// should be redone with the current scheme. A key with a memo is answered
// from the memo when this secret matched before; any other answer comes from
// the Hasher. The secret's digest is computed in every case, so that a wrong
// secret costs the same with or without a memo, and the same as an unknown
// id (checkUnknown).
func (s *Service) checkSecret(k *Key, secret string) (ok, rehash bool) {
	sum := sha256.Sum256(stringBytes(secret))
	m := k.memo
	if m == nil {
		subtle.ConstantTimeCompare(sum[:], s.dummySum[:])
		return s.hasher.Verify(secret, k.Hash)
	}
	if e := m.p.Load(); e != nil && e.svc == s && e.hash == k.Hash && subtle.ConstantTimeCompare(e.sum[:], sum[:]) == 1 {
		return true, e.rehash
	}
	ok, rehash = s.hasher.Verify(secret, k.Hash)
	if ok {
		m.p.Store(&memoEntry{svc: s, hash: k.Hash, sum: sum, rehash: rehash})
	}
	return ok, rehash
}

// checkUnknown spends on an unknown id the work a wrong secret costs: the
// digest and its comparison, and a hash comparison.
func (s *Service) checkUnknown(secret string) {
	sum := sha256.Sum256(stringBytes(secret))
	subtle.ConstantTimeCompare(sum[:], s.dummySum[:])
	s.hasher.Verify(secret, s.dummy)
}
