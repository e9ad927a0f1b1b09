package keyward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ActionPolicyUpdate is the audit action of a change of the key lifetime
// policy ([Service.SetPolicy]); its details hold the "old" and "new" policy.
const ActionPolicyUpdate = "policy.update"

// policySetting is the name of the setting that holds the [Policy].
const policySetting = "policy"

// Policy is the key lifetime policy. It lives in the Store (a setting shared
// by every instance and the CLI; keyward serve records its
// --default-key-lifetime and --max-key-lifetime flags at start), and the
// [Service] applies it wherever a key is born or its expiry changes: create,
// update, rotate and import. [Service.Verify] never reads it. The zero
// Policy sets neither lifetime.
//
// In JSON it is {"default_key_lifetime": "<Go duration>" | null,
// "max_key_lifetime": "<Go duration>" | null}.
type Policy struct {
	// DefaultKeyLifetime, if not nil, is how long a key created without
	// expires_at or expires_in lives ("expires_in": "never" opts out, when
	// there is no maximum). A rotation that names no expiry gives the new
	// key this lifetime too (see [Service.Rotate]).
	DefaultKeyLifetime *time.Duration
	// MaxKeyLifetime, if not nil, is the longest a create, update, rotate
	// or import may let a key live from the time of the write: a later
	// expiry, or none, is refused with a *ValidationError. Keys that already
	// expire later stay as they are (the hygiene filters list them).
	MaxKeyLifetime *time.Duration
}

// policyJSON is the JSON shape of a Policy.
type policyJSON struct {
	DefaultKeyLifetime *Duration `json:"default_key_lifetime"`
	MaxKeyLifetime     *Duration `json:"max_key_lifetime"`
}

