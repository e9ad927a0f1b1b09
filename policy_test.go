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

const day = 24 * time.Hour

func lifetime(d time.Duration) *time.Duration { return &d }

func in(d time.Duration) *keyward.Duration { return keyward.Ptr(keyward.Duration(d)) }

func (e *env) setPolicy(tb testing.TB, p keyward.Policy) {
	tb.Helper()
	if _, err := e.svc.SetPolicy(context.Background(), p); err != nil {
		tb.Fatalf("SetPolicy: %v", err)
	}
}

// wantProblem states that err is a *ValidationError with a problem on field
// whose message contains msg.
func wantProblem(tb testing.TB, err error, field, msg string) {
	tb.Helper()
	var ve *keyward.ValidationError
	if !errors.As(err, &ve) {
		tb.Fatalf("err = %v, want a ValidationError on %s", err, field)
	}
	for _, p := range ve.Problems {
		if p.Field == field && strings.Contains(p.Message, msg) {
			return
		}
	}
	tb.Errorf("problems %+v, want one on %s containing %q", ve.Problems, field, msg)
}

func TestDurationNever(t *testing.T) {
	var d keyward.Duration
	if err := d.UnmarshalText([]byte("never")); err != nil || d != keyward.Never {
		t.Fatalf(`UnmarshalText("never") = %v, %v; want Never`, d, err)
	}
	if b, _ := keyward.Never.MarshalText(); string(b) != "never" {
		t.Errorf("MarshalText(Never) = %q", b)
	}
	var p keyward.CreateParams
	if err := json.Unmarshal([]byte(`"never"`), &p.ExpiresIn); err != nil || *p.ExpiresIn != keyward.Never {
		t.Errorf(`JSON "never" = %v, %v`, p.ExpiresIn, err)
	}
}

func TestPolicyDefaultApplies(t *testing.T) {
	e := newEnv(t)
	e.setPolicy(t, keyward.Policy{DefaultKeyLifetime: lifetime(30 * day)})
	now := e.clock.Now()
	k := e.create(t, keyward.CreateParams{}).Key
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(now.Add(30*day)) {
		t.Errorf("key without expiry: expires_at %v, want now + 30 days", k.ExpiresAt)
	}
	k = e.create(t, keyward.CreateParams{ExpiresIn: in(90 * day)}).Key
	if !k.ExpiresAt.Equal(now.Add(90 * day)) {
		t.Errorf("expires_in 90 days under a default of 30: %v", k.ExpiresAt)
	}
	k = e.create(t, keyward.CreateParams{ExpiresIn: keyward.Ptr(keyward.Never)}).Key
	if k.ExpiresAt != nil {
		t.Errorf(`expires_in "never" without a maximum: expires_at %v, want none`, k.ExpiresAt)
	}
	if r := e.verify(t, keyward.VerifyRequest{Key: e.create(t, keyward.CreateParams{}).Secret}); !r.Valid() {
		t.Errorf("a key with the default lifetime does not verify: %v", r.Outcome)
	}
}

func TestPolicyMaximumOnCreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setPolicy(t, keyward.Policy{MaxKeyLifetime: lifetime(30 * day)})
	now := e.clock.Now()
	_, err := e.svc.Create(ctx, keyward.CreateParams{Name: "k"})
	wantProblem(t, err, "expires_in", "a key must expire within 720h (the maximum key lifetime): give expires_in or expires_at")
	_, err = e.svc.Create(ctx, keyward.CreateParams{Name: "k", ExpiresIn: keyward.Ptr(keyward.Never)})
	wantProblem(t, err, "expires_in", `cannot be "never": a key must expire within 720h`)
	_, err = e.svc.Create(ctx, keyward.CreateParams{Name: "k", ExpiresIn: in(30*day + time.Millisecond)})
	wantProblem(t, err, "expires_in", "is beyond the maximum key lifetime of 720h (--max-key-lifetime)")
	_, err = e.svc.Create(ctx, keyward.CreateParams{Name: "k", ExpiresAt: keyward.Ptr(now.Add(31 * day))})
	wantProblem(t, err, "expires_at", "is beyond the maximum key lifetime of 720h")
	if k := e.create(t, keyward.CreateParams{ExpiresIn: in(30 * day)}).Key; !k.ExpiresAt.Equal(now.Add(30 * day)) {
		t.Errorf("expires_in at the maximum: %v", k.ExpiresAt)
	}
	if k := e.create(t, keyward.CreateParams{ExpiresAt: keyward.Ptr(now.Add(day))}).Key; !k.ExpiresAt.Equal(now.Add(day)) {
		t.Errorf("expires_at within the maximum: %v", k.ExpiresAt)
	}

	// With a default too, a key without expiry gets it, and "never" is still refused.
	e.setPolicy(t, keyward.Policy{DefaultKeyLifetime: lifetime(7 * day), MaxKeyLifetime: lifetime(30 * day)})
	if k := e.create(t, keyward.CreateParams{}).Key; !k.ExpiresAt.Equal(now.Add(7 * day)) {
		t.Errorf("default under a maximum: %v", k.ExpiresAt)
	}
	_, err = e.svc.Create(ctx, keyward.CreateParams{Name: "k", ExpiresIn: keyward.Ptr(keyward.Never)})
	wantProblem(t, err, "expires_in", `cannot be "never"`)
}

