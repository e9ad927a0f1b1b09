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
	p atomic.Pointer[memoEntry]
}

type memoEntry struct {
	hash string
	sum  [sha256.Size]byte
}

// EnableVerifyMemo lets Verify remember, in k itself, the SHA-256 of the
// secret that matched k.Hash, and check later presentations of that secret
// against it instead of running the Hasher again. A caching Store calls it
// on each key it loads, before handing that instance to any caller; the
// memo lives as long as the cached instance (package cache drops it on any
// write to the key and after its TTL). Clone does not copy the memo.
func (k *Key) EnableVerifyMemo() {
	if k.memo == nil {
		k.memo = new(verifyMemo)
	}
}

// checkSecret reports whether secret matches k's hash, and whether the hash
// should be redone with the current scheme. A key with a memo is answered
// from the memo when this secret matched before; any other answer comes from
// the Hasher.
func (s *Service) checkSecret(k *Key, secret string) (ok, rehash bool) {
	m := k.memo
	if m == nil {
		return s.hasher.Verify(secret, k.Hash)
	}
	sum := sha256.Sum256(stringBytes(secret))
	if e := m.p.Load(); e != nil && e.hash == k.Hash && subtle.ConstantTimeCompare(e.sum[:], sum[:]) == 1 {
		return true, false
	}
	ok, rehash = s.hasher.Verify(secret, k.Hash)
	if ok {
		m.p.Store(&memoEntry{hash: k.Hash, sum: sum})
	}
	return ok, rehash
}

// checkUnknown spends on an unknown id the work a wrong secret costs: the
// digest a memo would compare, and a hash comparison.
func (s *Service) checkUnknown(secret string) {
	sum := sha256.Sum256(stringBytes(secret))
	subtle.ConstantTimeCompare(sum[:], s.dummySum[:])
	s.hasher.Verify(secret, s.dummy)
}
