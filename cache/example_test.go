package cache_test

import (
	"context"
	"fmt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/memory"
)

// verifyThroughCache is the code of the package documentation, then a key
// verified twice and revoked.
func verifyThroughCache(ctx context.Context, db keyward.Store, bus cache.Bus, hasher keyward.Hasher) error {
	store, err := cache.New(db, &cache.Options{Bus: bus}) // bus: cache/redis's, shared by every instance
	if err != nil {
		return err
	}
	defer store.Close() // closes db too
	svc, err := keyward.New(store, hasher, &keyward.Options{LookupTime: store.LookupTime})
	if err != nil {
		return err
	}
	defer svc.Close(ctx)

	issued, err := svc.Create(ctx, keyward.CreateParams{Name: "billing"})
	if err != nil {
		return err
	}
	for range 2 { // the first verification loads the key, the second finds it cached
		res, err := svc.Verify(ctx, keyward.VerifyRequest{Key: issued.Secret})
		if err != nil {
			return err
		}
		fmt.Println(res.Outcome)
	}
	if _, err := svc.Revoke(ctx, issued.Key.ID); err != nil {
		return err
	}
	res, err := svc.Verify(ctx, keyward.VerifyRequest{Key: issued.Secret})
	if err != nil {
		return err
	}
	fmt.Println("after revoking:", res.Outcome) // a write drops the cached copy at once
	return nil
}

// Put the cache in front of a store: the Service does not know it is there,
// and a write through it is seen at once.
func Example() {
	pepper, err := keyhash.NewPepper([]byte("a server-side secret of at least 32 bytes"))
	if err != nil {
		panic(err)
	}
	hasher, err := keyhash.NewHMAC(pepper)
	if err != nil {
		panic(err)
	}
	// One process: a LocalBus. Several instances share cache/redis's Bus.
	if err := verifyThroughCache(context.Background(), memory.New(), cache.NewLocalBus(), hasher); err != nil {
		fmt.Println(err)
	}
	// Output:
	// VALID
	// VALID
	// after revoking: REVOKED
}
