package keyward_test

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

var base = time.Date(2026, 5, 17, 10, 30, 0, 0, time.UTC)

// clock is a time source the test moves by hand.
type clock = testkit.Clock

// spyStore counts the lookups that reach the store.
type spyStore struct {
	keyward.Store
	gets atomic.Int64
}

func (s *spyStore) Get(ctx context.Context, id string) (*keyward.Key, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, id)
}

func hmacHasher(tb testing.TB, peppers ...string) *keyhash.HMAC { return testkit.HMAC(tb, peppers...) }

type env struct {
	svc   *keyward.Service
	store *spyStore
	clock *clock
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{store: &spyStore{Store: memory.New()}, clock: testkit.NewClock(base)}
	e.svc = testkit.NewService(tb, e.store, hmacHasher(tb, "pepper one"), &keyward.Options{Limiter: ratelimit.NewLocal(), Now: e.clock.Now})
	return e
}

func (e *env) create(tb testing.TB, p keyward.CreateParams) keyward.Issued {
	tb.Helper()
	if p.Name == "" {
		p.Name = "test key"
	}
	iss, err := e.svc.Create(context.Background(), p)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return iss
}

func (e *env) verify(tb testing.TB, req keyward.VerifyRequest) keyward.Result {
	tb.Helper()
	r, err := e.svc.Verify(context.Background(), req)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return r
}

func TestVerifyMalformedDoesNotTouchTheStore(t *testing.T) {
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{})
	b := []byte(iss.Secret)
	// One character of the secret replaced by another base62 character: the
	// checksum no longer matches.
	if i := len(b) - 8; b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	before := e.store.gets.Load()
	r := e.verify(t, keyward.VerifyRequest{Key: string(b)})
	if r.Outcome != keyward.OutcomeMalformed || r.Key != nil {
		t.Fatalf("outcome %v key %v, want MALFORMED without key", r.Outcome, r.Key)
	}
	if n := e.store.gets.Load() - before; n != 0 {
		t.Errorf("a malformed key made %d store lookups, want 0", n)
	}
}

func TestVerifyOutcomeOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := netip.MustParseAddr("203.0.113.7")
	type setup func(t *testing.T, id string)
	revoke := func(t *testing.T, id string) {
		if _, err := e.svc.Revoke(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	disable := func(t *testing.T, id string) {
		if _, err := e.svc.Update(ctx, id, keyward.UpdateParams{Enabled: keyward.Ptr(false)}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		params keyward.CreateParams
		after  []setup
		req    keyward.VerifyRequest
		wrong  bool // present a wrong secret for the right id
		want   keyward.Outcome
	}{
		{"wrong secret on a revoked key reveals nothing", keyward.CreateParams{}, []setup{revoke}, keyward.VerifyRequest{}, true, keyward.OutcomeNotFound},
		{"revoked before expired and disabled", keyward.CreateParams{ExpiresIn: keyward.Ptr(keyward.Duration(time.Second))}, []setup{disable, revoke}, keyward.VerifyRequest{}, false, keyward.OutcomeRevoked},
		{"expired before disabled", keyward.CreateParams{ExpiresIn: keyward.Ptr(keyward.Duration(time.Second)), Enabled: keyward.Ptr(false)}, nil, keyward.VerifyRequest{}, false, keyward.OutcomeExpired},
		{"disabled before address", keyward.CreateParams{Enabled: keyward.Ptr(false), AllowedCIDRs: []string{"10.0.0.0/8"}}, nil, keyward.VerifyRequest{ClientIP: client}, false, keyward.OutcomeDisabled},
		{"address before scope", keyward.CreateParams{AllowedCIDRs: []string{"10.0.0.0/8"}}, nil, keyward.VerifyRequest{ClientIP: client, Scopes: []string{"x"}}, false, keyward.OutcomeForbiddenAddress},
		{"unknown address is forbidden", keyward.CreateParams{AllowedCIDRs: []string{"0.0.0.0/0"}}, nil, keyward.VerifyRequest{}, false, keyward.OutcomeForbiddenAddress},
		{"address inside", keyward.CreateParams{AllowedCIDRs: []string{"203.0.113.0/24"}}, nil, keyward.VerifyRequest{ClientIP: client}, false, keyward.OutcomeValid},
		{"IPv4-mapped IPv6 address inside", keyward.CreateParams{AllowedCIDRs: []string{"203.0.113.7"}}, nil, keyward.VerifyRequest{ClientIP: netip.MustParseAddr("::ffff:203.0.113.7")}, false, keyward.OutcomeValid},
		{"IPv4-mapped IPv6 prefix", keyward.CreateParams{AllowedCIDRs: []string{"::ffff:203.0.113.0/120"}}, nil, keyward.VerifyRequest{ClientIP: client}, false, keyward.OutcomeValid},
		{"IPv4-mapped IPv6 prefix, mapped client", keyward.CreateParams{AllowedCIDRs: []string{"::ffff:203.0.113.0/120"}}, nil, keyward.VerifyRequest{ClientIP: netip.MustParseAddr("::ffff:203.0.113.7")}, false, keyward.OutcomeValid},
		{"IPv4-mapped IPv6 prefix, outside", keyward.CreateParams{AllowedCIDRs: []string{"::ffff:203.0.113.0/120"}}, nil, keyward.VerifyRequest{ClientIP: netip.MustParseAddr("198.51.100.7")}, false, keyward.OutcomeForbiddenAddress},
		{"scope before rate limit", keyward.CreateParams{RateLimit: &keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Minute)}}, nil, keyward.VerifyRequest{Scopes: []string{"x"}}, false, keyward.OutcomeInsufficientScope},
		{"usage exceeded", keyward.CreateParams{Remaining: keyward.Ptr[int64](0)}, nil, keyward.VerifyRequest{}, false, keyward.OutcomeUsageExceeded},
		{"valid", keyward.CreateParams{Scopes: []string{"read"}}, nil, keyward.VerifyRequest{Scopes: []string{"read"}}, false, keyward.OutcomeValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			iss := e.create(t, tc.params)
			for _, f := range tc.after {
				f(t, iss.Key.ID)
			}
			e.clock.Add(2 * time.Second) // past the one-second expiries
			req := tc.req
			req.Key = iss.Secret
			if tc.wrong {
				tok, _ := keyward.Parse(iss.Secret)
				other, _ := keyward.NewToken(tok.Prefix)
				tok.Secret = other.Secret
				req.Key = tok.String()
			}
			r := e.verify(t, req)
			if r.Outcome != tc.want {
				t.Fatalf("outcome %v, want %v", r.Outcome, tc.want)
			}
			if (r.Key == nil) != (tc.want == keyward.OutcomeNotFound) {
				t.Errorf("key returned = %v for outcome %v", r.Key != nil, r.Outcome)
			}
		})
	}
}

func TestVerifyFailuresSpendNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	iss := e.create(t, keyward.CreateParams{
		Scopes:    []string{"read"},
		RateLimit: &keyward.RateLimit{Limit: 2, Period: keyward.Duration(time.Minute)},
		Remaining: keyward.Ptr[int64](1),
	})
	// A scope failure spends neither a token nor a credit.
	for range 5 {
		if r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{"write"}}); r.Outcome != keyward.OutcomeInsufficientScope {
			t.Fatalf("outcome %v", r.Outcome)
		}
	}
	r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret})
	if !r.Valid() || r.Remaining != 0 || r.RateLimit.Remaining != 1 {
		t.Fatalf("first real use: %v remaining %d, rate remaining %d; want VALID, 0, 1", r.Outcome, r.Remaining, r.RateLimit.Remaining)
	}
	// Credits are gone: USAGE_EXCEEDED gives its rate-limit token back.
	for range 3 {
		r = e.verify(t, keyward.VerifyRequest{Key: iss.Secret})
		if r.Outcome != keyward.OutcomeUsageExceeded || r.RateLimit.Remaining != 1 {
			t.Fatalf("no credits: %v, rate remaining %d; want USAGE_EXCEEDED, 1", r.Outcome, r.RateLimit.Remaining)
		}
		if r.RateLimit.Reset <= 0 {
			t.Errorf("one unit is still spent, so one returns later: reset %v", r.RateLimit.Reset)
		}
		if r.RetryAfter != 0 {
			t.Errorf("RetryAfter %v without a refill, want 0", r.RetryAfter)
		}
	}
	// Top up the credits: the one remaining token is spent, then RATE_LIMITED
	// spends no credit.
	if _, err := e.svc.Update(ctx, iss.Key.ID, keyward.UpdateParams{Remaining: keyward.SetTo[int64](5)}); err != nil {
		t.Fatal(err)
	}
	if r = e.verify(t, keyward.VerifyRequest{Key: iss.Secret}); !r.Valid() || r.Remaining != 4 {
		t.Fatalf("after top-up: %v remaining %d", r.Outcome, r.Remaining)
	}
	r = e.verify(t, keyward.VerifyRequest{Key: iss.Secret})
	if r.Outcome != keyward.OutcomeRateLimited || r.RetryAfter <= 0 || r.RateLimit.Remaining != 0 {
		t.Fatalf("third use in the minute: %+v; want RATE_LIMITED with RetryAfter", r)
	}
	if k, _ := e.svc.Get(ctx, iss.Key.ID); *k.Remaining != 4 {
		t.Errorf("RATE_LIMITED spent a credit: remaining %d, want 4", *k.Remaining)
	}
}

