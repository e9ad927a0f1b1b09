package keyward_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func problemsOf(t *testing.T, err error) string {
	t.Helper()
	var ve *keyward.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *ValidationError", err)
	}
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	return strings.Join(fields, ",")
}

func TestNamedLimitsAndTheDefaultEntry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	iss := e.create(t, keyward.CreateParams{
		RateLimit:  &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)},
		RateLimits: []keyward.NamedRateLimit{{Name: "burst", Limit: 10, Period: keyward.Duration(time.Second)}},
	})
	k := iss.Key
	if len(k.RateLimits) != 2 || k.RateLimits[0].Name != "default" || k.RateLimits[1].Name != "burst" || k.RateLimit.Limit != 100 {
		t.Fatalf("limits = %+v, rate_limit %+v; want default (100/1m) then burst", k.RateLimits, k.RateLimit)
	}
	// Clearing rate_limit removes the default entry and keeps the others.
	got, err := e.svc.Update(ctx, k.ID, keyward.UpdateParams{RateLimit: keyward.Clear[keyward.RateLimit]()})
	if err != nil || got.RateLimit != nil || len(got.RateLimits) != 1 || got.RateLimits[0].Name != "burst" {
		t.Errorf("after clearing rate_limit: %+v, %+v, %v", got.RateLimit, got.RateLimits, err)
	}
	// A default entry in rate_limits is the rate_limit.
	got, err = e.svc.Update(ctx, k.ID, keyward.UpdateParams{RateLimits: &[]keyward.NamedRateLimit{{Name: "default", Limit: 5, Period: keyward.Duration(time.Hour)}}})
	if err != nil || got.RateLimit == nil || got.RateLimit.Limit != 5 || len(got.RateLimits) != 1 {
		t.Errorf("after rate_limits with a default entry: %+v, %+v, %v", got.RateLimit, got.RateLimits, err)
	}
	_, err = e.svc.Create(ctx, keyward.CreateParams{Name: "both",
		RateLimit:  &keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Second)},
		RateLimits: []keyward.NamedRateLimit{{Name: "default", Limit: 2, Period: keyward.Duration(time.Second)}},
	})
	if f := problemsOf(t, err); f != "rate_limit" {
		t.Errorf("rate_limit together with a default entry: problems at %q, want rate_limit", f)
	}
	nine := make([]keyward.NamedRateLimit, 9)
	for i := range nine {
		nine[i] = keyward.NamedRateLimit{Name: string(rune('a' + i)), Limit: 1, Period: keyward.Duration(time.Second)}
	}
	_, err = e.svc.Create(ctx, keyward.CreateParams{Name: "bad", RateLimits: append(nine[:2:2],
		keyward.NamedRateLimit{Name: "a", Limit: 0, Period: keyward.Duration(time.Millisecond)},
		keyward.NamedRateLimit{Name: "Bad!", Limit: 1, Period: keyward.Duration(time.Second)})})
	if f := problemsOf(t, err); f != "rate_limits[2].name,rate_limits[2].limit,rate_limits[2].period,rate_limits[3].name" {
		t.Errorf("bad named limits: problems at %q", f)
	}
	if _, err = e.svc.Create(ctx, keyward.CreateParams{Name: "nine", RateLimits: nine}); problemsOf(t, err) != "rate_limits" {
		t.Error("nine limits accepted")
	}
	// rate_limit is the default entry, so it counts: eight named limits and
	// a rate_limit are nine.
	def := &keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Second)}
	if _, err = e.svc.Create(ctx, keyward.CreateParams{Name: "eight and a default", RateLimit: def, RateLimits: nine[1:]}); problemsOf(t, err) != "rate_limits" {
		t.Error("eight named limits and a rate_limit accepted on create")
	}
	eight := e.create(t, keyward.CreateParams{RateLimits: nine[1:]}).Key
	if _, err = e.svc.Update(ctx, eight.ID, keyward.UpdateParams{RateLimit: keyward.SetTo(*def)}); problemsOf(t, err) != "rate_limits" {
		t.Error("a rate_limit added to eight named limits")
	}
}

