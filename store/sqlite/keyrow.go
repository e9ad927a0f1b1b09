package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// keyColumns are the columns of keys in the order of scanKey; keyArgs
// returns them without id.
const keyColumns = `id, prefix, name, description, owner, scopes, metadata, enabled,
	created_at, updated_at, expires_at, last_used_at, revoked_at, refilled_at,
	rate_limit_limit, rate_limit_period_ms, remaining, refill_interval, refill_amount,
	allowed_cidrs, replaced_by, replaces, hash, rate_limits, roles`

// keySelect is keyColumns as a query of keys reads them: last_used_at is
// lastUsedExpr.
const keySelect = keySelectHead + lastUsedExpr + keySelectTail

// reloadSelect is keySelect with recentLastUsedExpr for last_used_at
// (ReloadKey).
const reloadSelect = keySelectHead + recentLastUsedExpr + keySelectTail

const keySelectHead = `id, prefix, name, description, owner, scopes, metadata, enabled,
	created_at, updated_at, expires_at, `

const keySelectTail = `, revoked_at, refilled_at,
	rate_limit_limit, rate_limit_period_ms, remaining, refill_interval, refill_amount,
	allowed_cidrs, replaced_by, replaces, hash, rate_limits, roles`

// lastUsedExpr is a key's last use in a query of keys. A usage flush writes
// the key row's last_used_at only at the key's first use of a day (see
// RecordUsage); later uses go into the last_at of the key's usage rows of
// the minute they fall in, in usage_recent and later in usage. So the last
// use is the latest of the key row's, the greatest last_at of the key's few
// rows in usage_recent, and the greatest last_at of the newest minute in
// usage, since the row's, that has one: three descents of small or
// primary-key B-trees, and none for a key never used (whose first use always
// writes its row). The bound keeps a key whose count rows have no last_at
// (written before migration 0007) from reading all of them.
const lastUsedExpr = `CASE WHEN keys.last_used_at IS NULL THEN NULL ELSE max(keys.last_used_at,
	coalesce((SELECT max(r.last_at) FROM usage_recent r WHERE r.key_id = keys.id), 0), coalesce(
	(SELECT max(u.last_at) FROM usage u WHERE u.key_id = keys.id AND u.minute =
		(SELECT l.minute FROM usage l WHERE l.key_id = keys.id AND l.last_at IS NOT NULL
			AND l.minute >= keys.last_used_at / 60000 * 60 ORDER BY l.minute DESC LIMIT 1)), 0)) END`

// recentLastUsedExpr is lastUsedExpr without the descent into usage, the
// history: the latest of the key row's last use and the last_at of its rows
// in usage_recent (about the current minute). Both B-trees are small or in
// use, where usage's pages are often on disk at 1,000,000 keys.
const recentLastUsedExpr = `CASE WHEN keys.last_used_at IS NULL THEN NULL ELSE max(keys.last_used_at,
	coalesce((SELECT max(r.last_at) FROM usage_recent r WHERE r.key_id = keys.id), 0)) END`

const insertKeySQL = `INSERT INTO keys (` + keyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const updateKeySQL = `UPDATE keys SET prefix = ?, name = ?, description = ?, owner = ?, scopes = ?,
	metadata = ?, enabled = ?, created_at = ?, updated_at = ?, expires_at = ?, last_used_at = ?,
	revoked_at = ?, refilled_at = ?, rate_limit_limit = ?, rate_limit_period_ms = ?, remaining = ?,
	refill_interval = ?, refill_amount = ?, allowed_cidrs = ?, replaced_by = ?, replaces = ?, hash = ?,
	rate_limits = ?, roles = ?
	WHERE id = ?`

// keyArgs returns the column values of k in keyColumns order, without id.
func keyArgs(k *keyward.Key) []any {
	var limit, period, remaining, refillAmount any
	var refillInterval any
	if k.RateLimit != nil {
		limit, period = k.RateLimit.Limit, time.Duration(k.RateLimit.Period).Milliseconds()
	}
	if k.Remaining != nil {
		remaining = *k.Remaining
	}
	if k.Refill != nil {
		refillInterval, refillAmount = k.Refill.Interval, k.Refill.Amount
	}
	return []any{
		k.Prefix, k.Name, k.Description, k.Owner, jsonList(k.Scopes), jsonObject(k.Metadata), k.Enabled,
		ms(k.CreatedAt), ms(k.UpdatedAt), msPtr(k.ExpiresAt), msPtr(k.LastUsedAt), msPtr(k.RevokedAt), msPtr(k.RefilledAt),
		limit, period, remaining, refillInterval, refillAmount,
		jsonList(k.AllowedCIDRs), k.ReplacedBy, k.Replaces, k.Hash,
		encodeLimits(k.RateLimits), jsonList(k.Roles),
	}
}

func scanKey(sc scanner) (*keyward.Key, error) {
	var (
		k                                      keyward.Key
		scopes, meta, cidrs, limits, roles     string
		created, updated                       int64
		expires, lastUsed, revoked, refilled   sql.NullInt64
		limit, period, remaining, refillAmount sql.NullInt64
		refillInterval, replacedBy, replaces   sql.NullString
	)
	err := sc.Scan(&k.ID, &k.Prefix, &k.Name, &k.Description, &k.Owner, &scopes, &meta, &k.Enabled,
		&created, &updated, &expires, &lastUsed, &revoked, &refilled,
		&limit, &period, &remaining, &refillInterval, &refillAmount,
		&cidrs, &replacedBy, &replaces, &k.Hash, &limits, &roles)
	if err != nil {
		return nil, err
	}
	var errs [4]error
	k.Scopes, errs[0] = readList("scopes", scopes)
	k.AllowedCIDRs, errs[1] = readList("allowed_cidrs", cidrs)
	k.Roles, errs[2] = readList("roles", roles)
	k.RateLimits, errs[3] = decodeLimits(limits)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("key %s: %w", k.ID, err)
	}
	k.Metadata = json.RawMessage(meta)
	k.CreatedAt, k.UpdatedAt = fromMs(created), fromMs(updated)
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt, k.RefilledAt = fromNullMs(expires), fromNullMs(lastUsed), fromNullMs(revoked), fromNullMs(refilled)
	if limit.Valid {
		k.RateLimit = &keyward.RateLimit{Limit: limit.Int64, Period: keyward.Duration(time.Duration(period.Int64) * time.Millisecond)}
	}
	if remaining.Valid {
		k.Remaining = &remaining.Int64
	}
	if refillInterval.Valid {
		k.Refill = &keyward.Refill{Interval: refillInterval.String, Amount: refillAmount.Int64}
	}
	if replacedBy.Valid {
		k.ReplacedBy = &replacedBy.String
	}
	if replaces.Valid {
		k.Replaces = &replaces.String
	}
	return &k, nil
}
