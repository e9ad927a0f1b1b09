package postgres

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// keyColumns are the columns of keys in the order of scanKey and keyArgs.
const keyColumns = `id, prefix, name, description, owner, scopes, metadata, enabled,
	created_at, updated_at, expires_at, last_used_at, revoked_at, refilled_at,
	rate_limit_limit, rate_limit_period_ms, remaining, refill_interval, refill_amount,
	allowed_cidrs, replaced_by, replaces, hash, rate_limits, roles`

// keySelect is keyColumns as a query of keys reads them: last_used_at is
// lastUsedExpr.
const keySelect = `id, prefix, name, description, owner, scopes, metadata, enabled,
	created_at, updated_at, expires_at, ` + lastUsedExpr + ` AS last_used_at, revoked_at, refilled_at,
	rate_limit_limit, rate_limit_period_ms, remaining, refill_interval, refill_amount,
	allowed_cidrs, replaced_by, replaces, hash, rate_limits, roles`

// lastUsedExpr is a key's last use in a query of keys. A usage flush writes
// the key row's last_used_at only at the key's first use of a day (see
// RecordUsage); later uses go into the last_at of the key's usage rows of
// the minute they fall in. So the last use is the later of the key row's and
// the greatest last_at of the newest minute, since the row's, whose rows
// carry one: two descents of usage's primary key, and none for a key never
// used (whose first use always writes its row). keys.id is COLLATE "C" and
// usage.key_id is not: without the database's collation on keys.id the
// comparison matches neither index, and the planner walks usage_minute.
const lastUsedExpr = `CASE WHEN keys.last_used_at IS NULL THEN NULL ELSE greatest(keys.last_used_at,
	(SELECT max(u.last_at) FROM usage u WHERE u.key_id = (keys.id COLLATE "default") AND u.minute =
		(SELECT l.minute FROM usage l WHERE l.key_id = (keys.id COLLATE "default") AND l.last_at IS NOT NULL
			AND l.minute >= floor(extract(epoch FROM keys.last_used_at) / 60)::bigint * 60
			ORDER BY l.minute DESC LIMIT 1))) END`

const (
	// selectKey reads a key, and its row's own last_used_at after the
	// columns of keySelect (scanKeyNoting).
	selectKey          = `SELECT ` + keySelect + `, keys.last_used_at FROM keys WHERE id = $1`
	selectKeyForUpdate = selectKey + ` FOR UPDATE`

	insertKey = `INSERT INTO keys (` + keyColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`

	// updateKey writes every column but id, $1.
	updateKey = `UPDATE keys SET (prefix, name, description, owner, scopes, metadata, enabled,
	created_at, updated_at, expires_at, last_used_at, revoked_at, refilled_at,
	rate_limit_limit, rate_limit_period_ms, remaining, refill_interval, refill_amount,
	allowed_cidrs, replaced_by, replaces, hash, rate_limits, roles)
	= ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)
	WHERE id = $1
	RETURNING ` + keyColumns
)

// keyArgs returns the parameters of insertKey and updateKey for k.
func keyArgs(k *keyward.Key) []any {
	var rlLimit, rlPeriod, refillAmount *int64
	var refillInterval *string
	if k.RateLimit != nil {
		period := time.Duration(k.RateLimit.Period).Milliseconds()
		rlLimit, rlPeriod = &k.RateLimit.Limit, &period
	}
	if k.Refill != nil {
		refillInterval, refillAmount = &k.Refill.Interval, &k.Refill.Amount
	}
	return []any{
		k.ID, k.Prefix, k.Name, k.Description, k.Owner, list(k.Scopes), jsonArg(k.Metadata), k.Enabled,
		ts(k.CreatedAt), ts(k.UpdatedAt), tsPtr(k.ExpiresAt), tsPtr(k.LastUsedAt), tsPtr(k.RevokedAt), tsPtr(k.RefilledAt),
		rlLimit, rlPeriod, k.Remaining, refillInterval, refillAmount,
		list(k.AllowedCIDRs), k.ReplacedBy, k.Replaces, k.Hash, encodeLimits(k.RateLimits), list(k.Roles),
	}
}

// scanKey reads a row of keyColumns.
func scanKey(row pgx.Row) (*keyward.Key, error) {
	var (
		k                               keyward.Key
		metadata, limits                []byte
		rlLimit, rlPeriod, refillAmount *int64
		refillInterval                  *string
	)
	err := row.Scan(&k.ID, &k.Prefix, &k.Name, &k.Description, &k.Owner, &k.Scopes, &metadata, &k.Enabled,
		&k.CreatedAt, &k.UpdatedAt, &k.ExpiresAt, &k.LastUsedAt, &k.RevokedAt, &k.RefilledAt,
		&rlLimit, &rlPeriod, &k.Remaining, &refillInterval, &refillAmount,
		&k.AllowedCIDRs, &k.ReplacedBy, &k.Replaces, &k.Hash, &limits, &k.Roles)
	if err != nil {
		return nil, err
	}
	if k.RateLimits, err = decodeLimits(limits); err != nil {
		return nil, fmt.Errorf("key %q: %w", k.ID, err)
	}
	k.Scopes, k.AllowedCIDRs, k.Roles = list(k.Scopes), list(k.AllowedCIDRs), list(k.Roles)
	k.Metadata = jsonValue(metadata)
	if rlLimit != nil && rlPeriod != nil {
		k.RateLimit = &keyward.RateLimit{Limit: *rlLimit, Period: keyward.Duration(time.Duration(*rlPeriod) * time.Millisecond)}
	}
	if refillInterval != nil && refillAmount != nil {
		k.Refill = &keyward.Refill{Interval: *refillInterval, Amount: *refillAmount}
	}
	return &k, nil
}
