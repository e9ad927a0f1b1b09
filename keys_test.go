package keyward_test

// Tests of the Service's writes and reads of keys: create, update, revoke,
// rotate and list.

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestCreateValidation(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.Create(context.Background(), keyward.CreateParams{
		Name:         strings.Repeat("x", 201),
		Scopes:       []string{"ok", "bad scope", "a*b"},
		Metadata:     json.RawMessage(`[1,2]`),
		Prefix:       "Bad",
		ExpiresIn:    keyward.Ptr(keyward.Duration(time.Hour)),
		ExpiresAt:    keyward.Ptr(base.Add(time.Hour)),
		RateLimit:    &keyward.RateLimit{Limit: 0, Period: keyward.Duration(time.Millisecond)},
		Remaining:    keyward.Ptr[int64](-1),
		Refill:       &keyward.Refill{Interval: "weekly", Amount: 0},
		AllowedCIDRs: []string{"10.0.0.0/33"},
	})
	var ve *keyward.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, keyward.ErrInvalid) {
		t.Fatalf("err = %v, want a ValidationError", err)
	}
	fields := map[string]bool{}
	for _, p := range ve.Problems {
		fields[p.Field] = true
	}
	for _, f := range []string{"name", "scopes[1]", "scopes[2]", "metadata", "prefix", "expires_in", "rate_limit.limit", "rate_limit.period", "remaining", "refill.interval", "refill.amount", "allowed_cidrs[0]"} {
		if !fields[f] {
			t.Errorf("no problem reported for %s (got %v)", f, ve.Problems)
		}
	}
	for name, p := range map[string]keyward.CreateParams{
		"past expiry":        {Name: "x", ExpiresAt: keyward.Ptr(base.Add(-time.Second))},
		"metadata > 16KiB":   {Name: "x", Metadata: json.RawMessage(`{"a":"` + strings.Repeat("x", 16<<10) + `"}`)},
		"refill alone":       {Name: "x", Refill: &keyward.Refill{Interval: "daily", Amount: 1}},
		"NUL in metadata":    {Name: "x", Metadata: json.RawMessage(`{"a":"b\u0000c"}`)},
		"NUL in description": {Name: "x", Description: "a\x00b"},
		"empty name":         {},
	} {
		if _, err := e.svc.Create(context.Background(), p); !errors.Is(err, keyward.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestCreateDefaultsAndNormalizes(t *testing.T) {
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{Scopes: []string{"a", "a", "b:*"}, AllowedCIDRs: []string{"10.1.2.3/8", "192.0.2.1"}, Metadata: json.RawMessage(` { "x" : 1 } `)})
	k := iss.Key
	if !k.Enabled || k.Prefix != "kw" || len(k.Scopes) != 2 || string(k.Metadata) != `{"x":1}` {
		t.Errorf("defaults: %+v", k)
	}
	if got := strings.Join(k.AllowedCIDRs, ","); got != "10.0.0.0/8,192.0.2.1/32" {
		t.Errorf("cidrs normalized to %s", got)
	}
	if !k.CreatedAt.Equal(base) || k.ExpiresAt != nil || k.Remaining != nil {
		t.Errorf("times and limits: %+v", k)
	}
	b, _ := json.Marshal(k)
	if strings.Contains(string(b), "hmac") || strings.Contains(string(b), "Hash") {
		t.Errorf("the key's JSON shows its hash: %s", b)
	}
	for _, field := range []string{`"expires_at":null`, `"scopes":["a","b:*"]`, `"remaining":null`, `"replaced_by":null`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("JSON lacks %s: %s", field, b)
		}
	}
}