func TestPolicyMaximumOnUpdate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	forever := e.create(t, keyward.CreateParams{Name: "created before the policy"}).Key
	e.setPolicy(t, keyward.Policy{MaxKeyLifetime: lifetime(30 * day)})
	k := e.create(t, keyward.CreateParams{ExpiresIn: in(day)}).Key
	now := e.clock.Now()
	for name, p := range map[string]struct {
		u            keyward.UpdateParams
		field, words string
	}{
		"expires_in beyond": {keyward.UpdateParams{ExpiresIn: in(31 * day)}, "expires_in", "is beyond the maximum key lifetime of 720h"},
		"expires_at beyond": {keyward.UpdateParams{ExpiresAt: keyward.SetTo(now.Add(31 * day))}, "expires_at", "is beyond the maximum"},
		"null":              {keyward.UpdateParams{ExpiresAt: keyward.Clear[time.Time]()}, "expires_at", "cannot be null: a key must expire within 720h"},
		"never":             {keyward.UpdateParams{ExpiresIn: keyward.Ptr(keyward.Never)}, "expires_in", `cannot be "never"`},
	} {
		_, err := e.svc.Update(ctx, k.ID, p.u)
		wantProblem(t, err, p.field, p.words)
		if got, _ := e.svc.Get(ctx, k.ID); !got.ExpiresAt.Equal(*k.ExpiresAt) {
			t.Errorf("%s: refused update changed the expiry to %v", name, got.ExpiresAt)
		}
	}
	got, err := e.svc.Update(ctx, k.ID, keyward.UpdateParams{ExpiresIn: in(30 * day)})
	if err != nil || !got.ExpiresAt.Equal(now.Add(30*day)) {
		t.Errorf("renewing to the maximum: %v, %v", got, err)
	}

	// A key beyond the maximum is not changed by it; an update that leaves
	// its expiry alone is fine.
	got, err = e.svc.Update(ctx, forever.ID, keyward.UpdateParams{Name: keyward.Ptr("renamed")})
	if err != nil || got.ExpiresAt != nil || got.Name != "renamed" {
		t.Errorf("update of a key without expiry under a maximum: %+v, %v", got, err)
	}
	_, err = e.svc.Update(ctx, forever.ID, keyward.UpdateParams{ExpiresIn: in(60 * day)})
	wantProblem(t, err, "expires_in", "is beyond the maximum")

	// Without a maximum, null and "never" clear the expiry.
	e.setPolicy(t, keyward.Policy{DefaultKeyLifetime: lifetime(day)})
	for _, u := range []keyward.UpdateParams{{ExpiresAt: keyward.Clear[time.Time]()}, {ExpiresIn: keyward.Ptr(keyward.Never)}} {
		k := e.create(t, keyward.CreateParams{}).Key
		if got, err := e.svc.Update(ctx, k.ID, u); err != nil || got.ExpiresAt != nil {
			t.Errorf("clearing the expiry without a maximum: %v, %v", got, err)
		}
	}
}

