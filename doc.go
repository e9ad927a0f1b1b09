// Package keyward issues, verifies and manages API keys.
//
// A [Service] is the whole library: it creates keys, verifies the keys that
// callers present (in well under a microsecond on a cache hit), and manages
// them (update, revoke, rotate with a grace period, delete, usage, audit). It
// works on a [Store] (store/memory, store/sqlite, store/postgres), hashes
// secrets with a [Hasher] (package keyhash) and enforces rate limits with a
// [Limiter] (package ratelimit). Package httpauth guards any net/http handler
// with it.
//
//	svc, err := keyward.New(store, hasher, &keyward.Options{Limiter: ratelimit.NewLocal()})
//	if err != nil {
//		return err
//	}
//	defer svc.Close(ctx)
//	issued, err := svc.Create(ctx, keyward.CreateParams{Name: "billing", Scopes: []string{"invoices:read"}})
//	if err != nil {
//		return err
//	}
//	// Give issued.Secret to the client: it is never shown again. Later, check
//	// the key the client presents:
//	res, err := svc.Verify(ctx, keyward.VerifyRequest{Key: issued.Secret, Scopes: []string{"invoices:read"}})
//	if err != nil {
//		return err // the store is unreachable: answer 503
//	}
//	if !res.Valid() {
//		return fmt.Errorf("refused: %s", res.Outcome) // res.Outcome says why
//	}
//
// The package examples run this code; examples/quickstart is a whole
// program with a SQLite store and the httpauth middleware.
//
// # Key format
//
// A key string is
//
//	<prefix>_<id>_<secret><checksum>
//	kw_32pl2YI89o7WJi3Z_98Y3E361CZTH4neA7mzSyEf5lCZQOmW6DREvYHXr3fH4MW
//
// The prefix matches [a-z][a-z0-9_]{0,19} (default "kw"; settable per key,
// e.g. "sk_live"). The id is 16 base62 characters, public: it appears in URLs,
// logs and listings. The secret is 40 base62 characters (about 238 bits)
// drawn uniformly from crypto/rand. The checksum is the CRC32 (IEEE) of
// everything before it, in base62, 6 characters, so that secret scanners and
// the server reject typos and garbage without a lookup. [Parse] reads a key
// from the right (the prefix may contain '_') and does not allocate.
// [FindKeys] finds the keys in any text (files, logs, pastes) by their
// checksum, for leak scanning: it is the finder of keyward scan.
//
// Only a hash of the secret is stored: by default an HMAC-SHA256 keyed with a
// server-side pepper. Hash strings name their scheme, so the hasher and the
// pepper can change while old keys still verify (and are rehashed on use).
//
// # Verification
//
// [Service.Verify] checks, in this order, and stops at the first failure:
// MALFORMED, NOT_FOUND (unknown id or wrong secret, indistinguishable and
// equally costly), REVOKED, EXPIRED, DISABLED, FORBIDDEN_ADDRESS,
// INSUFFICIENT_SCOPE, RATE_LIMITED, USAGE_EXCEEDED, then VALID. A failed
// check spends nothing; VALID spends the request's cost (default 1) from the
// rate limit and from the credits. Scope "*" grants any scope and "res:*"
// every scope under "res:", except those in the "keyward:" namespace, which
// only an exact match grants.
//
// # Errors
//
// Failed verifications are outcomes, not errors. Errors wrap the sentinels
// [ErrNotFound], [ErrConflict], [ErrInvalid] (a *[ValidationError] listing
// every problem), [ErrUnavailable] and [ErrMalformed]; test them with
// errors.Is and errors.As.
//
// # Events
//
// Every admin change is written with its events ([Event]: key.created,
// key.updated, owner.deleted...) in one transaction, in the store's outbox;
// [Service.WarnExpiring] adds key.expiring, and Verify queues
// key.credits_exhausted and owner.credits_exhausted (without waiting on
// the store). Package webhook delivers them to the endpoints made with
// [Service.CreateWebhook], signed as the Standard Webhooks specification
// says, at least once, across restarts and instances.
//
// # Concurrency
//
// A Service is safe for concurrent use. Credits are spent with one
// conditional write in the store, so concurrent verifications in any number
// of processes never overspend. Usage counts and last-used times are summed
// in memory and written in batches (every second by default, and on
// [Service.Close]): verification never waits on them, and a crash loses at
// most one interval of counts. Keys returned inside a [Result] or by a Store
// may be shared: do not modify them.
package keyward
