package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/keyhash"
)

// countingStore counts the lookups that reach PostgreSQL.
type countingStore struct {
	keyward.Store
	gets atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, id string) (*keyward.Key, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, id)
}

// TestFloodOfRandomKeysIsBounded: with PostgreSQL behind the cache, the
// filter of existing ids is built from the store's id listing, so a flood of
// random well-formed keys makes a bounded number of store lookups, as it does
// on SQLite.
func TestFloodOfRandomKeysIsBounded(t *testing.T) {
	back := &countingStore{Store: newStore(t)}
	// A frozen clock: the lookup budget (50 a second) does not refill while
	// the flood runs, however long the race detector makes it take.
	frozen := time.Now()
	c, err := cache.New(back, &cache.Options{UnknownLookups: 50, Now: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p, _ := keyhash.NewPepper([]byte("postgres flood test pepper, 32 bytes+"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(c, h, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	ctx := context.Background()
	var real []keyward.Issued
	for range 10 {
		iss, err := svc.Create(ctx, keyward.CreateParams{Name: "real"})
		if err != nil {
			t.Fatal(err)
		}
		real = append(real, iss)
	}
	// The cache builds its filter from PostgreSQL's id listing in the
	// background, at start; keys created since reach it through the bus.
	deadline := time.Now().Add(10 * time.Second)
	for !c.Stats().FilterReady {
		if time.Now().After(deadline) {
			t.Fatal("the cache's filter of existing ids was not built from PostgreSQL within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := back.gets.Load()
	for range 100_000 {
		tok, _ := keyward.NewToken("kw")
		r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: tok.String()})
		if err != nil || r.Outcome != keyward.OutcomeNotFound {
			t.Fatalf("random key: %v, %v", r.Outcome, err)
		}
	}
	calls := back.gets.Load() - before
	if calls > 400 { // the budget's burst (50) plus the filter's false positives (0.1%)
		t.Errorf("100,000 random keys made %d PostgreSQL lookups, want a bounded number (< 400)", calls)
	}
	t.Logf("100,000 random well-formed keys -> %d PostgreSQL lookups", calls)
	for _, iss := range real {
		if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret}); err != nil || !r.Valid() {
			t.Errorf("real key during the flood: %v, %v", r.Outcome, err)
		}
	}
}