// TestVerifyOfAKeyWithMoreLimitsThanAllowed: a key stored with more limits
// than validation allows (an older release counted rate_limit apart) and an
// owner with the most limits still gets a decision over every limit.
func TestVerifyOfAKeyWithMoreLimitsThanAllowed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	limits := func(n int) []keyward.NamedRateLimit {
		out := make([]keyward.NamedRateLimit, n)
		for i := range out {
			out[i] = keyward.NamedRateLimit{Name: string(rune('a' + i)), Limit: 5, Period: keyward.Duration(time.Minute)}
		}
		return out
	}
	if _, _, err := e.svc.PutOwner(ctx, "big", keyward.OwnerParams{RateLimits: limits(keyward.MaxRateLimits)}); err != nil {
		t.Fatal(err)
	}
	iss := e.create(t, keyward.CreateParams{Owner: "big"})
	_, err := e.store.Update(ctx, iss.Key.ID, func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.RateLimits = append([]keyward.NamedRateLimit{{Name: "default", Limit: 5, Period: keyward.Duration(time.Minute)}}, limits(keyward.MaxRateLimits)...)
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
	if err != nil || !r.Valid() || r.NumRateLimits() != 2*keyward.MaxRateLimits+1 {
		t.Fatalf("verify = %v with %d limits, %v; want VALID over all %d", r.Outcome, r.NumRateLimits(), err, 2*keyward.MaxRateLimits+1)
	}
}

func TestRolesMustExist(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.svc.Create(ctx, keyward.CreateParams{Name: "k", Roles: []string{"reader"}})
	if f := problemsOf(t, err); f != "roles[0]" {
		t.Errorf("unknown role: problems at %q, want roles[0]", f)
	}
	if _, _, err := e.svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"docs:read"}}); err != nil {
		t.Fatal(err)
	}
	iss := e.create(t, keyward.CreateParams{Roles: []string{"reader"}})
	if err := e.svc.DeleteRole(ctx, "reader"); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("deleting a role a key has: %v, want ErrConflict", err)
	}
	if _, err := e.svc.Update(ctx, iss.Key.ID, keyward.UpdateParams{Roles: &[]string{"reader", "writer"}}); problemsOf(t, err) != "roles[1]" {
		t.Errorf("update with an unknown role accepted")
	}
	scopes, err := e.svc.EffectiveScopes(ctx, iss.Key)
	if err != nil || strings.Join(scopes, " ") != "docs:read" {
		t.Errorf("effective scopes = %q, %v", scopes, err)
	}
	for _, bad := range []string{"", "Reader", "-x", strings.Repeat("r", 65)} {
		if _, _, err := e.svc.PutRole(ctx, bad, keyward.RoleParams{}); problemsOf(t, err) != "name" {
			t.Errorf("role name %q accepted", bad)
		}
	}
}

func TestVerifyUsesEffectiveScopesAndQueries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, _, err := e.svc.PutRole(ctx, "billing", keyward.RoleParams{Scopes: []string{"billing:*"}}); err != nil {
		t.Fatal(err)
	}
	iss := e.create(t, keyward.CreateParams{Scopes: []string{"invoices:read"}, Roles: []string{"billing"}})
	q, _ := keyward.ParseScopeQuery("invoices:read and (invoices:write or billing:admin)")
	r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret, Scopes: []string{"billing:export"}, ScopeQuery: q})
	if r.Outcome != keyward.OutcomeValid {
		t.Errorf("scope granted by a role and a query satisfied through it: %v", r.Outcome)
	}
	q2, _ := keyward.ParseScopeQuery("reports:read or (invoices:read and admin)")
	r = e.verify(t, keyward.VerifyRequest{Key: iss.Secret, ScopeQuery: q2})
	if r.Outcome != keyward.OutcomeInsufficientScope || r.MissingScope != "reports:read" {
		t.Errorf("failed query: %v, missing %q; want INSUFFICIENT_SCOPE, reports:read", r.Outcome, r.MissingScope)
	}
}

