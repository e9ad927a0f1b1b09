package redis_test

import (
	"context"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testredis"
	"github.com/keyward/keyward/ratelimit/limitertest"
	"github.com/keyward/keyward/ratelimit/redis"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// prefix gives each test its own Redis keys.
func prefix(t *testing.T) string {
	return "kwtest:" + t.Name() + ":" + time.Now().Format("150405.000000000") + ":"
}

// allow1 decides one check alone.
func allow1(t *testing.T, l *redis.Limiter, bucket string, lim keyward.RateLimit, cost int64, now time.Time) keyward.RateDecision {
	t.Helper()
	return limitertest.Allow1(t, l, bucket, lim, cost, now)
}

func release1(l *redis.Limiter, bucket string, lim keyward.RateLimit, cost int64, now time.Time) {
	l.Release(context.Background(), "g", []keyward.RateCheck{{Bucket: bucket, Limit: lim}}, cost, now)
}

// TestConformance runs the limiter contract on two instances sharing one
// Redis.
func TestConformance(t *testing.T) {
	client := testredis.Client(t)
	limitertest.Run(t, func(t *testing.T) (a, b keyward.Limiter) {
		p := prefix(t)
		return redis.New(client, &redis.Options{Prefix: p}), redis.New(client, &redis.Options{Prefix: p})
	})
}

func TestSharedLimitAcrossInstances(t *testing.T) {
	client := testredis.Client(t)
	p := prefix(t)
	a := redis.New(client, &redis.Options{Prefix: p})
	b := redis.New(client, &redis.Options{Prefix: p})
	lim := keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)}
	admitted := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 300 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			if allow1(t, l, "shared-key", lim, 1, t0.Add(time.Duration(i)*time.Millisecond)).Allowed {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != 100 {
		t.Errorf("300 requests over two instances admitted %d, want exactly 100", admitted)
	}
	d := allow1(t, a, "shared-key", lim, 1, t0.Add(time.Second))
	if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.Limit != 100 {
		t.Errorf("after the burst: %+v", d)
	}
	if _, _, fb := a.Stats(); fb != 0 {
		t.Errorf("%d fallbacks with Redis up", fb)
	}
}

func TestRedisWindowNeverExceedsLimit(t *testing.T) {
	client := testredis.Client(t)
	l := redis.New(client, &redis.Options{Prefix: prefix(t)})
	lim := keyward.RateLimit{Limit: 5, Period: keyward.Duration(time.Second)}
	r := rand.New(rand.NewPCG(1, 2))
	now := t0
	var admitted []time.Time
	for range 3000 {
		now = now.Add(time.Duration(r.Int64N(int64(40 * time.Millisecond))))
		if allow1(t, l, "k", lim, 1, now).Allowed {
			admitted = append(admitted, now)
		}
	}
	sort.Slice(admitted, func(i, j int) bool { return admitted[i].Before(admitted[j]) })
	j := 0
	for i := range admitted {
		for j < len(admitted) && admitted[j].Before(admitted[i].Add(time.Second)) {
			j++
		}
		if j-i > 5 {
			t.Fatalf("%d admitted within one second of %v", j-i, admitted[i].Sub(t0))
		}
	}
	if len(admitted) < 100 {
		t.Errorf("only %d admitted", len(admitted))
	}
}

func TestReleaseGivesUnitsBack(t *testing.T) {
	client := testredis.Client(t)
	l := redis.New(client, &redis.Options{Prefix: prefix(t)})
	lim := keyward.RateLimit{Limit: 2, Period: keyward.Duration(time.Minute)}
	allow1(t, l, "k", lim, 2, t0)
	if allow1(t, l, "k", lim, 1, t0).Allowed {
		t.Fatal("over the limit")
	}
	release1(l, "k", lim, 1, t0)
	if d := allow1(t, l, "k", lim, 1, t0); !d.Allowed || d.Remaining != 0 {
		t.Errorf("after Release: %+v", d)
	}
}

func TestFallsBackWhenRedisIsUnreachable(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer client.Close()
	l := redis.New(client, nil)
	lim := keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Minute)}
	if d := allow1(t, l, "k", lim, 1, t0); !d.Allowed {
		t.Fatalf("first request with Redis down: %+v", d)
	}
	if d := allow1(t, l, "k", lim, 1, t0); d.Allowed {
		t.Fatal("the local fallback does not enforce the limit")
	}
	if !l.Degraded() {
		t.Error("Degraded() = false with Redis down")
	}
	if _, _, fb := l.Stats(); fb != 2 {
		t.Errorf("fallbacks = %d, want 2", fb)
	}
}

// TestOneCallOneSlot: the Redis keys of one call share one cluster hash tag
// (what lies between the first "{" and the next "}"), whatever the group
// holds (an owner's name may hold braces); another group gets another tag.
func TestOneCallOneSlot(t *testing.T) {
	client := testredis.Client(t)
	ctx := context.Background()
	var tags []string
	for i, group := range []string{"a}c{me", "other"} {
		p := prefix(t) + strconv.Itoa(i) + ":"
		l := redis.New(client, &redis.Options{Prefix: p})
		checks := []keyward.RateCheck{
			{Bucket: "k:key1:burst", Limit: keyward.RateLimit{Limit: 10, Period: keyward.Duration(time.Second)}},
			{Bucket: "o:" + group + ":daily", Limit: keyward.RateLimit{Limit: 10, Period: keyward.Duration(24 * time.Hour)}},
			{Bucket: "o:" + group + ":minute", Limit: keyward.RateLimit{Limit: 10, Period: keyward.Duration(time.Minute)}},
		}
		var out [3]keyward.RateDecision
		if !l.Allow(ctx, group, checks, 1, t0, out[:]) {
			t.Fatalf("group %q: refused: %+v", group, out)
		}
		keys, err := client.Keys(ctx, p+"*").Result()
		if err != nil || len(keys) != 3 {
			t.Fatalf("group %q: keys %v, %v; want one per check", group, keys, err)
		}
		tag := ""
		for _, k := range keys {
			open := strings.IndexByte(k, '{')
			end := open + strings.IndexByte(k[open:], '}')
			if open != len(p) || end != open+17 {
				t.Fatalf("key %q: want the prefix, then a hash tag of 16 hex digits", k)
			}
			if tag != "" && k[open:end+1] != tag {
				t.Errorf("group %q: tags %s and %s in one call", group, tag, k[open:end+1])
			}
			tag = k[open : end+1]
		}
		tags = append(tags, tag)
	}
	if tags[0] == tags[1] {
		t.Errorf("two groups share the tag %s", tags[0])
	}
}
