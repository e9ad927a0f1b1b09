package redis_test

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testredis"
	"github.com/keyward/keyward/ratelimit/redis"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// prefix gives each test its own Redis keys.
func prefix(t *testing.T) string {
	return "kwtest:" + t.Name() + ":" + time.Now().Format("150405.000000000") + ":"
}

func TestSharedLimitAcrossInstances(t *testing.T) {
	client := testredis.Client(t)
	p := prefix(t)
	a := redis.New(client, &redis.Options{Prefix: p})
	b := redis.New(client, &redis.Options{Prefix: p})
	lim := keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)}
	ctx := context.Background()
	admitted := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 300 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			if l.Allow(ctx, "shared-key", lim, 1, t0.Add(time.Duration(i)*time.Millisecond)).Allowed {
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
	d := a.Allow(ctx, "shared-key", lim, 1, t0.Add(time.Second))
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
		if l.Allow(context.Background(), "k", lim, 1, now).Allowed {
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
	ctx := context.Background()
	l.Allow(ctx, "k", lim, 2, t0)
	if l.Allow(ctx, "k", lim, 1, t0).Allowed {
		t.Fatal("over the limit")
	}
	l.Release(ctx, "k", lim, 1, t0)
	if d := l.Allow(ctx, "k", lim, 1, t0); !d.Allowed || d.Remaining != 0 {
		t.Errorf("after Release: %+v", d)
	}
}

func TestFallsBackWhenRedisIsUnreachable(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer client.Close()
	l := redis.New(client, nil)
	lim := keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Minute)}
	if d := l.Allow(context.Background(), "k", lim, 1, t0); !d.Allowed {
		t.Fatalf("first request with Redis down: %+v", d)
	}
	if d := l.Allow(context.Background(), "k", lim, 1, t0); d.Allowed {
		t.Fatal("the local fallback does not enforce the limit")
	}
	if !l.Degraded() {
		t.Error("Degraded() = false with Redis down")
	}
	if _, _, fb := l.Stats(); fb != 2 {
		t.Errorf("fallbacks = %d, want 2", fb)
	}
}
