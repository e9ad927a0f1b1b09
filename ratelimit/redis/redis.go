// Package redis is a rate limiter shared by every keyward instance through
// Redis (github.com/redis/go-redis/v9). Each decision is one atomic
// server-side script, one round trip, using the same sliding window of
// buckets as the in-process limiter (see package ratelimit).
//
// When Redis fails, the limiter decides with a local limiter instead (each
// instance then enforces the limit on its own share of traffic), logs it once
// and counts it; it tries Redis again a second later and goes back to it by
// itself. Instances must have clocks in sync (NTP) to well within a bucket
// (a tenth of the shortest period).
package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/ratelimit"
)

// script takes cost units at bucket ARGV[1] if the window allows it, and
// returns {allowed, count of bucket idx-10, ..., count of bucket idx} as the
// counts were before this request. Buckets that left the window are
// deleted; a bucket ahead of idx (another instance's clock runs ahead) counts
// as the current one. ARGV: idx, cost, limit, ttl in ms, mode ("allow" or
// "release").
var script = goredis.NewScript(`
local key = KEYS[1]
local idx = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local n = 10
if ARGV[5] == 'release' then
	local c = tonumber(redis.call('HGET', key, ARGV[1]) or '0')
	local take = math.min(c, cost)
	if take > 0 then redis.call('HINCRBY', key, ARGV[1], -take) end
	return {1}
end
local raw = redis.call('HGETALL', key)
local counts = {}
local sum = 0
for i = 1, #raw, 2 do
	local b = tonumber(raw[i])
	local c = tonumber(raw[i + 1])
	if b < idx - n then
		redis.call('HDEL', key, raw[i])
	else
		if b > idx then b = idx end
		counts[b] = (counts[b] or 0) + c
		sum = sum + c
	end
end
local allowed = 0
if sum + cost <= limit then
	allowed = 1
	if cost > 0 then
		redis.call('HINCRBY', key, ARGV[1], cost)
		redis.call('PEXPIRE', key, ttl)
	end
end
local out = {allowed}
for b = idx - n, idx do out[#out + 1] = counts[b] or 0 end
return out
`)

// Options tunes [New]. The zero value (or nil) gives the defaults.
type Options struct {
	// Prefix of the Redis keys; "" means "keyward:rl:".
	Prefix string
	// Fallback decides while Redis is failing; nil means a new
	// ratelimit.Local.
	Fallback keyward.Limiter
	// RetryAfter is how long Redis is left alone after a failure; 0 means 1s.
	RetryAfter time.Duration
	// Timeout bounds one round trip; 0 means 250ms.
	Timeout time.Duration
	// Logger receives the fallback and recovery messages; nil discards.
	Logger *slog.Logger
}

// Limiter is a keyward.Limiter backed by Redis. It is safe for concurrent use.
type Limiter struct {
	client   goredis.UniversalClient
	prefix   string
	fallback keyward.Limiter
	retry    time.Duration
	timeout  time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	downUntil time.Time // skip Redis until then
	down      bool

	allowed, denied, fallbacks atomic.Uint64
}

var _ keyward.Limiter = (*Limiter)(nil)

// New returns a limiter that counts in Redis through client.
func New(client goredis.UniversalClient, opts *Options) *Limiter {
	if opts == nil {
		opts = &Options{}
	}
	l := &Limiter{client: client, prefix: opts.Prefix, fallback: opts.Fallback, retry: opts.RetryAfter, timeout: opts.Timeout, log: opts.Logger}
	if l.prefix == "" {
		l.prefix = "keyward:rl:"
	}
	if l.fallback == nil {
		l.fallback = ratelimit.NewLocal()
	}
	if l.retry <= 0 {
		l.retry = time.Second
	}
	if l.timeout <= 0 {
		l.timeout = 250 * time.Millisecond
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	return l
}

// key is the Redis key of one key id's window; the hash tag keeps it on one
// cluster slot, and the period is part of it so a changed limit starts over.
func (l *Limiter) key(id string, period time.Duration) string {
	return l.prefix + "{" + id + "}:" + strconv.FormatInt(period.Milliseconds(), 10)
}

// usable reports whether Redis should be tried now.
func (l *Limiter) usable(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down || !now.Before(l.downUntil)
}

func (l *Limiter) failed(now time.Time, err error) {
	l.fallbacks.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		l.log.Error("redis limiter: Redis failed; deciding locally per instance until it is back", "err", err)
	}
	l.down, l.downUntil = true, now.Add(l.retry)
}

func (l *Limiter) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		l.down = false
		l.log.Info("redis limiter: Redis is back; limits are shared again")
	}
}

// Allow decides in Redis, or locally while Redis fails.
func (l *Limiter) Allow(ctx context.Context, id string, limit keyward.RateLimit, cost int64, now time.Time) keyward.RateDecision {
	if !l.usable(time.Now()) {
		l.fallbacks.Add(1)
		return l.fallback.Allow(ctx, id, limit, cost, now)
	}
	period := time.Duration(limit.Period)
	idx := ratelimit.BucketIndex(period, now)
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	ttl := period + period/ratelimit.Buckets + time.Second
	res, err := script.Run(ctx, l.client, []string{l.key(id, period)}, idx, cost, limit.Limit, ttl.Milliseconds(), "allow").Int64Slice()
	if err == nil && len(res) != ratelimit.Buckets+2 {
		err = fmt.Errorf("redis limiter: script returned %d values", len(res))
	}
	if err != nil {
		l.failed(time.Now(), err)
		return l.fallback.Allow(ctx, id, limit, cost, now)
	}
	l.succeeded()
	counts := ratelimit.Counts{Index: idx}
	copy(counts.N[:], res[1:])
	d := ratelimit.Decide(&counts, limit, cost, now)
	if cost > 0 {
		if d.Allowed {
			l.allowed.Add(1)
		} else {
			l.denied.Add(1)
		}
	}
	return d
}

// Release gives units back in Redis (or to the local limiter while Redis
// fails).
func (l *Limiter) Release(ctx context.Context, id string, limit keyward.RateLimit, cost int64, now time.Time) {
	if !l.usable(time.Now()) {
		l.fallback.Release(ctx, id, limit, cost, now)
		return
	}
	period := time.Duration(limit.Period)
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	err := script.Run(ctx, l.client, []string{l.key(id, period)}, ratelimit.BucketIndex(period, now), cost, limit.Limit, 0, "release").Err()
	if err != nil {
		l.failed(time.Now(), err)
		l.fallback.Release(ctx, id, limit, cost, now)
	}
}

// Stats returns how many decisions with a cost were allowed and denied in
// Redis, and how many were made locally because Redis failed.
func (l *Limiter) Stats() (allowed, denied, fallbacks uint64) {
	return l.allowed.Load(), l.denied.Load(), l.fallbacks.Load()
}

// Degraded reports whether the limiter is currently deciding locally.
func (l *Limiter) Degraded() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}