// MarshalJSON writes the lifetimes as Go duration strings, or null.
func (p Policy) MarshalJSON() ([]byte, error) {
	return json.Marshal(policyJSON{
		DefaultKeyLifetime: (*Duration)(p.DefaultKeyLifetime),
		MaxKeyLifetime:     (*Duration)(p.MaxKeyLifetime),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Policy) UnmarshalJSON(b []byte) error {
	var v policyJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p.DefaultKeyLifetime, p.MaxKeyLifetime = (*time.Duration)(v.DefaultKeyLifetime), (*time.Duration)(v.MaxKeyLifetime)
	return nil
}

// Validate returns a *ValidationError if a lifetime is not positive or the
// default is longer than the maximum.
func (p Policy) Validate() error {
	var probs problems
	if d := p.DefaultKeyLifetime; d != nil && *d <= 0 {
		probs.add("default_key_lifetime", "must be a positive duration")
	}
	if d := p.MaxKeyLifetime; d != nil && *d <= 0 {
		probs.add("max_key_lifetime", "must be a positive duration")
	}
	if d, m := p.DefaultKeyLifetime, p.MaxKeyLifetime; d != nil && m != nil && *m > 0 && *d > *m {
		probs.add("default_key_lifetime", fmt.Sprintf("must not be longer than the maximum key lifetime (%s)", shortDuration(*m)))
	}
	return probs.err()
}

// Equal reports whether p and q set the same lifetimes.
func (p Policy) Equal(q Policy) bool {
	same := func(a, b *time.Duration) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	return same(p.DefaultKeyLifetime, q.DefaultKeyLifetime) && same(p.MaxKeyLifetime, q.MaxKeyLifetime)
}

// Policy returns the key lifetime policy in force: the zero Policy when none
// was ever set.
func (s *Service) Policy(ctx context.Context) (Policy, error) {
	raw, err := s.store.Setting(ctx, policySetting)
	if errors.Is(err, ErrNotFound) {
		return Policy{}, nil
	}
	if err != nil {
		return Policy{}, fmt.Errorf("keyward: reading the key lifetime policy: %w", err)
	}
	var p Policy
	if err := json.Unmarshal(raw, &p); err != nil {
		return Policy{}, fmt.Errorf("keyward: the stored key lifetime policy is not readable: %w", err)
	}
	return p, nil
}

// SetPolicy makes p the key lifetime policy of every instance and the CLI.
// It writes only when p differs from the policy in force, with an audit
// entry [ActionPolicyUpdate] whose details hold the old and the new policy,
// and reports whether it wrote. Keys are not changed. Returns a
// *ValidationError for a policy that p.Validate refuses.
func (s *Service) SetPolicy(ctx context.Context, p Policy) (changed bool, err error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	cur, err := s.Policy(ctx)
	if err != nil {
		return false, err
	}
	if cur.Equal(p) {
		return false, nil
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("keyward: encoding the key lifetime policy: %w", err)
	}
	a := s.audit(ctx, ActionPolicyUpdate, "", map[string]any{"old": cur, "new": p})
	if err := s.store.PutSetting(ctx, policySetting, raw, a); err != nil {
		return false, fmt.Errorf("keyward: storing the key lifetime policy: %w", err)
	}
	return true, nil
}

// lifetime is the default lifetime, shortened to the maximum; nil without a
// default.
func (p Policy) lifetime() *time.Duration {
	d := p.DefaultKeyLifetime
	if d != nil && p.MaxKeyLifetime != nil && *p.MaxKeyLifetime < *d {
		d = p.MaxKeyLifetime
	}
	return d
}

// mustExpire states the maximum, for a key that would not expire.
func (p Policy) mustExpire() string {
	return fmt.Sprintf("a key must expire within %s (the maximum key lifetime)", shortDuration(*p.MaxKeyLifetime))
}

// beyondMessage is the problem of an expiry beyond the maximum.
func (p Policy) beyondMessage() string {
	return fmt.Sprintf("is beyond the maximum key lifetime of %s (--max-key-lifetime)", shortDuration(*p.MaxKeyLifetime))
}

// requested resolves the expires_at / expires_in of a create, update or
// rotate at now. named reports whether either was given; exp is nil for
// "never" (or after a problem). It adds the problems of the pair (both
// given, a past time, a duration that is not positive) and of the policy
// ("never", or a time beyond the maximum).
func (p Policy) requested(at *time.Time, in *Duration, now time.Time, probs *problems) (exp *time.Time, named bool) {
	if in != nil && *in == Never {
		switch {
		case at != nil:
			probs.add("expires_in", "give expires_at or expires_in, not both")
		case p.MaxKeyLifetime != nil:
			probs.add("expires_in", `cannot be "never": `+p.mustExpire())
		}
		return nil, true
	}
	if at == nil && in == nil {
		return nil, false
	}
	exp = expiry(at, in, now, probs)
	if exp != nil && p.MaxKeyLifetime != nil && exp.Sub(now) > *p.MaxKeyLifetime {
		field := "expires_in"
		if at != nil {
			field = "expires_at"
		}
		probs.add(field, p.beyondMessage())
	}
	return exp, true
}

// createExpiry is the expiry of a key created at now: the one requested,
// else now plus the default lifetime; without either, a maximum makes it a
// problem.
func (p Policy) createExpiry(at *time.Time, in *Duration, now time.Time, probs *problems) *time.Time {
	if exp, named := p.requested(at, in, now, probs); named {
		return exp
	}
	if d := p.lifetime(); d != nil {
		return Ptr(now.Add(*d).Truncate(time.Millisecond))
	}
	if p.MaxKeyLifetime != nil {
		probs.add("expires_in", p.mustExpire()+": give expires_in or expires_at")
	}
	return nil
}

// updateExpiry is the expiry an update at now gives a key, and whether it
// changes it at all: an update that does not name the expiry leaves it, even
// beyond the maximum.
func (p Policy) updateExpiry(u UpdateParams, now time.Time, probs *problems) (exp *time.Time, changed bool) {
	if u.ExpiresAt.Set && u.ExpiresAt.Value == nil {
		if p.MaxKeyLifetime != nil {
			probs.add("expires_at", "cannot be null: "+p.mustExpire())
		}
		return nil, true
	}
	return p.requested(u.ExpiresAt.Value, u.ExpiresIn, now, probs)
}

// successorExpiry is the expiry of the key that replaces old in a rotation
// at now: the one requested (named), else old's expiry if it is still in the
// future, shortened to now plus the default lifetime if one is set, else
// the maximum if one is set.
func (p Policy) successorExpiry(old *Key, requested *time.Time, named bool, now time.Time) *time.Time {
	if named {
		return requested
	}
	var exp *time.Time
	if old.ExpiresAt != nil && old.ExpiresAt.After(now) {
		exp = Ptr(*old.ExpiresAt)
	}
	d := p.lifetime()
	if d == nil {
		d = p.MaxKeyLifetime
	}
	if d != nil {
		if t := now.Add(*d).Truncate(time.Millisecond); exp == nil || t.Before(*exp) {
			exp = &t
		}
	}
	return exp
}

// maxImportProblems is how many keys an import refused by the policy names.
const maxImportProblems = 20

// checkImport returns a *ValidationError naming the keys (by index and id)
// that the maximum refuses at now: those without expiry and those expiring
// beyond it. The default lifetime does not apply to imported keys.
func (p Policy) checkImport(keys []*Key, now time.Time) error {
	if p.MaxKeyLifetime == nil {
		return nil
	}
	var probs problems
	more := 0
	for i, k := range keys {
		var msg string
		switch {
		case k.ExpiresAt == nil:
			msg = "has no expiry, but " + p.mustExpire()
		case k.ExpiresAt.Sub(now) > *p.MaxKeyLifetime:
			msg = p.beyondMessage()
		default:
			continue
		}
		if len(probs) == maxImportProblems {
			more++
			continue
		}
		probs.add(fmt.Sprintf("keys[%d].expires_at", i), "key "+k.ID+": "+msg)
	}
	if more > 0 {
		probs.add("keys", fmt.Sprintf("%d more keys break the maximum key lifetime", more))
	}
	return probs.err()
}

// shortDuration writes d as a Go duration without zero trailing units:
// "720h", "1h30m", "90s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
