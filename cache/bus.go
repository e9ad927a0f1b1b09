package cache

import (
	"context"
	"sync"
)

// EventKind says what happened to a key.
type EventKind uint8

const (
	// Invalidate: the key changed or was deleted; drop cached copies.
	Invalidate EventKind = iota + 1
	// Created: a key with this id now exists; forget that it was unknown.
	Created
	// Reset: events may have been lost (the bus reconnected); drop
	// everything.
	Reset
)

// Event is one message on the invalidation bus.
type Event struct {
	Kind EventKind
	ID   string
}

// Bus carries invalidations between the caches of every instance. An
// implementation must be safe for concurrent use.
type Bus interface {
	// Publish sends e to every subscriber, this process's included.
	Publish(ctx context.Context, e Event) error
	// Subscribe calls fn for each event until the returned function is
	// called. fn must not block.
	Subscribe(fn func(Event)) (unsubscribe func())
	// Healthy reports whether events currently flow. While it is false,
	// caches shorten their TTL (events may be missed).
	Healthy() bool
}

// LocalBus delivers events to subscribers in this process only: the default
// for a single instance. The zero value is ready to use.
type LocalBus struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(Event)
}

var _ Bus = (*LocalBus)(nil)

// NewLocalBus returns an in-process bus.
func NewLocalBus() *LocalBus { return &LocalBus{} }

// Publish calls every subscriber synchronously.
func (b *LocalBus) Publish(_ context.Context, e Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, fn := range b.subs {
		fn(e)
	}
	return nil
}

// Subscribe registers fn.
func (b *LocalBus) Subscribe(fn func(Event)) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[int]func(Event){}
	}
	id := b.next
	b.next++
	b.subs[id] = fn
	return func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	}
}

// Healthy is always true: nothing can get lost in process.
func (b *LocalBus) Healthy() bool { return true }