// TestOwnerLimitsAllOrNothing: a request that one limit refuses spends
// nothing in the others, of the key or of the owner, and no credit.
func TestOwnerLimitsAllOrNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, _, err := e.svc.PutOwner(ctx, "acme", keyward.OwnerParams{
		RateLimits: []keyward.NamedRateLimit{{Name: "daily", Limit: 3, Period: keyward.Duration(24 * time.Hour)}},
		Remaining:  keyward.Ptr[int64](100),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := e.create(t, keyward.CreateParams{Owner: "acme", RateLimits: []keyward.NamedRateLimit{{Name: "burst", Limit: 2, Period: keyward.Duration(time.Second)}}})
	b := e.create(t, keyward.CreateParams{Owner: "acme"})
	for i := range 2 {
		if r := e.verify(t, keyward.VerifyRequest{Key: a.Secret}); r.Outcome != keyward.OutcomeValid {
			t.Fatalf("a #%d: %v", i, r.Outcome)
		}
	}
	r := e.verify(t, keyward.VerifyRequest{Key: a.Secret})
	if r.Outcome != keyward.OutcomeRateLimited {
		t.Fatalf("a, burst spent: %v", r.Outcome)
	}
	states := r.RateLimits()
	if len(states) != 2 || states[0].Name != "burst" || states[0].Owner || !states[1].Owner || states[1].Name != "daily" {
		t.Fatalf("states = %+v; want the key's burst, then the owner's daily", states)
	}
	if states[1].Remaining != 1 {
		t.Errorf("the refused request spent the owner's daily limit: %d left, want 1", states[1].Remaining)
	}
	if r.RetryAfter <= 0 || r.RetryAfter > time.Second {
		t.Errorf("RetryAfter = %v, want within the burst's 1s", r.RetryAfter)
	}
	// b shares the owner's daily limit: 1 left.
	if r := e.verify(t, keyward.VerifyRequest{Key: b.Secret}); r.Outcome != keyward.OutcomeValid || r.OwnerRemaining != 97 {
		t.Errorf("b: %v, owner credits %d; want VALID, 97", r.Outcome, r.OwnerRemaining)
	}
	if r := e.verify(t, keyward.VerifyRequest{Key: b.Secret}); r.Outcome != keyward.OutcomeRateLimited {
		t.Errorf("b after the owner's daily limit is spent: %v", r.Outcome)
	}
	o, _ := e.svc.GetOwner(ctx, "acme")
	if *o.Remaining != 97 {
		t.Errorf("owner credits = %d, want 97: refused requests spend no credit", *o.Remaining)
	}
	// cost 0 reports every limit without spending.
	r = e.verify(t, keyward.VerifyRequest{Key: b.Secret, Cost: keyward.Ptr[int64](0)})
	if r.Outcome != keyward.OutcomeValid || len(r.RateLimits()) != 1 || r.RateLimits()[0].Remaining != 0 {
		t.Errorf("cost 0: %v %+v", r.Outcome, r.RateLimits())
	}
}

func TestOwnerCreditsShortGiveUsageExceeded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, _, err := e.svc.PutOwner(ctx, "small", keyward.OwnerParams{Remaining: keyward.Ptr[int64](1), Refill: &keyward.Refill{Interval: keyward.RefillDaily, Amount: 1}}); err != nil {
		t.Fatal(err)
	}
	k := e.create(t, keyward.CreateParams{Owner: "small", Remaining: keyward.Ptr[int64](10), RateLimit: &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)}})
	if r := e.verify(t, keyward.VerifyRequest{Key: k.Secret}); r.Outcome != keyward.OutcomeValid {
		t.Fatal(r.Outcome)
	}
	r := e.verify(t, keyward.VerifyRequest{Key: k.Secret})
	if r.Outcome != keyward.OutcomeUsageExceeded || r.Remaining != 9 || r.OwnerRemaining != 0 {
		t.Errorf("owner short: %v, key %d, owner %d; want USAGE_EXCEEDED, 9, 0", r.Outcome, r.Remaining, r.OwnerRemaining)
	}
	if r.RetryAfter <= 0 || r.RetryAfter > 24*time.Hour {
		t.Errorf("RetryAfter = %v, want until the owner's daily refill", r.RetryAfter)
	}
	if r.RateLimit.Remaining != 99 {
		t.Errorf("the refused request kept its rate-limit unit: %d left, want 99", r.RateLimit.Remaining)
	}
}

func TestOwnerValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, _, err := e.svc.PutOwner(ctx, "x\x00y", keyward.OwnerParams{Metadata: []byte(`[1]`), Refill: &keyward.Refill{Interval: "weekly", Amount: 0}})
	if f := problemsOf(t, err); f != "name,metadata,refill.interval,refill.amount,refill" {
		t.Errorf("problems at %q", f)
	}
	if _, err := e.svc.UpdateOwner(ctx, "nobody", keyward.OwnerUpdate{Remaining: keyward.SetTo[int64](1)}); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("update of a missing owner: %v", err)
	}
	o, created, err := e.svc.PutOwner(ctx, "acme", keyward.OwnerParams{})
	if err != nil || !created || o.Remaining != nil || len(o.RateLimits) != 0 || string(o.Metadata) != "{}" {
		t.Errorf("PutOwner with defaults = %+v, %v, %v", o, created, err)
	}
	if _, created, _ := e.svc.PutOwner(ctx, "acme", keyward.OwnerParams{}); created {
		t.Error("second put reported a creation")
	}
	page, err := e.svc.ListOwners(ctx, keyward.NameListParams{Limit: 1})
	if err != nil || len(page.Items) != 1 || page.NextCursor != "" {
		t.Errorf("list = %+v, %v", page, err)
	}
}

