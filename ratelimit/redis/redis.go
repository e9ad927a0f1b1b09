// Package redis is a rate limiter shared by every keyward instance through
// Redis (github.com/redis/go-redis/v9). Each call decides all its checks
// (a key's limits and its owner's) in one atomic server-side script, one
// round trip, using the same window of buckets as the in-process limiter
// (see package ratelimit): the script reads every window, and only if every
// limit admits the cost does it spend the cost in each.
//
// Every Redis key of one call carries the same hash tag, derived from the
// call's group (a hash of it, since an owner's name may hold any character),
// so that a call's keys share one Redis Cluster slot. The period is part of
// the key, so a changed limit starts over. Times travel to Redis as Unix
// microseconds, which Lua's numbers (doubles, exact to 2^53) hold exactly
// until the year 2255; the limiter therefore decides at now truncated to the
// microsecond, and periods are counted in whole microseconds (rounded up).
//
// When Redis fails, the limiter decides with a local limiter instead (each
// instance then enforces the limits on its own share of traffic), logs it
// once and counts it; it tries Redis again a second later and goes back to
// it by itself. Instances must have clocks in sync (NTP) to well within a
// bucket (a tenth of the shortest period).
package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// script decides or releases the checks of one call. KEYS[i] is the window
// of check i, a hash: field "<bucket index>" holds the units admitted in that
// bucket, field "<bucket index>t" the time (Unix µs) of its last unit.
// ARGV[1] is "allow" or "release", ARGV[2] the cost, ARGV[3] now (Unix µs);
// then, for check i, at j = 4i: the bucket index of now, the limit, the
// period (µs) and the key's time to live (ms).
//
// "allow" reads every window (deleting buckets that left it; a bucket ahead
// of now, from another instance whose clock runs ahead, counts as the
// current one), counts the buckets whose last unit is within the period, and
// only if every check admits the cost adds it to each current bucket and
// sets its last time. It returns {1 if admitted else 0} followed, per check,
// by the 11 counts and then the 11 last times (µs, 0 for none) of buckets
// idx-10..idx as they were before the request, for Go to decide the same way
// (ratelimit.DecideAll). "release" gives the cost back to each window,
// newest bucket first, and returns {1}.
//
// Numbers: times (~1.8e15) and bucket indexes are exact in Lua's doubles,
// but Lua's tostring keeps only 14 digits, so no number is ever turned into
// a string by concatenation: fields come from ARGV or string.format('%d').
var script = goredis.NewScript(`
local n = 10
local cost = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if ARGV[1] == 'release' then
	for i = 1, #KEYS do
		local idx = tonumber(ARGV[4 * i])
		local left = cost
		for b = idx, idx - n, -1 do
			if left <= 0 then break end
			local f = string.format('%d', b)
			local c = tonumber(redis.call('HGET', KEYS[i], f) or '0')
			local take = math.min(c, left)
			if take > 0 then
				redis.call('HINCRBY', KEYS[i], f, -take)
				left = left - take
			end
		end
	end
	return {1}
end
local all = true
local out = {0}
for i = 1, #KEYS do
	local j = 4 * i
	local idx = tonumber(ARGV[j])
	local limit = tonumber(ARGV[j + 1])
	local since = now - tonumber(ARGV[j + 2])
	local counts, lasts = {}, {}
	for p = 0, n do
		counts[p] = 0
		lasts[p] = -1
	end
	local raw = redis.call('HGETALL', KEYS[i])
	for f = 1, #raw, 2 do
		local b, kind = string.match(raw[f], '^(%d+)(t?)$')
		b = tonumber(b)
		if b == nil or b < idx - n then
			redis.call('HDEL', KEYS[i], raw[f])
		else
			local p = math.min(b, idx) - idx + n
			local v = tonumber(raw[f + 1])
			if kind == 't' then
				lasts[p] = math.max(lasts[p], v)
			else
				counts[p] = counts[p] + v
			end
		end
	end
	local used = 0
	for p = 0, n do
		if counts[p] > 0 and lasts[p] < 0 then lasts[p] = now end -- no time: count it
		if counts[p] > 0 and lasts[p] > since then used = used + counts[p] end
	end
	if used + cost > limit then all = false end
	for p = 0, n do out[#out + 1] = counts[p] end
	for p = 0, n do out[#out + 1] = math.max(lasts[p], 0) end
end
if all then
	out[1] = 1
	if cost > 0 then
		for i = 1, #KEYS do
			local j = 4 * i
			local f = ARGV[j]
			redis.call('HINCRBY', KEYS[i], f, ARGV[2])
			local last = tonumber(redis.call('HGET', KEYS[i], f .. 't') or '0')
			if last < now then redis.call('HSET', KEYS[i], f .. 't', ARGV[3]) end
			redis.call('PEXPIRE', KEYS[i], ARGV[j + 3])
		end
	end
end
return out
`)

// perCheck is how many values the script returns per check.
const perCheck = 2 * (ratelimit.Buckets + 1)