func TestVerifyCostZeroChecksWithoutSpending(t *testing.T) {
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{
		RateLimit: &keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Minute)},
		Remaining: keyward.Ptr[int64](0),
	})
	zero := keyward.Ptr[int64](0)
	for range 3 {
		r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret, Cost: zero})
		if !r.Valid() || r.RateLimit.Remaining != 1 || r.RateLimit.Limit != 1 {
			t.Fatalf("cost 0: %+v; want VALID with the rate limit untouched", r)
		}
	}
	full := e.create(t, keyward.CreateParams{RateLimit: &keyward.RateLimit{Limit: 3, Period: keyward.Duration(time.Minute)}, Remaining: keyward.Ptr[int64](0)})
	if r := e.verify(t, keyward.VerifyRequest{Key: full.Secret}); r.Outcome != keyward.OutcomeUsageExceeded || r.RateLimit.Remaining != 3 || r.RateLimit.Reset != 0 {
		t.Errorf("USAGE_EXCEEDED on a full budget: %+v; want remaining 3 and reset 0 (the unit was given back)", r.RateLimit)
	}
	if _, err := e.svc.Verify(context.Background(), keyward.VerifyRequest{Key: iss.Secret, Cost: keyward.Ptr[int64](-1)}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("negative cost: err = %v, want ErrInvalid", err)
	}
}

func TestVerifyRefill(t *testing.T) {
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{
		Remaining: keyward.Ptr[int64](1),
		Refill:    &keyward.Refill{Interval: keyward.RefillDaily, Amount: 3},
	})
	if r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret}); !r.Valid() || r.Remaining != 0 {
		t.Fatalf("first use: %v, %d left", r.Outcome, r.Remaining)
	}
	r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret})
	midnight := time.Date(2026, 5, 18, 0, 0, 0, 0, time.UTC)
	if r.Outcome != keyward.OutcomeUsageExceeded || r.RetryAfter != midnight.Sub(e.clock.Now()) {
		t.Fatalf("spent: %v retry after %v; want USAGE_EXCEEDED until midnight (%v)", r.Outcome, r.RetryAfter, midnight.Sub(e.clock.Now()))
	}
	e.clock.Add(r.RetryAfter)
	if k, _ := e.svc.Get(context.Background(), iss.Key.ID); *k.Remaining != 3 {
		t.Errorf("after midnight the key shows %d credits, want the refill amount 3", *k.Remaining)
	}
	for i := range 3 {
		if r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret}); !r.Valid() || r.Remaining != int64(2-i) {
			t.Fatalf("after refill, use %d: %v, %d left", i, r.Outcome, r.Remaining)
		}
	}
	if r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret}); r.Outcome != keyward.OutcomeUsageExceeded {
		t.Fatalf("fourth use after refill: %v", r.Outcome)
	}
}