func TestPolicyRotation(t *testing.T) {
	ctx := context.Background()
	keep := lifetime(-1) // the successor keeps the old key's expiry
	cases := []struct {
		name   string
		policy keyward.Policy
		old    *keyward.Duration // the old key's expires_in; nil: none
		rotate keyward.RotateParams
		want   *time.Duration // the successor's lifetime from the rotation, keep, or nil: none
	}{
		{"no policy keeps the old expiry", keyward.Policy{}, in(10 * day), keyward.RotateParams{}, keep},
		{"no policy, no expiry", keyward.Policy{}, nil, keyward.RotateParams{}, nil},
		{"default", keyward.Policy{DefaultKeyLifetime: lifetime(30 * day)}, nil, keyward.RotateParams{}, lifetime(30 * day)},
		{"default, old key expires later", keyward.Policy{DefaultKeyLifetime: lifetime(30 * day)}, in(60 * day), keyward.RotateParams{}, lifetime(30 * day)},
		{"default, old key expires sooner", keyward.Policy{DefaultKeyLifetime: lifetime(30 * day)}, in(10 * day), keyward.RotateParams{}, keep},
		{"maximum without default", keyward.Policy{MaxKeyLifetime: lifetime(30 * day)}, nil, keyward.RotateParams{}, lifetime(30 * day)},
		{"maximum, old key expires later", keyward.Policy{MaxKeyLifetime: lifetime(30 * day)}, in(300 * day), keyward.RotateParams{}, lifetime(30 * day)},
		{"maximum, old key expires sooner", keyward.Policy{MaxKeyLifetime: lifetime(30 * day)}, in(5 * day), keyward.RotateParams{}, keep},
		{"default under a maximum", keyward.Policy{DefaultKeyLifetime: lifetime(7 * day), MaxKeyLifetime: lifetime(30 * day)}, nil, keyward.RotateParams{}, lifetime(7 * day)},
		{"named expiry within the maximum", keyward.Policy{MaxKeyLifetime: lifetime(30 * day)}, in(day), keyward.RotateParams{ExpiresIn: in(20 * day)}, lifetime(20 * day)},
		{"never without a maximum", keyward.Policy{DefaultKeyLifetime: lifetime(30 * day)}, in(day), keyward.RotateParams{ExpiresIn: keyward.Ptr(keyward.Never)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			old := e.create(t, keyward.CreateParams{ExpiresIn: tc.old}).Key
			e.setPolicy(t, tc.policy) // the old key predates the policy
			e.clock.Add(time.Hour)
			want := old.ExpiresAt
			switch tc.want {
			case nil:
				want = nil
			case keep:
			default:
				want = keyward.Ptr(e.clock.Now().Add(*tc.want))
			}
			rot, err := e.svc.Rotate(ctx, old.ID, tc.rotate)
			if err != nil {
				t.Fatal(err)
			}
			if got := rot.Key.ExpiresAt; (got == nil) != (want == nil) || got != nil && !got.Equal(*want) {
				t.Errorf("successor expires %v, want %v", got, want)
			}
		})
	}
}

func TestPolicyMaximumOnRotate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setPolicy(t, keyward.Policy{MaxKeyLifetime: lifetime(30 * day)})
	k := e.create(t, keyward.CreateParams{ExpiresIn: in(day)}).Key
	_, err := e.svc.Rotate(ctx, k.ID, keyward.RotateParams{ExpiresIn: in(31 * day)})
	wantProblem(t, err, "expires_in", "is beyond the maximum key lifetime of 720h")
	_, err = e.svc.Rotate(ctx, k.ID, keyward.RotateParams{ExpiresAt: keyward.Ptr(e.clock.Now().Add(40 * day))})
	wantProblem(t, err, "expires_at", "is beyond the maximum")
	_, err = e.svc.Rotate(ctx, k.ID, keyward.RotateParams{ExpiresIn: keyward.Ptr(keyward.Never)})
	wantProblem(t, err, "expires_in", `cannot be "never"`)
	if got, _ := e.svc.Get(ctx, k.ID); got.ReplacedBy != nil {
		t.Errorf("a refused rotation rotated the key (replaced_by %v)", *got.ReplacedBy)
	}
}