// Options tunes [New]. The zero value (or nil) gives the defaults.
type Options struct {
	// Prefix of the Redis keys; "" means "keyward:rl:". A prefix that
	// holds a hash tag ("{...}") would put every key in one cluster slot.
	Prefix string
	// Fallback decides while Redis is failing; nil means a new
	// ratelimit.Local.
	Fallback keyward.Limiter
	// RetryAfter is how long Redis is left alone after a failure; 0 means 1s.
	RetryAfter time.Duration
	// Timeout bounds one round trip; 0 means 1s. A round trip that takes
	// longer counts as a Redis failure: the limiter then decides locally,
	// per instance, for RetryAfter. Too short a timeout turns a busy moment
	// into a second of per-instance limits.
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
		l.timeout = time.Second
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	return l
}

// tag is the hash tag of a group: every Redis key of one call carries it,
// so they share a cluster slot. A hash, not the group itself, since an owner's
// name may hold braces.
func tag(group string) string {
	sum := sha256.Sum256([]byte(group))
	return "{" + hex.EncodeToString(sum[:8]) + "}"
}

// request builds the keys and arguments of one script call at now (whole
// microseconds).
func (l *Limiter) request(mode, group string, checks []keyward.RateCheck, cost int64, now time.Time) ([]string, []any) {
	tag := tag(group)
	keys := make([]string, len(checks))
	args := make([]any, 0, 3+4*len(checks))
	args = append(args, mode, cost, now.UnixMicro())
	for i, c := range checks {
		period := time.Duration(c.Limit.Period)
		keys[i] = l.prefix + tag + ":" + strconv.FormatInt(period.Milliseconds(), 10) + ":" + c.Bucket
		ttl := period + period/ratelimit.Buckets + time.Second
		micros := (period + time.Microsecond - 1) / time.Microsecond // rounded up: see decided
		args = append(args, ratelimit.BucketIndex(period, now), c.Limit.Limit, int64(micros), ttl.Milliseconds())
	}
	return keys, args
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

// Allow decides checks together in Redis, in one script call, or locally
// while Redis fails.
func (l *Limiter) Allow(ctx context.Context, group string, checks []keyward.RateCheck, cost int64, now time.Time, out []keyward.RateDecision) bool {
	if len(checks) == 0 {
		return true
	}
	if !l.usable(time.Now()) {
		l.fallbacks.Add(1)
		return l.fallback.Allow(ctx, group, checks, cost, now, out)
	}
	at := now.Truncate(time.Microsecond)
	keys, args := l.request("allow", group, checks, cost, at)
	rctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	res, err := script.Run(rctx, l.client, keys, args...).Int64Slice()
	if err == nil && len(res) != 1+perCheck*len(checks) {
		err = fmt.Errorf("redis limiter: script returned %d values for %d checks", len(res), len(checks))
	}
	if err != nil {
		l.failed(time.Now(), err)
		return l.fallback.Allow(ctx, group, checks, cost, now, out)
	}
	l.succeeded()
	return l.decided(res, checks, cost, at, out)
}

// decided fills out from the script's answer res, as ratelimit.DecideAll
// decides at now, and returns the script's decision. The script decided
// with the same rule on the same integers: a bucket counts while its last
// unit is later than now minus the period, both in whole microseconds (the
// period rounded up, so that last > now-period holds in microseconds exactly
// when it holds in nanoseconds).
func (l *Limiter) decided(res []int64, checks []keyward.RateCheck, cost int64, now time.Time, out []keyward.RateDecision) bool {
	counts := make([]ratelimit.Counts, len(checks))
	ptrs := make([]*ratelimit.Counts, len(checks))
	for i, c := range checks {
		r := res[1+perCheck*i:]
		counts[i].Index = ratelimit.BucketIndex(time.Duration(c.Limit.Period), now)
		copy(counts[i].N[:], r[:ratelimit.Buckets+1])
		for b, micros := range r[ratelimit.Buckets+1 : perCheck] {
			counts[i].Last[b] = micros * int64(time.Microsecond)
		}
		ptrs[i] = &counts[i]
	}
	ratelimit.DecideAll(ptrs, checks, cost, now, out)
	allowed := res[0] == 1
	if cost > 0 {
		if allowed {
			l.allowed.Add(1)
		} else {
			l.denied.Add(1)
		}
	}
	return allowed
}

// Release gives units back in Redis, in one script call (or to the local
// limiter while Redis fails).
func (l *Limiter) Release(ctx context.Context, group string, checks []keyward.RateCheck, cost int64, now time.Time) {
	if len(checks) == 0 || cost <= 0 {
		return
	}
	if !l.usable(time.Now()) {
		l.fallback.Release(ctx, group, checks, cost, now)
		return
	}
	keys, args := l.request("release", group, checks, cost, now.Truncate(time.Microsecond))
	rctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	if err := script.Run(rctx, l.client, keys, args...).Err(); err != nil {
		l.failed(time.Now(), err)
		l.fallback.Release(ctx, group, checks, cost, now)
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