func TestUpdate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	iss := e.create(t, keyward.CreateParams{ExpiresIn: keyward.Ptr(keyward.Duration(time.Hour))})
	id := iss.Key.ID
	e.clock.Add(time.Minute)
	k, err := e.svc.Update(ctx, id, keyward.UpdateParams{Name: keyward.Ptr("renamed"), ExpiresAt: keyward.Clear[time.Time]()})
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "renamed" || k.ExpiresAt != nil || !k.UpdatedAt.Equal(base.Add(time.Minute)) {
		t.Errorf("after update: %+v", k)
	}
	if _, err := e.svc.Update(ctx, id, keyward.UpdateParams{ExpiresAt: keyward.Clear[time.Time](), ExpiresIn: keyward.Ptr(keyward.Duration(time.Hour))}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("expires_at null with expires_in: err = %v, want ErrInvalid", err)
	}
	if _, err := e.svc.Update(ctx, id, keyward.UpdateParams{ExpiresAt: keyward.SetTo(base)}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("expires_at in the past: err = %v, want ErrInvalid", err)
	}
	if _, err := e.svc.Update(ctx, id, keyward.UpdateParams{Refill: keyward.SetTo(keyward.Refill{Interval: "daily", Amount: 5})}); !errors.Is(err, keyward.ErrInvalid) {
		t.Errorf("refill without remaining: err = %v, want ErrInvalid", err)
	}
	if _, err := e.svc.Update(ctx, "nope", keyward.UpdateParams{}); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("malformed id: err = %v, want ErrNotFound", err)
	}
	before, _ := e.svc.Audit(ctx, keyward.AuditParams{KeyID: id})
	if _, err := e.svc.Update(ctx, id, keyward.UpdateParams{}); err != nil {
		t.Errorf("empty update: %v", err)
	}
	after, _ := e.svc.Audit(ctx, keyward.AuditParams{KeyID: id})
	if len(after.Items) != len(before.Items) {
		t.Errorf("an empty update wrote an audit entry")
	}
	if _, err := e.svc.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Update(ctx, id, keyward.UpdateParams{Name: keyward.Ptr("x")}); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("update of a revoked key: err = %v, want ErrConflict", err)
	}
}

func TestRevokeTwiceWritesOneAuditEntry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	iss := e.create(t, keyward.CreateParams{})
	k1, err1 := e.svc.Revoke(ctx, iss.Key.ID)
	e.clock.Add(time.Minute)
	k2, err2 := e.svc.Revoke(ctx, iss.Key.ID)
	if err1 != nil || err2 != nil || !k1.RevokedAt.Equal(*k2.RevokedAt) {
		t.Fatalf("revoke twice: %v %v, revoked_at %v then %v", err1, err2, k1.RevokedAt, k2.RevokedAt)
	}
	page, _ := e.svc.Audit(ctx, keyward.AuditParams{KeyID: iss.Key.ID})
	var actions []string
	for _, a := range page.Items {
		actions = append(actions, a.Action)
	}
	if strings.Join(actions, ",") != "key.revoke,key.create" {
		t.Errorf("audit actions = %v", actions)
	}
}

