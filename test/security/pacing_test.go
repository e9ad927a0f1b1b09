package security

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/sqlite"
)

// slowStore makes every key lookup take at least delay, so that a store
// lookup is far slower than an answer from the cache's memory and the
// difference cannot hide in the noise.
type slowStore struct {
	keyward.Store
	delay time.Duration
}

func (s slowStore) Get(ctx context.Context, id string) (*keyward.Key, error) {
	time.Sleep(s.delay)
	return s.Store.Get(ctx, id)
}

// TestNotFoundPacedToLookupTime checks, in process, the pacing that keeps
// timing from telling ids apart: with Options.LookupTime set to the cache's
// LookupTime, every NOT_FOUND answered from memory (a cached key with a
// wrong secret, an id in the negative cache, an unknown id over the lookup
// budget) takes at least as long as a store lookup. Without it, the same
// answers come back far sooner (the control at the end), which is what an
// attacker measured.
func TestNotFoundPacedToLookupTime(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	frozen := time.Now() // the lookup budget never refills: one unknown id reaches the store
	cached, err := cache.New(slowStore{st, 3 * time.Millisecond}, &cache.Options{TTL: time.Hour, UnknownLookups: 1, Now: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	defer cached.Close()
	pepper, err := keyhash.NewPepper([]byte("security-test-pepper-of-at-least-32-bytes"))
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := keyhash.NewHMAC(pepper)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := keyward.New(cached, hasher, &keyward.Options{LookupTime: cached.LookupTime, UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for !cached.Stats().FilterReady { // until then unknown ids skip the budget
		if time.Now().After(deadline) {
			t.Fatal("the cache's filter of existing ids was not built within 10s")
		}
		time.Sleep(time.Millisecond)
	}

	issued, err := svc.Create(ctx, keyward.CreateParams{Name: "probed"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: issued.Secret}); err != nil || r.Outcome != keyward.OutcomeValid {
		t.Fatalf("verifying the key once (to cache it): %v %v", r.Outcome, err)
	}
	tok, err := keyward.Parse(issued.Secret)
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() keyward.Token {
		tk, err := keyward.NewToken(tok.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	wrongSecret := func() string { return keyward.Token{Prefix: tok.Prefix, ID: tok.ID, Secret: fresh().Secret}.String() }
	unknown := fresh().String()
	overBudget := fresh().String()

	// paced verifies key with s and fails unless the NOT_FOUND answer took
	// at least the store's lookup time, and the cache counter named by
	// counter moved (so the path under test was the one taken).
	paced := func(s *keyward.Service, what, key string, counter func(cache.Stats) uint64) (took, lookup time.Duration) {
		t.Helper()
		before := counter(cached.Stats())
		lookup = cached.LookupTime()
		start := time.Now()
		r, err := s.Verify(ctx, keyward.VerifyRequest{Key: key})
		took = time.Since(start)
		if err != nil || r.Outcome != keyward.OutcomeNotFound {
			t.Fatalf("%s: %v %v, want NOT_FOUND", what, r.Outcome, err)
		}
		if counter(cached.Stats()) == before {
			t.Fatalf("%s: the cache did not answer it the way this test means", what)
		}
		if lookup < 3*time.Millisecond {
			t.Fatalf("the cache reports a lookup time of %v, below the store's 3ms", lookup)
		}
		return took, lookup
	}
	hits := func(s cache.Stats) uint64 { return s.Hits }
	loads := func(s cache.Stats) uint64 { return s.Loads }
	negHits := func(s cache.Stats) uint64 { return s.NegativeHits }
	denials := func(s cache.Stats) uint64 { return s.BudgetDenials }

	for _, c := range []struct {
		what    string
		key     string
		counter func(cache.Stats) uint64
	}{
		{"a cached key with a wrong secret", wrongSecret(), hits},
		{"an unknown id (read from the store)", unknown, loads},
		{"the same unknown id again (negative cache)", unknown, negHits},
		{"another unknown id, over the lookup budget", overBudget, denials},
		{"a cached key with another wrong secret", wrongSecret(), hits},
	} {
		took, lookup := paced(svc, c.what, c.key, c.counter)
		t.Logf("%s: NOT_FOUND after %v (lookup time %v)", c.what, took, lookup)
		if took < lookup {
			t.Errorf("%s: NOT_FOUND after %v, sooner than a store lookup (%v): the answer tells it came from memory", c.what, took, lookup)
		}
	}

	// The control: without LookupTime the same answers from memory are
	// faster than a lookup, so the test above can fail.
	unpaced, err := keyward.New(cached, hasher, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer unpaced.Close(ctx)
	fastest := time.Hour
	for range 10 {
		took, _ := paced(unpaced, "a cached key with a wrong secret, unpaced", wrongSecret(), hits)
		fastest = min(fastest, took)
	}
	if fastest >= cached.LookupTime() {
		t.Errorf("without LookupTime the fastest of 10 cached wrong secrets took %v, not less than a lookup (%v): the test cannot tell pacing from no pacing", fastest, cached.LookupTime())
	}
}
