package api_test

import (
	"encoding/json"
	"errors"
	"go/build"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// roundTrip marshals v and decodes the JSON into a new T, as the other side
// of the wire does.
func roundTrip[T any](t *testing.T, v T) (T, string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return out, string(b)
}

func TestCreateKeyBody(t *testing.T) {
	at := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		p    keyward.CreateParams
		json string
	}{
		{"minimal", keyward.CreateParams{Name: "x"}, `{"name":"x"}`},
		{"full", keyward.CreateParams{
			Name: "n", Description: "d", Owner: "o", Scopes: []string{"a"}, Metadata: json.RawMessage(`{"n":12345678901234567890}`),
			Prefix: "pre", ExpiresAt: &at, ExpiresIn: keyward.Ptr(keyward.Duration(time.Hour)),
			RateLimit:  &keyward.RateLimit{Limit: 5, Period: keyward.Duration(time.Minute)},
			RateLimits: []keyward.NamedRateLimit{{Name: "burst", Limit: 2, Period: keyward.Duration(time.Second)}}, Roles: []string{"reader"},
			Remaining: keyward.Ptr[int64](3),
			Refill:    &keyward.Refill{Interval: keyward.RefillDaily, Amount: 3}, AllowedCIDRs: []string{"10.0.0.0/8"}, Enabled: keyward.Ptr(false),
		}, `{"name":"n","description":"d","owner":"o","scopes":["a"],"metadata":{"n":12345678901234567890},"prefix":"pre",` +
			`"expires_at":"2031-01-02T03:04:05Z","expires_in":"1h0m0s","rate_limit":{"limit":5,"period":"1m0s"},` +
			`"rate_limits":[{"name":"burst","limit":2,"period":"1s"}],"roles":["reader"],"remaining":3,` +
			`"refill":{"interval":"daily","amount":3},"allowed_cidrs":["10.0.0.0/8"],"enabled":false}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, js := roundTrip(t, api.NewCreateKeyBody(tc.p))
			if js != tc.json {
				t.Errorf("JSON\n%s\nwant\n%s", js, tc.json)
			}
			if got := b.Params(); !reflect.DeepEqual(got, tc.p) {
				t.Errorf("Params after a round trip:\n%+v\nwant\n%+v", got, tc.p)
			}
		})
	}
	var b api.CreateKeyBody
	json.Unmarshal([]byte(`{"name":"x","metadata":null}`), &b)
	if m := b.Params().Metadata; m != nil {
		t.Errorf("metadata null: %q, want nil (the default)", m)
	}
}

func TestUpdateKeyBody(t *testing.T) {
	at := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		p    keyward.UpdateParams
		json string
	}{
		{"nothing", keyward.UpdateParams{}, `{}`},
		{"clear", keyward.UpdateParams{
			ExpiresAt: keyward.Clear[time.Time](), RateLimit: keyward.Clear[keyward.RateLimit](),
			Remaining: keyward.Clear[int64](), Refill: keyward.Clear[keyward.Refill](),
		}, `{"expires_at":null,"rate_limit":null,"remaining":null,"refill":null}`},
		{"set", keyward.UpdateParams{
			Name: keyward.Ptr("n"), Description: keyward.Ptr(""), Owner: keyward.Ptr("o"), Scopes: &[]string{},
			Metadata: json.RawMessage(`{}`), Enabled: keyward.Ptr(true), ExpiresAt: keyward.SetTo(at),
			ExpiresIn: keyward.Ptr(keyward.Duration(time.Minute)), RateLimit: keyward.SetTo(keyward.RateLimit{Limit: 1, Period: keyward.Duration(time.Second)}),
			RateLimits: &[]keyward.NamedRateLimit{}, Roles: &[]string{"a", "b"},
			Remaining: keyward.SetTo[int64](0), Refill: keyward.SetTo(keyward.Refill{Interval: keyward.RefillMonthly, Amount: 9}),
			AllowedCIDRs: &[]string{"::1/128"},
		}, `{"name":"n","description":"","owner":"o","scopes":[],"metadata":{},"enabled":true,"expires_at":"2031-01-02T03:04:05Z",` +
			`"expires_in":"1m0s","rate_limit":{"limit":1,"period":"1s"},"rate_limits":[],"roles":["a","b"],"remaining":0,"refill":{"interval":"monthly","amount":9},"allowed_cidrs":["::1/128"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, js := roundTrip(t, api.NewUpdateKeyBody(tc.p))
			if js != tc.json {
				t.Errorf("JSON\n%s\nwant\n%s", js, tc.json)
			}
			if got := b.Params(); !reflect.DeepEqual(got, tc.p) {
				t.Errorf("Params after a round trip:\n%+v\nwant\n%+v", got, tc.p)
			}
		})
	}
}

func TestRotateBody(t *testing.T) {
	p := keyward.RotateParams{GracePeriod: keyward.Ptr(keyward.Duration(0)), ExpiresIn: keyward.Ptr(keyward.Duration(time.Hour))}
	b, js := roundTrip(t, api.NewRotateBody(p))
	if want := `{"grace_period":"0s","expires_in":"1h0m0s"}`; js != want {
		t.Errorf("JSON %s, want %s", js, want)
	}
	if got := b.Params(); !reflect.DeepEqual(got, p) {
		t.Errorf("Params after a round trip: %+v, want %+v", got, p)
	}
	if got := (*api.RotateBody)(nil).Params(); !reflect.DeepEqual(got, keyward.RotateParams{}) {
		t.Errorf("Params of no body: %+v, want the defaults", got)
	}
}

func TestVerifyBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    keyward.VerifyRequest
		json string
	}{
		{"key only", keyward.VerifyRequest{Key: "k"}, `{"key":"k"}`},
		{"everything", keyward.VerifyRequest{
			Key: "k", Scopes: []string{"a", "b"}, AnyScope: []string{"c", "d"}, Cost: keyward.Ptr[int64](0),
			ClientIP: netip.MustParseAddr("2001:db8::1"),
		}, `{"key":"k","scopes":["a","b"],"any_scopes":["c","d"],"cost":0,"client_ip":"2001:db8::1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, js := roundTrip(t, api.NewVerifyBody(tc.r))
			if js != tc.json {
				t.Errorf("JSON %s, want %s", js, tc.json)
			}
			if got, err := b.Request(); err != nil || !reflect.DeepEqual(got, tc.r) {
				t.Errorf("Request after a round trip: %+v %v, want %+v", got, err, tc.r)
			}
		})
	}
	_, err := api.VerifyBody{Key: "k", ClientIP: "nope"}.Request()
	var ve *keyward.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != "client_ip" {
		t.Errorf("a client_ip that is not an address: %v, want a ValidationError on client_ip", err)
	}
	q, err := keyward.ParseScopeQuery("a and (b or c)")
	if err != nil {
		t.Fatal(err)
	}
	b, js := roundTrip(t, api.NewVerifyBody(keyward.VerifyRequest{Key: "k", ScopeQuery: q}))
	if want := `{"key":"k","scope_query":"a and (b or c)"}`; js != want {
		t.Errorf("JSON %s, want %s", js, want)
	}
	if r, err := b.Request(); err != nil || r.ScopeQuery == nil || !slices.Equal(r.ScopeQuery.Names(), []string{"a", "b", "c"}) {
		t.Errorf("Request of a scope_query: %+v, %v", r, err)
	}
	_, err = api.VerifyBody{Key: "k", ScopeQuery: "a and (b or", ClientIP: "nope"}.Request()
	if !errors.As(err, &ve) || len(ve.Problems) != 2 || ve.Problems[1].Field != "scope_query" ||
		!strings.HasPrefix(ve.Problems[1].Message, "does not parse at position 12: ") {
		t.Errorf("a scope_query that does not parse: %v, want problems on client_ip and scope_query (position 12)", err)
	}
}

// resultView is what a Result reports, for comparisons: its exported
// fields, its limits and its effective scopes (empty lists as nil).
type resultView struct {
	Outcome        keyward.Outcome
	KeyID          string
	Owner          *keyward.Owner
	MissingScope   string
	RateLimit      keyward.RateDecision
	Remaining      int64
	OwnerRemaining int64
	RetryAfter     time.Duration
	Limits         []keyward.LimitState
	Scopes         []string
}

func viewOf(r keyward.Result) resultView {
	v := resultView{Outcome: r.Outcome, Owner: r.Owner, MissingScope: r.MissingScope, RateLimit: r.RateLimit,
		Remaining: r.Remaining, OwnerRemaining: r.OwnerRemaining, RetryAfter: r.RetryAfter}
	if r.Key != nil {
		v.KeyID = r.Key.ID
	}
	if l := r.RateLimits(); len(l) > 0 {
		v.Limits = slices.Clone(l)
	}
	if s := r.EffectiveScopes(); len(s) > 0 {
		v.Scopes = s
	}
	return v
}

func TestVerifyResult(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	k := &keyward.Key{ID: "0123456789abcdef", Name: "k", Enabled: true, Remaining: keyward.Ptr[int64](10),
		RateLimit: &keyward.RateLimit{Limit: 5, Period: keyward.Duration(time.Minute)}}
	owned := &keyward.Key{ID: "0123456789abcdeg", Name: "owned", Owner: "acme", Enabled: true, Scopes: []string{"a"}, Roles: []string{"r"}}
	withLimits := keyward.Result{Outcome: keyward.OutcomeRateLimited, Key: owned, Remaining: -1, OwnerRemaining: 7, RetryAfter: 2 * time.Second,
		Owner:     &keyward.Owner{Name: "acme", Metadata: json.RawMessage(`{"tier":"gold"}`), Remaining: keyward.Ptr[int64](7)},
		RateLimit: keyward.RateDecision{Limit: 10, Remaining: 0, Reset: 2 * time.Second, RetryAfter: 2 * time.Second, Period: time.Second},
	}
	withLimits.SetRateLimits([]keyward.LimitState{
		{Name: "burst", RateDecision: keyward.RateDecision{Limit: 10, Remaining: 0, Reset: 2 * time.Second, RetryAfter: 2 * time.Second, Period: time.Second}},
		{Name: "daily", Owner: true, RateDecision: keyward.RateDecision{Limit: 1000, Remaining: 990, Reset: time.Hour, RetryAfter: 2 * time.Second, Period: 24 * time.Hour}},
	})
	withLimits.SetEffectiveScopes([]string{"a", "b:read"})
	for _, tc := range []struct {
		name string
		res  keyward.Result
	}{
		{"not found", keyward.Result{Outcome: keyward.OutcomeNotFound, Remaining: -1, OwnerRemaining: -1}},
		{"valid", keyward.Result{Outcome: keyward.OutcomeValid, Key: k, Remaining: 9, OwnerRemaining: -1,
			RateLimit: keyward.RateDecision{Allowed: true, Limit: 5, Remaining: 4, Reset: 12 * time.Second, Period: time.Minute}}},
		{"rate limited", keyward.Result{Outcome: keyward.OutcomeRateLimited, Key: k, Remaining: 9, OwnerRemaining: -1, RetryAfter: 3 * time.Second,
			RateLimit: keyward.RateDecision{Limit: 5, Reset: 3 * time.Second, RetryAfter: 3 * time.Second, Period: time.Minute}}},
		{"insufficient scope", keyward.Result{Outcome: keyward.OutcomeInsufficientScope, Key: &keyward.Key{ID: "0123456789abcdef"},
			MissingScope: "a", Remaining: -1, OwnerRemaining: -1}},
		{"owner, named limits, roles", withLimits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := roundTrip(t, api.NewVerifyResult(tc.res, now))
			got, err := v.Result()
			if err != nil {
				t.Fatal(err)
			}
			if g, w := viewOf(got), viewOf(tc.res); !reflect.DeepEqual(g, w) {
				t.Errorf("Result after a round trip:\n%+v\nwant\n%+v", g, w)
			}
		})
	}
	v, js := roundTrip(t, api.NewVerifyResult(withLimits, now))
	for _, want := range []string{`"effective_scopes":["a","b:read"]`, `"owner":{"name":"acme","metadata":{"tier":"gold"},"remaining":7}`,
		`"ratelimit":{"limit":10,"remaining":0,"reset":2}`,
		`"ratelimits":[{"name":"burst","scope":"key","limit":10,"remaining":0,"reset":2,"period":"1s"},` +
			`{"name":"daily","scope":"owner","limit":1000,"remaining":990,"reset":3600,"period":"24h0m0s"}]`} {
		if !strings.Contains(js, want) {
			t.Errorf("answer %s\nlacks %s", js, want)
		}
	}
	if len(v.Key.Roles) != 1 || v.Key.AllowedCIDRs == nil || v.Key.RateLimits == nil {
		t.Errorf("key lists in the answer: %s (want never null)", js)
	}
	if _, js := roundTrip(t, api.NewVerifyResult(keyward.Result{Outcome: keyward.OutcomeValid, Key: &keyward.Key{ID: "x"}, Remaining: -1, OwnerRemaining: -1}, now)); !strings.Contains(js, `"effective_scopes":[]`) || strings.Contains(js, "ratelimit") || strings.Contains(js, `"owner":{`) {
		t.Errorf("a key without scopes, limits or owner record: %s", js)
	}
	if _, err := (api.VerifyResult{Code: "NOPE"}).Result(); err == nil {
		t.Error("an unknown code gave no error")
	}
}

// TestImports keeps the package light for client users: the standard
// library and package keyward only (never huma).
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") && imp != "github.com/keyward/keyward" {
			t.Errorf("package api imports %s", imp)
		}
	}
}

func TestKeyAnswers(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	k := &keyward.Key{ID: "0123456789abcdef", Name: "k", Enabled: true, ExpiresAt: &now, Scopes: []string{"a"}}
	iss, js := roundTrip(t, api.NewIssuedBody(keyward.Issued{Key: k, Secret: "s"}, now))
	if !strings.Contains(js, `"status":"expired"`) {
		t.Errorf("IssuedBody %s: want status expired", js)
	}
	if got := iss.Issued(); got.Secret != "s" || got.Key.ID != k.ID || got.Key.Name != k.Name {
		t.Errorf("Issued after a round trip: %+v", got)
	}
	page, _ := roundTrip(t, api.NewPageBody(keyward.Page{Items: []*keyward.Key{k, k}, NextCursor: "c"}, now))
	if got := page.Page(); len(got.Items) != 2 || got.Items[1].ID != k.ID || got.NextCursor != "c" {
		t.Errorf("Page after a round trip: %+v", got)
	}
}
