package cache_test

import (
	"context"
	"slices"
	"testing"

	"github.com/keyward/keyward/cache"
)

// TestSubscribersInOrder: handlers run in the order they subscribed (a
// watcher registered after the cache sees an event only once the cache has
// applied it), and unsubscribing removes only that handler.
func TestSubscribersInOrder(t *testing.T) {
	b := cache.NewLocalBus()
	var got []int
	var unsubs []func()
	for i := range 5 {
		unsubs = append(unsubs, b.Subscribe(func(cache.Event) { got = append(got, i) }))
	}
	b.Publish(context.Background(), cache.Event{Kind: cache.Invalidate, ID: "x"})
	if want := []int{0, 1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("called %v, want %v", got, want)
	}
	unsubs[2]()
	got = nil
	b.Publish(context.Background(), cache.Event{Kind: cache.Invalidate, ID: "x"})
	if want := []int{0, 1, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("after unsubscribing the third: called %v, want %v", got, want)
	}
}