func TestOwnerUsage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.create(t, keyward.CreateParams{Owner: "acme"})
	b := e.create(t, keyward.CreateParams{Owner: "acme"})
	other := e.create(t, keyward.CreateParams{Owner: "other"})
	for _, s := range []string{a.Secret, b.Secret, b.Secret, other.Secret} {
		e.verify(t, keyward.VerifyRequest{Key: s})
	}
	if err := e.svc.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := e.svc.Usage(ctx, keyward.UsageParams{Owner: "acme"})
	if err != nil || rep.Owner != "acme" || rep.KeyID != "" || rep.Totals["VALID"] != 3 {
		t.Errorf("usage of acme = %+v, %v; want VALID 3 over its two keys", rep, err)
	}
	// No record, no key, no usage: never existed.
	if _, err := e.svc.Usage(ctx, keyward.UsageParams{Owner: "nobody"}); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("usage of an owner that never existed: %v, want ErrNotFound", err)
	}
	// A record without keys or usage: an empty report.
	if _, _, err := e.svc.PutOwner(ctx, "new", keyward.OwnerParams{}); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.svc.Usage(ctx, keyward.UsageParams{Owner: "new"}); err != nil || len(rep.Totals) != 0 {
		t.Errorf("usage of a new owner = %+v, %v; want an empty report", rep, err)
	}
	// Usage outlives the keys.
	if err := e.svc.Delete(ctx, other.Key.ID); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.svc.Usage(ctx, keyward.UsageParams{Owner: "other"}); err != nil || rep.Totals["VALID"] != 1 {
		t.Errorf("usage of an owner whose key is gone = %+v, %v", rep, err)
	}
}

// TestReplacedRoleKeepsItsCreationTime: PUT over an existing role answers,
// and tells its event, the creation time of the first PUT.
func TestReplacedRoleKeepsItsCreationTime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	catchAll(t, e.svc)
	first, created, err := e.svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"read"}})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	e.clock.Add(time.Minute)
	again, created, err := e.svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"read", "list"}})
	if err != nil || created {
		t.Fatal(created, err)
	}
	if !again.CreatedAt.Equal(first.CreatedAt) || !again.UpdatedAt.Equal(first.CreatedAt.Add(time.Minute)) || len(again.Scopes) != 2 {
		t.Errorf("replaced role = %+v, want created %v and updated a minute later", again, first.CreatedAt)
	}
	events := outboxOf(t, e.store, base)
	var last struct {
		CreatedAt time.Time `json:"created_at"`
	}
	if len(events) != 2 || json.Unmarshal(events[1].Data, &last) != nil || !last.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("events %v: the replace's data should keep created_at %v", events, first.CreatedAt)
	}
}

// TestImportNeedsTheRolesOfItsKeys: an import whose keys name a role that
// does not exist writes nothing and names each such role, as a create
// would; once the role exists the same records import.
func TestImportNeedsTheRolesOfItsKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, _, err := e.svc.PutRole(ctx, "reader", keyward.RoleParams{Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	record := func(roles ...string) *keyward.Key {
		id, _ := keyward.NewID()
		k := &keyward.Key{ID: id, Prefix: "kw", Name: "imported", Hash: "$hmac-sha256$p=x$abc", Enabled: true, Roles: roles}
		if err := e.svc.ValidateImport(k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	good, bad := record("reader"), record("reader", "writer")
	_, err := e.svc.Import(ctx, []*keyward.Key{good, bad}, nil)
	wantProblem(t, err, "keys[1].roles[1]", "key "+bad.ID+`: no role is named "writer"`)
	if _, err := e.svc.Get(ctx, good.ID); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("a refused import wrote a key: %v", err)
	}
	if _, _, err := e.svc.PutRole(ctx, "writer", keyward.RoleParams{Scopes: []string{"write"}}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.svc.Import(ctx, []*keyward.Key{good, bad}, nil); err != nil || res.Created != 2 {
		t.Errorf("import once the roles exist: %+v, %v", res, err)
	}
}
