package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/keyward/keyward"
)

// VerifierOptions tunes [NewVerifier]. The zero value (or nil) gives the
// defaults.
type VerifierOptions struct {
	// TTL is how long an answer is reused without asking the server; 0
	// means 10s. A key revoked on the server is still accepted here for at
	// most this long.
	TTL time.Duration
	// StaleTTL is how long a cached VALID answer keeps being used while the
	// server cannot be reached; 0 means 5m. Keys not cached get an error
	// (httpauth answers 503), never a success.
	StaleTTL time.Duration
	// MaxEntries bounds the cache; 0 means 100,000.
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier verifies keys through a keyward server with a short local cache.
// It implements httpauth.Verifier. Safe for concurrent use.
//
// Only answers that spend nothing are reused: VALID for keys without rate
// limits or credits, of their own or of their owner (those must be counted
// by the server on every request), and rejections that do not depend on
// time (MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, FORBIDDEN_ADDRESS,
// INSUFFICIENT_SCOPE). A mistyped native key (a wrong checksum), an empty
// string and one that cannot be a key (too long, spaces or control
// characters) are rejected locally (MALFORMED) without a request. Other
// strings that are not native keys go to the server, which alone knows the
// formats of keys imported from other systems (keyshield,
// fastapi_simple_security). Verifications answered from the cache are not
// counted in the server's usage.
type Verifier struct {
	c          *Client
	ttl, stale time.Duration
	now        func() time.Time
	cache      *otter.Cache[[sha256.Size]byte, entry]
}

type entry struct {
	res keyward.Result
	at  time.Time
}

// NewVerifier returns a caching verifier on c, whose credential must be a
// key with scope keyward:verify (or an admin credential).
func NewVerifier(c *Client, opts *VerifierOptions) (*Verifier, error) {
	o := VerifierOptions{}
	if opts != nil {
		o = *opts
	}
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.StaleTTL <= 0 {
		o.StaleTTL = 5 * time.Minute
	}
	o.StaleTTL = max(o.StaleTTL, o.TTL)
	if o.MaxEntries <= 0 {
		o.MaxEntries = 100_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cache, err := otter.New(&otter.Options[[sha256.Size]byte, entry]{
		MaximumSize:      o.MaxEntries,
		ExpiryCalculator: otter.ExpiryWriting[[sha256.Size]byte, entry](o.StaleTTL),
	})
	if err != nil {
		return nil, err
	}
	return &Verifier{c: c, ttl: o.TTL, stale: o.StaleTTL, now: o.Now, cache: cache}, nil
}

// cacheKey is a digest of the request: the key itself is never kept.
func cacheKey(req keyward.VerifyRequest) [sha256.Size]byte {
	var b strings.Builder
	b.WriteString(req.Key)
	b.WriteByte(0)
	b.WriteString(strings.Join(req.Scopes, ","))
	b.WriteByte(0)
	b.WriteString(strings.Join(req.AnyScope, ","))
	b.WriteByte(0)
	if req.ScopeQuery != nil {
		b.WriteString(req.ScopeQuery.String())
	}
	b.WriteByte(0)
	if req.ClientIP.IsValid() {
		b.WriteString(req.ClientIP.String())
	}
	return sha256.Sum256([]byte(b.String()))
}

// reusable reports whether an answer may be served again from the cache.
func reusable(r keyward.Result) bool {
	switch r.Outcome {
	case keyward.OutcomeValid:
		return r.Key != nil && r.Key.RateLimit == nil && len(r.Key.RateLimits) == 0 && r.Key.Remaining == nil &&
			len(r.RateLimits()) == 0 && r.RateLimit.Limit == 0 && r.OwnerRemaining < 0
	case keyward.OutcomeMalformed, keyward.OutcomeNotFound, keyward.OutcomeRevoked, keyward.OutcomeExpired, keyward.OutcomeDisabled,
		keyward.OutcomeForbiddenAddress, keyward.OutcomeInsufficientScope:
		return true
	}
	return false
}

// Verify answers from the cache when it can, else asks the server. While
// the server is unreachable, cached answers younger than StaleTTL are
// reused; a request with no cached answer returns the error.
func (v *Verifier) Verify(ctx context.Context, req keyward.VerifyRequest) (keyward.Result, error) {
	if _, err := keyward.Parse(req.Key); err != nil && !maybeLegacy(req.Key, err) {
		return keyward.Result{Outcome: keyward.OutcomeMalformed, Remaining: -1, OwnerRemaining: -1}, nil
	}
	k := cacheKey(req)
	now := v.now()
	e, cached := v.cache.GetIfPresent(k)
	cached = cached && !expiredSince(e.res, now)
	if cached && now.Sub(e.at) < v.ttl {
		return e.res, nil
	}
	res, err := v.c.Verify(ctx, req)
	if err != nil {
		if errUnavailable(err) && cached && now.Sub(e.at) < v.stale {
			return e.res, nil
		}
		return keyward.Result{}, err
	}
	if reusable(res) {
		v.cache.Set(k, entry{res: res, at: now})
	} else {
		v.cache.Invalidate(k)
	}
	return res, nil
}

// expiredSince reports whether a cached VALID answer is for a key whose
// expires_at has passed: the server would now answer EXPIRED (unless the key
// was renewed), so the answer is not served again, not even while the
// server is unreachable.
func expiredSince(r keyward.Result, now time.Time) bool {
	return r.Outcome == keyward.OutcomeValid && r.Key != nil && r.Key.ExpiresAt != nil && !now.Before(*r.Key.ExpiresAt)
}

// maxLegacyKey bounds the strings sent to the server that are not native
// keys: a legacy key string is a prefix, a 16-character id and a secret of
// at most keyward.MaxLegacySecretLength.
const maxLegacyKey = 64 + 8 + keyward.IDLength + keyward.MaxLegacySecretLength

// maybeLegacy reports whether key, which is not a native key (err says
// why), might be one of another system's format that the server accepts.
func maybeLegacy(key string, err error) bool {
	var pe *keyward.ParseError
	if errors.As(err, &pe) && pe.ChecksumOnly() || key == "" || len(key) > maxLegacyKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return false
		}
	}
	return true
}
