package cache

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/keyward/keyward"
)

// Hasher remembers secrets that verified against a slow hash (Argon2id,
// bcrypt) by their SHA-256 digest, so the slow hash runs once per key per TTL
// instead of once per request. Wrong secrets are never remembered: they
// always pay the slow hash, as unknown ids do (the Service's dummy hash), so
// timing tells nothing. It is safe for concurrent use.
//
// Behind a cache [Store] it is not needed: keys verified through the cache
// remember their verified secret themselves (see keyward.Key.EnableVerifyMemo).
// Hasher is for Services that read a store without the cache.
type Hasher struct {
	next keyward.Hasher
	memo *otter.Cache[string, memo]
}

type memo struct {
	digest [sha256.Size]byte
	rehash bool
}

var _ keyward.Hasher = (*Hasher)(nil)

// NewHasher wraps a slow hasher. ttl is how long a verified secret is
// remembered (0 means 30s); at most max secrets are (0 means 100,000).
func NewHasher(next keyward.Hasher, ttl time.Duration, max int) (*Hasher, error) {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	if max <= 0 {
		max = 100_000
	}
	c, err := otter.New(&otter.Options[string, memo]{
		MaximumSize:      max,
		ExpiryCalculator: otter.ExpiryWriting[string, memo](ttl),
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Hasher{next: next, memo: c}, nil
}

// Hash hashes with the wrapped hasher.
func (h *Hasher) Hash(secret string) (string, error) { return h.next.Hash(secret) }

// Verify answers from memory when this secret verified against this hash
// string within the TTL, else asks the wrapped hasher.
func (h *Hasher) Verify(secret, encoded string) (ok, rehash bool) {
	digest := sha256.Sum256([]byte(secret))
	if m, found := h.memo.GetIfPresent(encoded); found && subtle.ConstantTimeCompare(m.digest[:], digest[:]) == 1 {
		return true, m.rehash
	}
	ok, rehash = h.next.Verify(secret, encoded)
	if ok {
		h.memo.Set(encoded, memo{digest: digest, rehash: rehash})
	}
	return ok, rehash
}
