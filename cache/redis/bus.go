// Package redis carries cache invalidations between keyward instances over
// Redis pub/sub (github.com/redis/go-redis/v9).
//
// Every instance subscribes to one channel. A write on any instance
// publishes the key id; every instance drops its cached copy. While the
// subscription is broken the bus reports itself unhealthy, so caches shorten
// their TTL; when it comes back, it tells them to drop everything, since
// messages may have been lost meanwhile. Reconnection is automatic.
//
// Give it a client with Protocol: 2 (RESP2): with RESP3, go-redis reads
// pending push notifications before each pub/sub read, and that read can
// outlast the receive timeout the bus relies on to notice a dead connection.
package redis

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/keyward/cache"
)

// Options tunes [New]. The zero value (or nil) gives the defaults.
type Options struct {
	// Channel is the pub/sub channel; "" means "keyward:invalidations".
	Channel string
	// PingInterval is how often an idle subscription is checked; 0 means 1s.
	PingInterval time.Duration
	// Logger receives outage and recovery messages (once each); nil discards.
	Logger *slog.Logger
}

// Bus is a cache.Bus over Redis pub/sub. It is safe for concurrent use.
type Bus struct {
	client  goredis.UniversalClient
	channel string
	ping    time.Duration
	log     *slog.Logger

	subs cache.Subscribers

	healthy atomic.Bool
	psMu    sync.Mutex
	ps      *goredis.PubSub // the live subscription, closed by Close to end a blocked read
	ready   chan struct{}   // closed once the first subscription is confirmed
	stop    chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc
}

var _ cache.Bus = (*Bus)(nil)

// New starts a bus on client. It returns at once; [Bus.Healthy] turns true
// when the subscription is confirmed (see [Bus.WaitReady]).
func New(client goredis.UniversalClient, opts *Options) *Bus {
	if opts == nil {
		opts = &Options{}
	}
	b := &Bus{
		client: client, channel: opts.Channel, ping: opts.PingInterval, log: opts.Logger,
		ready: make(chan struct{}),
		stop:  make(chan struct{}), done: make(chan struct{}),
	}
	if b.channel == "" {
		b.channel = "keyward:invalidations"
	}
	if b.ping <= 0 {
		b.ping = time.Second
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.run(ctx)
	return b
}

// WaitReady waits until the first subscription is confirmed or ctx ends.
func (b *Bus) WaitReady(ctx context.Context) error {
	select {
	case <-b.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// encode and decode the wire form "<kind>:<id>" (owner and role names may
// hold any character, ':' included: only the first ':' separates).
func encode(e cache.Event) string {
	switch e.Kind {
	case cache.Created:
		return "c:" + e.ID
	case cache.Reset:
		return "r:"
	case cache.OwnerChanged:
		return "o:" + e.ID
	case cache.RoleChanged:
		return "l:" + e.ID
	}
	return "i:" + e.ID
}

func decode(s string) (cache.Event, bool) {
	kind, id, ok := strings.Cut(s, ":")
	if !ok {
		return cache.Event{}, false
	}
	switch kind {
	case "i":
		return cache.Event{Kind: cache.Invalidate, ID: id}, id != ""
	case "c":
		return cache.Event{Kind: cache.Created, ID: id}, id != ""
	case "r":
		return cache.Event{Kind: cache.Reset}, true
	case "o":
		return cache.Event{Kind: cache.OwnerChanged, ID: id}, id != ""
	case "l":
		return cache.Event{Kind: cache.RoleChanged, ID: id}, id != ""
	}
	return cache.Event{}, false
}

// Publish sends e to every instance (this one included, through Redis).
func (b *Bus) Publish(ctx context.Context, e cache.Event) error {
	return b.client.Publish(ctx, b.channel, encode(e)).Err()
}

// Subscribe registers fn for every event received; subscribers are called
// in the order they came.
func (b *Bus) Subscribe(fn func(cache.Event)) func() { return b.subs.Subscribe(fn) }

// Healthy reports whether the subscription is up.
func (b *Bus) Healthy() bool { return b.healthy.Load() }

// Close stops the subscription.
func (b *Bus) Close() error {
	select {
	case <-b.stop:
		return nil
	default:
	}
	close(b.stop)
	b.cancel()
	b.psMu.Lock()
	if b.ps != nil {
		b.ps.Close()
	}
	b.psMu.Unlock()
	<-b.done
	return nil
}

// run keeps a subscription up, reconnecting with backoff. Each outage is
// logged once.
func (b *Bus) run(ctx context.Context) {
	defer close(b.done)
	backoff := 100 * time.Millisecond
	first, logged := true, false
	for {
		err := b.session(ctx, &first)
		if ctx.Err() != nil {
			return
		}
		if b.healthy.Swap(false) {
			logged, backoff = false, 100*time.Millisecond // it was up: a new outage
		}
		if !logged {
			b.log.Error("redis bus: no subscription; caches use their fallback TTL until it is back", "err", err)
			logged = true
		}
		select {
		case <-b.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// session subscribes and delivers messages until the connection fails.
func (b *Bus) session(ctx context.Context, first *bool) error {
	ps := b.client.Subscribe(ctx, b.channel)
	b.psMu.Lock()
	if err := ctx.Err(); err != nil {
		// Close ran while Subscribe did: it did not see ps, so nothing else
		// would close it (go-redis does not end a read on a canceled ctx).
		b.psMu.Unlock()
		ps.Close()
		return err
	}
	b.ps = ps
	b.psMu.Unlock()
	defer func() {
		b.psMu.Lock()
		b.ps = nil
		b.psMu.Unlock()
		ps.Close()
	}()
	if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil { // the subscription confirmation
		return err
	}
	if !*first {
		// Messages may have been lost while we were away.
		b.subs.Deliver(cache.Event{Kind: cache.Reset})
		b.log.Info("redis bus: subscription restored; caches were reset")
	}
	*first = false
	b.healthy.Store(true)
	select {
	case <-b.ready:
	default:
		close(b.ready)
	}
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.ping)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				continue
			}
			return err
		}
		switch m := msg.(type) {
		case *goredis.Message:
			if e, ok := decode(m.Payload); ok {
				b.subs.Deliver(e)
			}
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				// go-redis resubscribed after a reconnect of its own.
				b.subs.Deliver(cache.Event{Kind: cache.Reset})
			}
		}
	}
}
