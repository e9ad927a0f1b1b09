package keyhash

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"hash"
	"strings"
	"sync"

	"github.com/keyward/keyward"
)

const hmacScheme = "$hmac-sha256$p="

// HMAC hashes secrets with HMAC-SHA256 keyed by a pepper: the default hasher.
// Hash strings are "$hmac-sha256$p=<pepper id>$<base64 MAC>". It is safe for
// concurrent use; a verification costs one pooled HMAC and no allocation.
type HMAC struct {
	ps    peppers
	pools map[string]*sync.Pool // per pepper id: *macState
}

// macState is a keyed HMAC with scratch space, reused through a pool so that
// hashing neither re-derives the key pads nor allocates.
type macState struct {
	mac    hash.Hash
	input  [keyward.SecretLength + 24]byte
	sum    [sha256.Size]byte
	stored [sha256.Size + 2]byte
}

var _ keyward.Hasher = (*HMAC)(nil)

// NewHMAC returns an HMAC-SHA256 hasher. The first pepper is current (used
// for new hashes); the others still verify, and their hashes report a rehash.
func NewHMAC(list ...Pepper) (*HMAC, error) {
	ps, err := newPeppers(list)
	if err != nil {
		return nil, err
	}
	h := &HMAC{ps: ps, pools: make(map[string]*sync.Pool, len(list))}
	for id, p := range ps.byID {
		secret := p.Secret
		h.pools[id] = &sync.Pool{New: func() any { return &macState{mac: hmac.New(sha256.New, secret)} }}
	}
	return h, nil
}

func (h *HMAC) owns(encoded string) bool { return strings.HasPrefix(encoded, hmacScheme) }

// mac computes the MAC of secret with a pooled state of the pepper; the
// caller puts st back into the pool when done with sum.
func mac(pool *sync.Pool, secret string) (st *macState, sum []byte) {
	st = pool.Get().(*macState)
	st.mac.Reset()
	if len(secret) <= len(st.input) {
		n := copy(st.input[:], secret)
		st.mac.Write(st.input[:n])
	} else {
		st.mac.Write([]byte(secret))
	}
	return st, st.mac.Sum(st.sum[:0])
}

// Hash returns "$hmac-sha256$p=<current pepper id>$<base64 MAC>".
func (h *HMAC) Hash(secret string) (string, error) {
	id := h.ps.current.ID
	pool := h.pools[id]
	st, sum := mac(pool, secret)
	out := hmacScheme + id + "$" + b64.EncodeToString(sum)
	pool.Put(st)
	return out, nil
}

// Verify reports whether secret matches encoded, in constant time, and
// whether encoded was made with a pepper other than the current one.
func (h *HMAC) Verify(secret, encoded string) (ok, rehash bool) {
	if !h.owns(encoded) {
		return false, false
	}
	rest := encoded[len(hmacScheme):]
	i := strings.IndexByte(rest, '$')
	if i < 0 {
		return false, false
	}
	id, digest := rest[:i], rest[i+1:]
	pool := h.pools[id]
	if pool == nil || b64.DecodedLen(len(digest)) != sha256.Size {
		return false, false
	}
	st, sum := mac(pool, secret)
	var enc [44]byte
	m := copy(enc[:], digest)
	n, err := b64.Decode(st.stored[:], enc[:m])
	ok = err == nil && n == sha256.Size && subtle.ConstantTimeCompare(sum, st.stored[:n]) == 1
	pool.Put(st)
	return ok, ok && id != h.ps.current.ID
}
