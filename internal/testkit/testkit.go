// Package testkit holds what keyward's tests share: a clock the test moves by
// hand, a fast hasher, and a Service wired for tests. It is imported by
// tests only.
package testkit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

// Base is a reference time on a bucket boundary of every whole-second rate
// limit period, so that limiter figures are round.
var Base = time.Date(2026, 5, 17, 10, 30, 0, 0, time.UTC)

// Clock is a time source the test moves by hand. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Pepper returns a pepper made from secret, padded to the minimum length.
func Pepper(tb testing.TB, secret string) keyhash.Pepper {
	tb.Helper()
	p, err := keyhash.NewPepper([]byte(secret + strings.Repeat("-", 32)))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// HMAC returns the HMAC-SHA256 hasher with peppers made from the given
// secrets (current first); none gives one test pepper.
func HMAC(tb testing.TB, secrets ...string) *keyhash.HMAC {
	tb.Helper()
	if len(secrets) == 0 {
		secrets = []string{"keyward tests"}
	}
	var ps []keyhash.Pepper
	for _, s := range secrets {
		ps = append(ps, Pepper(tb, s))
	}
	h, err := keyhash.NewHMAC(ps...)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// NewService returns a Service on store with hasher h (nil: HMAC with the
// test pepper) and opts (nil: the defaults), closed when tb ends. Unless
// opts says otherwise, the background usage flush is off (tests call
// FlushUsage).
func NewService(tb testing.TB, store keyward.Store, h keyward.Hasher, opts *keyward.Options) *keyward.Service {
	tb.Helper()
	if h == nil {
		h = HMAC(tb)
	}
	o := keyward.Options{UsageFlushInterval: -1}
	if opts != nil {
		o = *opts
		if o.UsageFlushInterval == 0 {
			o.UsageFlushInterval = -1
		}
	}
	svc, err := keyward.New(store, h, &o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}