func TestRotate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	iss := e.create(t, keyward.CreateParams{
		Owner: "o", Scopes: []string{"s"}, Metadata: json.RawMessage(`{"m":1}`), Prefix: "sk_live",
		ExpiresIn: keyward.Ptr(keyward.Duration(48 * time.Hour)), Remaining: keyward.Ptr[int64](10),
		RateLimit: &keyward.RateLimit{Limit: 5, Period: keyward.Duration(time.Second)}, AllowedCIDRs: []string{"10.0.0.0/8"},
	})
	e.verify(t, keyward.VerifyRequest{Key: iss.Secret, ClientIP: netip.MustParseAddr("10.1.1.1")}) // 9 credits left
	e.clock.Add(time.Minute)
	rot, err := e.svc.Rotate(ctx, iss.Key.ID, keyward.RotateParams{GracePeriod: keyward.Ptr(keyward.Duration(24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	n := rot.Key
	if n.ID == iss.Key.ID || rot.Secret == iss.Secret || !strings.HasPrefix(rot.Secret, "sk_live_") {
		t.Fatalf("new key %s / %s", n.ID, rot.Secret)
	}
	if n.Owner != "o" || n.Scopes[0] != "s" || string(n.Metadata) != `{"m":1}` || *n.Remaining != 9 ||
		n.RateLimit.Limit != 5 || n.AllowedCIDRs[0] != "10.0.0.0/8" || !n.ExpiresAt.Equal(*iss.Key.ExpiresAt) {
		t.Errorf("settings not copied: %+v", n)
	}
	if n.Replaces == nil || *n.Replaces != iss.Key.ID || !n.CreatedAt.Equal(now) {
		t.Errorf("new key links: replaces %v created %v", n.Replaces, n.CreatedAt)
	}
	old, _ := e.svc.Get(ctx, iss.Key.ID)
	if old.ReplacedBy == nil || *old.ReplacedBy != n.ID || !old.ExpiresAt.Equal(now.Add(24*time.Hour)) {
		t.Errorf("old key: replaced_by %v expires %v, want %s and %v", old.ReplacedBy, old.ExpiresAt, n.ID, now.Add(24*time.Hour))
	}
	ip := netip.MustParseAddr("10.1.1.1")
	if r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret, ClientIP: ip}); !r.Valid() {
		t.Errorf("old key in its grace period: %v", r.Outcome)
	}
	if _, err := e.svc.Rotate(ctx, iss.Key.ID, keyward.RotateParams{}); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("rotating twice: err = %v, want ErrConflict", err)
	}
	e.clock.Add(24 * time.Hour)
	if r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret, ClientIP: ip}); r.Outcome != keyward.OutcomeExpired {
		t.Errorf("old key after grace: %v", r.Outcome)
	}
	// The grace never extends a key: an old key expiring sooner keeps its expiry.
	short := e.create(t, keyward.CreateParams{ExpiresIn: keyward.Ptr(keyward.Duration(time.Minute))})
	if _, err := e.svc.Rotate(ctx, short.Key.ID, keyward.RotateParams{}); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.svc.Get(ctx, short.Key.ID); !k.ExpiresAt.Equal(*short.Key.ExpiresAt) {
		t.Errorf("grace extended the old key from %v to %v", short.Key.ExpiresAt, k.ExpiresAt)
	}
	// An expired key may be rotated; it stays expired and the new key gets no expiry.
	e.clock.Add(2 * time.Minute)
	exp := e.create(t, keyward.CreateParams{ExpiresIn: keyward.Ptr(keyward.Duration(time.Second))})
	e.clock.Add(time.Minute)
	r2, err := e.svc.Rotate(ctx, exp.Key.ID, keyward.RotateParams{ExpiresIn: keyward.Ptr(keyward.Duration(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := e.svc.Get(ctx, exp.Key.ID); !k.ExpiresAt.Equal(*exp.Key.ExpiresAt) {
		t.Errorf("expired key's expiry changed to %v", k.ExpiresAt)
	}
	if !r2.Key.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Errorf("new key's expires_in not applied: %v", r2.Key.ExpiresAt)
	}
	rev := e.create(t, keyward.CreateParams{})
	e.svc.Revoke(ctx, rev.Key.ID)
	if _, err := e.svc.Rotate(ctx, rev.Key.ID, keyward.RotateParams{}); !errors.Is(err, keyward.ErrConflict) {
		t.Errorf("rotating a revoked key: err = %v, want ErrConflict", err)
	}
}

func TestListPagesAndCursor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for range 7 {
		e.create(t, keyward.CreateParams{Owner: "a"})
		e.clock.Add(time.Millisecond)
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 1; ; pages++ {
		page, err := e.svc.List(ctx, keyward.ListParams{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Items {
			seen[k.ID] = true
		}
		if page.NextCursor == "" {
			if len(page.Items) == 0 || pages != 3 {
				t.Errorf("last page %d has %d items: want a non-empty third page", pages, len(page.Items))
			}
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 7 {
		t.Errorf("pages covered %d keys, want 7", len(seen))
	}
	page, _ := e.svc.List(ctx, keyward.ListParams{Limit: 7})
	if page.NextCursor != "" {
		t.Errorf("an exact page has a next cursor: no trailing empty pages")
	}
	for _, bad := range []keyward.ListParams{{Limit: 1001}, {Limit: -1}, {Cursor: "!!"}, {Cursor: "bm9wZQ"}, {Status: "gone"}} {
		if _, err := e.svc.List(ctx, bad); !errors.Is(err, keyward.ErrInvalid) {
			t.Errorf("List(%+v) err = %v, want ErrInvalid", bad, err)
		}
	}
}
