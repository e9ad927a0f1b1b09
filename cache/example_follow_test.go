package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/memory"
)

// Follow the store's change log, so that a write made without this cache
// (by the CLI, or another instance with no shared Redis) reaches it too.
func ExampleFollow() {
	ctx := context.Background()
	pepper, err := keyhash.NewPepper([]byte("a server-side secret of at least 32 bytes"))
	if err != nil {
		panic(err)
	}
	hasher, err := keyhash.NewHMAC(pepper)
	if err != nil {
		panic(err)
	}
	db := memory.New()
	// The Follower reads db's events outbox every Interval (500 ms by
	// default); this example reads it by hand, with Poll.
	feed := cache.Follow(ctx, cache.NewLocalBus(), db, &cache.FollowOptions{Interval: time.Hour})
	defer feed.Close()
	store, err := cache.New(db, &cache.Options{Bus: feed, TTL: 5 * time.Minute})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	svc, _ := keyward.New(store, hasher, nil)
	defer svc.Close(ctx)
	elsewhere, _ := keyward.New(db, hasher, nil) // straight on the database, as the CLI is
	defer elsewhere.Close(ctx)

	issued, _ := svc.Create(ctx, keyward.CreateParams{Name: "billing"})
	verify := func() keyward.Outcome {
		res, _ := svc.Verify(ctx, keyward.VerifyRequest{Key: issued.Secret})
		return res.Outcome
	}
	fmt.Println(verify())
	elsewhere.Revoke(ctx, issued.Key.ID)
	fmt.Println("revoked elsewhere, still cached:", verify())
	if err := feed.Poll(ctx); err != nil {
		panic(err)
	}
	fmt.Println("after the change log is read:", verify())
	// Output:
	// VALID
	// revoked elsewhere, still cached: VALID
	// after the change log is read: REVOKED
}
