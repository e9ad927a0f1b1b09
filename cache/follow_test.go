package cache_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/internal/testkit"
)

// followEnv is a cached Service whose bus follows the store's change log,
// and a second Service straight on the store: another process (the CLI, an
// instance without Redis) writing to the same database.
type followEnv struct {
	*env
	follower *cache.Follower
	other    *keyward.Service
}

func newFollowEnv(t *testing.T) *followEnv {
	t.Helper()
	back, clk := newBackend(), testkit.NewClock(t0)
	// An hour between reads: the test reads the log itself (Poll), so it
	// knows what the cache has seen.
	f := cache.Follow(context.Background(), cache.NewLocalBus(), back.Store, &cache.FollowOptions{Interval: time.Hour, Now: clk.Now})
	t.Cleanup(f.Close)
	e := newEnv(t, back, clk, cache.Options{TTL: time.Hour, Bus: f})
	other := testkit.NewService(t, back.Store, hasher(t), &keyward.Options{Now: clk.Now})
	return &followEnv{env: e, follower: f, other: other}
}

func (e *followEnv) poll(t *testing.T) {
	t.Helper()
	if err := e.follower.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestChangeLogCarriesRevocationsMadeElsewhere(t *testing.T) {
	e := newFollowEnv(t)
	ctx := context.Background()
	iss := e.create(t)
	if got := e.verify(t, iss.Secret); got != keyward.OutcomeValid {
		t.Fatalf("before: %v", got)
	}
	if _, err := e.other.Revoke(ctx, iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	// The cached copy is an hour's TTL away from a reload: only the log
	// can tell the cache.
	if got := e.verify(t, iss.Secret); got != keyward.OutcomeValid {
		t.Fatalf("revoked elsewhere, before the log is read: %v (want the cached VALID: the test must show the log's effect)", got)
	}
	e.poll(t)
	if got := e.verify(t, iss.Secret); got != keyward.OutcomeRevoked {
		t.Fatalf("revoked elsewhere, after the log is read: %v, want REVOKED", got)
	}
}

func TestChangeLogCarriesRoleAndOwnerChanges(t *testing.T) {
	e := newFollowEnv(t)
	ctx := context.Background()
	if _, _, err := e.svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"docs:read"}}); err != nil {
		t.Fatal(err)
	}
	iss, err := e.svc.Create(ctx, keyward.CreateParams{Name: "with role", Roles: []string{"reader"}, Owner: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	need := func() keyward.Outcome {
		r, err := e.svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{"docs:read"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Outcome
	}
	if got := need(); got != keyward.OutcomeValid {
		t.Fatalf("before: %v", got)
	}
	e.poll(t) // the Service's own writes are in the log too: they drop what it cached
	if got := need(); got != keyward.OutcomeValid {
		t.Fatalf("after reading its own writes: %v", got)
	}
	if _, _, err := e.other.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"docs:list"}}); err != nil {
		t.Fatal(err)
	}
	if got := need(); got != keyward.OutcomeValid {
		t.Fatalf("role changed elsewhere, before the log is read: %v (want the cached VALID)", got)
	}
	e.poll(t)
	if got := need(); got != keyward.OutcomeInsufficientScope {
		t.Fatalf("role changed elsewhere, after the log is read: %v, want INSUFFICIENT_SCOPE", got)
	}

	// An owner record given credits elsewhere: the key now spends them.
	if _, _, err := e.other.PutOwner(ctx, "acme", keyward.OwnerParams{Remaining: keyward.Ptr[int64](1)}); err != nil {
		t.Fatal(err)
	}
	e.poll(t)
	r, err := e.svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
	if err != nil || r.Outcome != keyward.OutcomeValid || r.OwnerRemaining != 0 {
		t.Fatalf("owner given 1 credit elsewhere: %v, owner remaining %d, %v; want VALID with 0 left", r.Outcome, r.OwnerRemaining, err)
	}

}

// fakeLog is a change log the test fills by hand, in the order a
// PostgreSQL reader can see events: not always by sequence number.
type fakeLog struct {
	mu     sync.Mutex
	events []keyward.Event
	err    error // of every read
}