func TestVerifyWithoutLimiter(t *testing.T) {
	svc, err := keyward.New(memory.New(), hmacHasher(t, "p"), &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	iss, err := svc.Create(context.Background(), keyward.CreateParams{Name: "limited", RateLimit: &keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Verify(context.Background(), keyward.VerifyRequest{Key: iss.Secret}); !errors.Is(err, keyward.ErrNoLimiter) {
		t.Errorf("rate-limited key without a limiter: err = %v, want ErrNoLimiter", err)
	}
}

func TestVerifyRecordsUsage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	iss := e.create(t, keyward.CreateParams{})
	tok, _ := keyward.Parse(iss.Secret)
	other, _ := keyward.NewToken(tok.Prefix)
	tok.Secret = other.Secret
	e.verify(t, keyward.VerifyRequest{Key: iss.Secret})
	e.verify(t, keyward.VerifyRequest{Key: iss.Secret})
	e.verify(t, keyward.VerifyRequest{Key: tok.String()}) // a guess at the secret
	if err := e.svc.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := e.svc.Usage(ctx, keyward.UsageParams{KeyID: iss.Key.ID})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals["VALID"] != 2 || rep.Totals["NOT_FOUND"] != 1 || len(rep.Series) != 1 {
		t.Errorf("usage = %+v; want VALID 2 and NOT_FOUND 1 in one bucket", rep)
	}
	k, _ := e.svc.Get(ctx, iss.Key.ID)
	if k.LastUsedAt == nil || !k.LastUsedAt.Equal(base) {
		t.Errorf("last_used_at = %v, want %v", k.LastUsedAt, base)
	}
	stats := e.svc.Stats()
	if stats[keyward.OutcomeValid] != 2 || stats[keyward.OutcomeNotFound] != 1 {
		t.Errorf("stats = %v", stats)
	}
}

func TestRehashOnVerify(t *testing.T) {
	store := memory.New()
	ctx := context.Background()
	old, err := keyward.New(store, hmacHasher(t, "old pepper"), &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := old.Create(ctx, keyward.CreateParams{Name: "k"})
	old.Close(ctx)
	stored, _ := store.Get(ctx, iss.Key.ID)
	oldHash := stored.Hash

	svc, err := keyward.New(store, hmacHasher(t, "new pepper", "old pepper"), &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
	if err != nil || !r.Valid() {
		t.Fatalf("verify with the old pepper configured second: %v %v", r.Outcome, err)
	}
	svc.Close(ctx) // waits for the background rehash
	stored, _ = store.Get(ctx, iss.Key.ID)
	if stored.Hash == oldHash {
		t.Fatal("hash was not upgraded to the current pepper")
	}
	current, _ := keyward.New(store, hmacHasher(t, "new pepper"), &keyward.Options{UsageFlushInterval: -1})
	defer current.Close(ctx)
	if r, _ := current.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret}); !r.Valid() {
		t.Errorf("after rehash, verify with only the new pepper: %v", r.Outcome)
	}
}

// TestNoRehashKeepsHash: with Options.NoRehash a hash the hasher wants
// redone (here: an older pepper) verifies and stays as it is.
func TestNoRehashKeepsHash(t *testing.T) {
	store := memory.New()
	ctx := context.Background()
	old, _ := keyward.New(store, hmacHasher(t, "old pepper"), &keyward.Options{UsageFlushInterval: -1})
	iss, _ := old.Create(ctx, keyward.CreateParams{Name: "k"})
	old.Close(ctx)
	stored, _ := store.Get(ctx, iss.Key.ID)
	oldHash := stored.Hash

	svc, err := keyward.New(store, hmacHasher(t, "new pepper", "old pepper"), &keyward.Options{UsageFlushInterval: -1, NoRehash: true})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret}); err != nil || !r.Valid() {
		t.Fatalf("verify with the old pepper configured second: %v %v", r.Outcome, err)
	}
	svc.Close(ctx) // would wait for a background rehash
	if stored, _ = store.Get(ctx, iss.Key.ID); stored.Hash != oldHash {
		t.Errorf("NoRehash: the hash changed to %.20s...", stored.Hash)
	}
}

func TestVerifyAnyScope(t *testing.T) {
	e := newEnv(t)
	admin := e.create(t, keyward.CreateParams{Scopes: []string{keyward.ScopeAdmin}})
	plain := e.create(t, keyward.CreateParams{Scopes: []string{"*"}})
	any := []string{keyward.ScopeVerify, keyward.ScopeAdmin}
	if r := e.verify(t, keyward.VerifyRequest{Key: admin.Secret, AnyScope: any}); !r.Valid() {
		t.Errorf("admin key for verify-or-admin: %v", r.Outcome)
	}
	if r := e.verify(t, keyward.VerifyRequest{Key: plain.Secret, AnyScope: any}); r.Outcome != keyward.OutcomeInsufficientScope || r.MissingScope != keyward.ScopeVerify {
		t.Errorf("'*' key for verify-or-admin: %v missing %q", r.Outcome, r.MissingScope)
	}
}

func TestScopeGranted(t *testing.T) {
	cases := []struct {
		granted []string
		need    string
		want    bool
	}{
		{[]string{"read"}, "read", true},
		{[]string{"read"}, "write", false},
		{[]string{"*"}, "anything:at:all", true},
		{[]string{"res:*"}, "res:a", true},
		{[]string{"res:*"}, "res:a:b", true},
		{[]string{"res:*"}, "res", false},
		{[]string{"res:*"}, "resx:a", false},
		{[]string{"res:a:*"}, "res:a", false},
		{[]string{"*"}, "keyward:admin", false},
		{[]string{"keyward:*"}, "keyward:verify", false},
		{[]string{"keyward:admin"}, "keyward:admin", true},
		{[]string{"keyward:admin"}, "keyward:verify", false},
		{nil, "read", false},
	}
	for _, tc := range cases {
		if got := keyward.ScopeGranted(tc.granted, tc.need); got != tc.want {
			t.Errorf("ScopeGranted(%v, %q) = %v, want %v", tc.granted, tc.need, got, tc.want)
		}
	}
	if s, missing := keyward.MissingScope([]string{"a", "b:*"}, []string{"a", "b:c", "d"}); !missing || s != "d" {
		t.Errorf("MissingScope = %q, %v; want d", s, missing)
	}
}
