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
	e := newPacingEnv(t)
	tok := cacheProbedKey(t, e)
	checkNotFoundPaced(t, e, tok)
	checkUnpacedIsFaster(t, e, tok)
}

// pacingEnv is a service paced to the lookup time of its cache, in front of
// a store whose key lookups take at least 3ms.
type pacingEnv struct {
	ctx    context.Context
	cached *cache.Store
	hasher keyward.Hasher
	svc    *keyward.Service
}

// newPacingEnv opens the slow store behind a cache whose lookup budget lets
// one unknown id reach the store, starts the service with LookupTime set to
// the cache's, and waits until the cache's filter of existing ids is built.
func newPacingEnv(t *testing.T) *pacingEnv {
	t.Helper()
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
	t.Cleanup(func() { cached.Close() })
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
	t.Cleanup(func() { svc.Close(ctx) })
	deadline := time.Now().Add(10 * time.Second)
	for !cached.Stats().FilterReady { // until then unknown ids skip the budget
		if time.Now().After(deadline) {
			t.Fatal("the cache's filter of existing ids was not built within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	return &pacingEnv{ctx: ctx, cached: cached, hasher: hasher, svc: svc}
}

// cacheProbedKey creates the key "probed", verifies it once so that the
// cache holds it, and returns its parsed token.
func cacheProbedKey(t *testing.T, e *pacingEnv) keyward.Token {
	t.Helper()
	issued, err := e.svc.Create(e.ctx, keyward.CreateParams{Name: "probed"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := e.svc.Verify(e.ctx, keyward.VerifyRequest{Key: issued.Secret}); err != nil || r.Outcome != keyward.OutcomeValid {
		t.Fatalf("verifying the key once (to cache it): %v %v", r.Outcome, err)
	}
	tok, err := keyward.Parse(issued.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// freshToken returns a new random token with the prefix.
func freshToken(t *testing.T, prefix string) keyward.Token {
	t.Helper()
	tk, err := keyward.NewToken(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// withWrongSecret returns tok's id with a new random secret.
func withWrongSecret(t *testing.T, tok keyward.Token) string {
	t.Helper()
	return keyward.Token{Prefix: tok.Prefix, ID: tok.ID, Secret: freshToken(t, tok.Prefix).Secret}.String()
}

// The cache counters that tell which path answered.
var (
	statHits    = func(s cache.Stats) uint64 { return s.Hits }
	statLoads   = func(s cache.Stats) uint64 { return s.Loads }
	statNegHits = func(s cache.Stats) uint64 { return s.NegativeHits }
	statDenials = func(s cache.Stats) uint64 { return s.BudgetDenials }
)

// paced verifies key with s and fails unless the NOT_FOUND answer took
// at least the store's lookup time, and the cache counter named by
// counter moved (so the path under test was the one taken).
func paced(t *testing.T, e *pacingEnv, s *keyward.Service, what, key string, counter func(cache.Stats) uint64) (took, lookup time.Duration) {
	t.Helper()
	before := counter(e.cached.Stats())
	lookup = e.cached.LookupTime()
	start := time.Now()
	r, err := s.Verify(e.ctx, keyward.VerifyRequest{Key: key})
	took = time.Since(start)
	if err != nil || r.Outcome != keyward.OutcomeNotFound {
		t.Fatalf("%s: %v %v, want NOT_FOUND", what, r.Outcome, err)
	}
	if counter(e.cached.Stats()) == before {
		t.Fatalf("%s: the cache did not answer it the way this test means", what)
	}
	if lookup < 3*time.Millisecond {
		t.Fatalf("the cache reports a lookup time of %v, below the store's 3ms", lookup)
	}
	return took, lookup
}

// checkNotFoundPaced checks that every NOT_FOUND the paced service answers
// from memory (a cached key with a wrong secret, an id in the negative
// cache, an unknown id over the lookup budget), and one read from the
// store, takes at least the lookup time.
func checkNotFoundPaced(t *testing.T, e *pacingEnv, tok keyward.Token) {
	t.Helper()
	unknown := freshToken(t, tok.Prefix).String()
	overBudget := freshToken(t, tok.Prefix).String()
	for _, c := range []struct {
		what    string
		key     string
		counter func(cache.Stats) uint64
	}{
		{"a cached key with a wrong secret", withWrongSecret(t, tok), statHits},
		{"an unknown id (read from the store)", unknown, statLoads},
		{"the same unknown id again (negative cache)", unknown, statNegHits},
		{"another unknown id, over the lookup budget", overBudget, statDenials},
		{"a cached key with another wrong secret", withWrongSecret(t, tok), statHits},
	} {
		took, lookup := paced(t, e, e.svc, c.what, c.key, c.counter)
		t.Logf("%s: NOT_FOUND after %v (lookup time %v)", c.what, took, lookup)
		if took < lookup {
			t.Errorf("%s: NOT_FOUND after %v, sooner than a store lookup (%v): the answer tells it came from memory", c.what, took, lookup)
		}
	}
}

// checkUnpacedIsFaster is the control: without LookupTime the same answers
// from memory are faster than a lookup, so checkNotFoundPaced can fail.
func checkUnpacedIsFaster(t *testing.T, e *pacingEnv, tok keyward.Token) {
	t.Helper()
	unpaced, err := keyward.New(e.cached, e.hasher, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer unpaced.Close(e.ctx)
	fastest := time.Hour
	for range 10 {
		took, _ := paced(t, e, unpaced, "a cached key with a wrong secret, unpaced", withWrongSecret(t, tok), statHits)
		fastest = min(fastest, took)
	}
	if fastest >= e.cached.LookupTime() {
		t.Errorf("without LookupTime the fastest of 10 cached wrong secrets took %v, not less than a lookup (%v): the test cannot tell pacing from no pacing", fastest, e.cached.LookupTime())
	}
}