func (l *fakeLog) add(seq int64, keyID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, keyward.Event{Seq: seq, Type: keyward.EventKeyRevoked, Data: []byte(`{"key":{"id":"` + keyID + `"}}`)})
}

func (l *fakeLog) EventsAfter(_ context.Context, after int64, limit int) ([]keyward.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	var out []keyward.Event
	for seq := after + 1; len(out) < limit && seq <= after+1000; seq++ {
		for _, e := range l.events {
			if e.Seq == seq {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

func (l *fakeLog) LastEventSeq(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	var last int64
	for _, e := range l.events {
		last = max(last, e.Seq)
	}
	return last, nil
}

// followed returns a follower of log and the ids it delivered, in order.
func followed(t *testing.T, log cache.ChangeLog, clk *testkit.Clock, batch int) (*cache.Follower, func() []string) {
	t.Helper()
	return followedOn(t, cache.NewLocalBus(), log, clk, batch)
}

// followedOn is followed with inner as the Follower's inner bus.
func followedOn(t *testing.T, inner cache.Bus, log cache.ChangeLog, clk *testkit.Clock, batch int) (*cache.Follower, func() []string) {
	t.Helper()
	f := cache.Follow(context.Background(), inner, log, &cache.FollowOptions{Interval: time.Hour, GapWait: 10 * time.Second, Batch: batch, Now: clk.Now})
	t.Cleanup(f.Close)
	var mu sync.Mutex
	var got []string
	f.Subscribe(func(e cache.Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e.ID)
	})
	return f, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
}

func TestFollowerWaitsForSkippedSequenceNumbers(t *testing.T) {
	clk := testkit.NewClock(t0)
	log := &fakeLog{}
	f, delivered := followed(t, log, clk, 2) // a batch of 2: paging past a held-back gap
	ctx := context.Background()

	log.add(1, "a")
	log.add(3, "c") // 2 is taken by a transaction that has not committed
	log.add(4, "d")
	log.add(5, "e")
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := delivered(); len(got) != 4 {
		t.Fatalf("first read delivered %v, want a, c, d, e", got)
	}
	log.add(2, "b") // commits late
	clk.Add(5 * time.Second)
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := delivered(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("after the late commit: delivered %v, want b alone (c, d and e once only)", got)
	}

	// A number skipped for good (a rollback) is given up after GapWait;
	// what follows is still delivered once.
	log.add(7, "g")
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(11 * time.Second)
	log.add(8, "h")
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := delivered(); len(got) != 2 || got[0] != "g" || got[1] != "h" {
		t.Fatalf("delivered %v, want g then h", got)
	}
	log.add(6, "f") // later than GapWait: the cache's TTL covers it
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := delivered(); len(got) != 0 {
		t.Fatalf("delivered %v after the gap was given up, want nothing", got)
	}
}

func TestFollowerUnhealthyWhileTheLogFails(t *testing.T) {
	clk := testkit.NewClock(t0)
	log := &fakeLog{}
	f, delivered := followed(t, log, clk, 100)
	ctx := context.Background()
	if !f.Healthy() {
		t.Fatal("unhealthy at start")
	}
	log.mu.Lock()
	log.err = errors.New("database is locked")
	log.mu.Unlock()
	log.add(1, "a")
	if err := f.Poll(ctx); err == nil {
		t.Fatal("Poll hid the log's error")
	}
	if !f.Healthy() {
		t.Fatal("unhealthy after one failed read: a short hiccup must not shorten every TTL")
	}
	clk.Add(time.Hour * 5) // five intervals of an hour
	if f.Healthy() {
		t.Fatal("still healthy five intervals after the last good read")
	}
	log.mu.Lock()
	log.err = nil
	log.mu.Unlock()
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if !f.Healthy() {
		t.Fatal("unhealthy after a good read")
	}
	if got := delivered(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("delivered %v after the log came back, want the change made meanwhile", got)
	}
}

func TestFollowerStartsAtTheEndOfTheLogOnceItCanReadIt(t *testing.T) {
	clk := testkit.NewClock(t0)
	log := &fakeLog{err: errors.New("connection refused")}
	log.add(1, "old") // changed before this process started: nothing of it is cached
	f, delivered := followed(t, log, clk, 100)
	ctx := context.Background()
	if err := f.Poll(ctx); err == nil {
		t.Fatal("Poll hid the log's error")
	}
	log.mu.Lock()
	log.err = nil
	log.mu.Unlock()
	log.add(2, "new")
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := delivered(); len(got) != 0 {
		t.Fatalf("first good read delivered %v, want nothing: it only finds the end of the log", got)
	}
	log.add(3, "next")
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := delivered(); len(got) != 1 || got[0] != "next" {
		t.Fatalf("delivered %v, want next", got)
	}
}

// downBus is a bus that has lost its connection (Redis down).
type downBus struct{ *cache.LocalBus }

func (downBus) Healthy() bool { return false }

// With its inner bus down, a follower that reads the log is healthy (a cache
// keeps its TTL) and still delivers every change.
func TestFollowerHealthyWhileOnlyTheInnerBusIsDown(t *testing.T) {
	clk := testkit.NewClock(t0)
	log := &fakeLog{}
	f, delivered := followedOn(t, downBus{cache.NewLocalBus()}, log, clk, 0)
	ctx := context.Background()
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	log.add(1, "a")
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if !f.Healthy() {
		t.Error("unhealthy while the log is read: the inner bus's outage must not shorten every TTL")
	}
	if got := delivered(); len(got) != 1 || got[0] != "a" {
		t.Errorf("delivered %v with the inner bus down, want a", got)
	}
}

// TestFollowerJudgesHealthAtTheCallersReading: a Follower on the wall clock
// judges its health at the reading it is given, and a cache on the wall
// clock hands it the reading of the verification (GetAt), so that a cache
// hit does not read the clock again for it; a Follower on a clock of its
// own reads that clock.
func TestFollowerJudgesHealthAtTheCallersReading(t *testing.T) {
	ctx := context.Background()
	log := &fakeLog{err: errors.New("database is locked")} // no good read after the start
	f := cache.Follow(ctx, cache.NewLocalBus(), log, &cache.FollowOptions{Interval: 100 * time.Millisecond})
	t.Cleanup(f.Close)
	now := time.Now()
	if !f.HealthyAt(now.UnixNano()) || f.HealthyAt(now.Add(time.Minute).UnixNano()) {
		t.Fatal("on the wall clock: want healthy now and not a minute on (limit 2 s after the last good read)")
	}
	clocked, _ := followed(t, &fakeLog{}, testkit.NewClock(t0), 100)
	if !clocked.HealthyAt(now.Add(time.Minute).UnixNano()) {
		t.Error("on its own clock: judged by the reading it was given instead of its clock")
	}

	st := getAtEach(t, &cache.Options{TTL: time.Hour, FallbackTTL: time.Second, Bus: f}, now, now.Add(time.Minute))
	// A minute on, the follower has not read the log for over 2 s: the TTL
	// falls to the fallback of 1 s, and the key is read again.
	if st.Misses != 2 {
		t.Errorf("%d misses, want 2: the follower's health was not judged at the reading GetAt was given", st.Misses)
	}
}

// BenchmarkVerifyCacheHitFollowed is a cache hit as keyward serve makes it
// on SQLite: everything on the wall clock, the bus a Follower of the
// store's change log (here an empty one, read every half second).
func BenchmarkVerifyCacheHitFollowed(b *testing.B) {
	ctx := context.Background()
	f := cache.Follow(ctx, cache.NewLocalBus(), &fakeLog{}, nil)
	b.Cleanup(f.Close)
	c, err := cache.New(newBackend(), &cache.Options{Bus: f})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	svc := testkit.NewService(b, c, hasher(b), &keyward.Options{LookupTime: c.LookupTime})
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "k"})
	if err != nil {
		b.Fatal(err)
	}
	req := keyward.VerifyRequest{Key: iss.Secret}
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := svc.Verify(ctx, req); !r.Valid() {
			b.Fatal(r.Outcome)
		}
	}
}