func TestPolicyMaximumOnImport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setPolicy(t, keyward.Policy{DefaultKeyLifetime: lifetime(day), MaxKeyLifetime: lifetime(30 * day)})
	now := e.clock.Now()
	record := func(exp *time.Time) *keyward.Key {
		id, _ := keyward.NewID()
		k := &keyward.Key{ID: id, Prefix: "kw", Name: "imported", Hash: "$hmac-sha256$p=x$abc", Enabled: true, ExpiresAt: exp}
		if err := e.svc.ValidateImport(k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	within, atMax := record(keyward.Ptr(now.Add(10*day))), record(keyward.Ptr(now.Add(30*day)))
	expired := record(keyward.Ptr(now.Add(-day)))
	beyond, none := record(keyward.Ptr(now.Add(30*day+time.Millisecond))), record(nil)
	_, err := e.svc.Import(ctx, []*keyward.Key{within, beyond, atMax, none}, nil)
	wantProblem(t, err, "keys[1].expires_at", "key "+beyond.ID+": is beyond the maximum key lifetime of 720h")
	wantProblem(t, err, "keys[3].expires_at", "key "+none.ID+": has no expiry, but a key must expire within 720h")
	if _, err := e.svc.Get(ctx, within.ID); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("a refused import wrote a key: %v", err)
	}
	res, err := e.svc.Import(ctx, []*keyward.Key{within, atMax, expired}, nil)
	if err != nil || res.Created != 3 {
		t.Fatalf("import within the maximum: %+v, %v", res, err)
	}
	if got, _ := e.svc.Get(ctx, within.ID); !got.ExpiresAt.Equal(*within.ExpiresAt) {
		t.Errorf("the default changed an imported key's expiry to %v", got.ExpiresAt)
	}
}

func TestSetPolicyAuditsChangesOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if p, err := e.svc.Policy(ctx); err != nil || !p.Equal(keyward.Policy{}) {
		t.Fatalf("policy before any is set: %+v, %v", p, err)
	}
	p := keyward.Policy{DefaultKeyLifetime: lifetime(30 * day), MaxKeyLifetime: lifetime(90 * day)}
	for i, want := range []bool{true, false} {
		if changed, err := e.svc.SetPolicy(ctx, p); err != nil || changed != want {
			t.Errorf("SetPolicy #%d = %v, %v; want %v", i+1, changed, err, want)
		}
	}
	if got, err := e.svc.Policy(ctx); err != nil || !got.Equal(p) {
		t.Errorf("Policy = %+v, %v", got, err)
	}
	if changed, err := e.svc.SetPolicy(ctx, keyward.Policy{}); err != nil || !changed {
		t.Errorf("clearing the policy: %v, %v", changed, err)
	}
	page, err := e.svc.Audit(ctx, keyward.AuditParams{})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, a := range page.Items {
		if a.Action == keyward.ActionPolicyUpdate {
			details = append(details, string(a.Details))
		}
	}
	want := []string{
		`{"new":{"default_key_lifetime":null,"max_key_lifetime":null},"old":{"default_key_lifetime":"720h0m0s","max_key_lifetime":"2160h0m0s"}}`,
		`{"new":{"default_key_lifetime":"720h0m0s","max_key_lifetime":"2160h0m0s"},"old":{"default_key_lifetime":null,"max_key_lifetime":null}}`,
	}
	if strings.Join(details, "\n") != strings.Join(want, "\n") {
		t.Errorf("policy.update entries, newest first:\n%s\nwant:\n%s", strings.Join(details, "\n"), strings.Join(want, "\n"))
	}
	for name, bad := range map[string]struct {
		p     keyward.Policy
		field string
	}{
		"zero default":          {keyward.Policy{DefaultKeyLifetime: lifetime(0)}, "default_key_lifetime"},
		"negative maximum":      {keyward.Policy{MaxKeyLifetime: lifetime(-time.Hour)}, "max_key_lifetime"},
		"default above maximum": {keyward.Policy{DefaultKeyLifetime: lifetime(31 * day), MaxKeyLifetime: lifetime(30 * day)}, "default_key_lifetime"},
	} {
		_, err := e.svc.SetPolicy(ctx, bad.p)
		if !errors.Is(err, keyward.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
			continue
		}
		wantProblem(t, err, bad.field, "")
	}
}

func TestPolicyJSON(t *testing.T) {
	p := keyward.Policy{MaxKeyLifetime: lifetime(720 * time.Hour)}
	b, err := json.Marshal(p)
	if err != nil || string(b) != `{"default_key_lifetime":null,"max_key_lifetime":"720h0m0s"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back keyward.Policy
	if err := json.Unmarshal([]byte(`{"default_key_lifetime":"24h","max_key_lifetime":null}`), &back); err != nil ||
		back.MaxKeyLifetime != nil || *back.DefaultKeyLifetime != 24*time.Hour {
		t.Errorf("Unmarshal = %+v, %v", back, err)
	}
}
