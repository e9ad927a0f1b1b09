package cache

import (
	"context"
	"slices"
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
	// OwnerChanged: the owner record named ID changed, was created or was
	// deleted; drop cached copies (and the memory that it had none).
	OwnerChanged
	// RoleChanged: the role named ID changed, was created or was deleted.
	RoleChanged
)

// Event is one message on the invalidation bus.
type Event struct {
	Kind EventKind
	// ID is the key id, or the owner or role name.
	ID string
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

// healthAt is a Bus whose health depends on the time: it judges it at a
// reading of the wall clock that its caller already took (Unix
// nanoseconds), so that a cache hit does not read the clock again for it.
type healthAt interface {
	healthyAt(now int64) bool
}

// Subscribers is the list of event handlers of a Bus: Deliver calls them in
// the order they subscribed, so a handler registered after the cache's sees
// an event only once the cache has applied it. Bus implementations keep one
// and pass their Subscribe to it. The zero value is ready to use.
type Subscribers struct {
	mu   sync.RWMutex
	next int
	subs []subscriber
}

type subscriber struct {
	id int
	fn func(Event)
}

// Subscribe registers fn and returns the function that removes it.
func (s *Subscribers) Subscribe(fn func(Event)) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	s.subs = append(s.subs, subscriber{id: id, fn: fn})
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.subs = slices.DeleteFunc(s.subs, func(x subscriber) bool { return x.id == id })
	}
}

// Deliver calls every handler with e, in subscription order.
func (s *Subscribers) Deliver(e Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, x := range s.subs {
		x.fn(e)
	}
}

// LocalBus delivers events to subscribers in this process only: the default
// for a single instance. The zero value is ready to use.
type LocalBus struct {
	subs Subscribers
}

var _ Bus = (*LocalBus)(nil)

// NewLocalBus returns an in-process bus.
func NewLocalBus() *LocalBus { return &LocalBus{} }

// Publish calls every subscriber synchronously.
func (b *LocalBus) Publish(_ context.Context, e Event) error {
	b.subs.Deliver(e)
	return nil
}

// Subscribe registers fn; subscribers are called in the order they came.
func (b *LocalBus) Subscribe(fn func(Event)) func() { return b.subs.Subscribe(fn) }

// Healthy is always true: nothing can get lost in process.
func (b *LocalBus) Healthy() bool { return true }
