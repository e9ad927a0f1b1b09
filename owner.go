package keyward

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Owner is the optional record of a key owner: a customer, team or tenant.
// Its settings are shared by every key whose Owner equals its Name, whenever
// the key was created: its rate limits count across all of them, and its
// credits are spent by all of them. A *Owner returned by a Store may be
// shared: treat it as read-only and Clone it before changing it.
type Owner struct {
	Name       string           `json:"name"`
	Metadata   json.RawMessage  `json:"metadata"`
	RateLimits []NamedRateLimit `json:"rate_limits"`
	// Remaining is the credits shared by the owner's keys; nil means none
	// are counted at the owner.
	Remaining *int64  `json:"remaining"`
	Refill    *Refill `json:"refill"`
	// KeyCount is how many keys carry this owner (filled by the Store on
	// reads; not stored).
	KeyCount  int64     `json:"key_count"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// RefilledAt is the start of the refill period that last reset
	// Remaining, as on keys.
	RefilledAt *time.Time `json:"-"`

	plan *limitPlan // see planFor
}

// Clone returns a deep copy of o.
func (o *Owner) Clone() *Owner {
	c := *o
	c.Metadata = slices.Clone(o.Metadata)
	c.RateLimits = slices.Clone(o.RateLimits)
	c.Remaining = clonePtr(o.Remaining)
	c.Refill = clonePtr(o.Refill)
	c.RefilledAt = clonePtr(o.RefilledAt)
	c.plan = nil
	return &c
}

// RefillDue reports whether, at now, the owner's credits are due for a
// refill, as [Key.RefillDue] does for a key.
func (o *Owner) RefillDue(now time.Time) bool {
	return refillDue(o.Refill, o.Remaining, o.RefilledAt, now)
}

// OwnerParams is the content of an owner record for [Service.PutOwner]:
// omitted fields take their defaults (no metadata, no limits, no credits).
type OwnerParams struct {
	// Metadata must be a JSON object of at most 16 KiB; nil means {}.
	Metadata   json.RawMessage
	RateLimits []NamedRateLimit
	// Remaining credits shared by the owner's keys; nil means none.
	Remaining *int64
	// Refill needs Remaining.
	Refill *Refill
}

// OwnerUpdate changes some fields of an owner record; nil and unset fields
// stay. Setting Remaining (a top-up) or Refill starts a new refill period.
type OwnerUpdate struct {
	Metadata   json.RawMessage
	RateLimits *[]NamedRateLimit
	Remaining  Nullable[int64]
	Refill     Nullable[Refill]
}

// NamePage is a page of records listed by name: owner records or roles.
type NamePage[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// OwnerPage is a page of owner records, by name.
type OwnerPage = NamePage[*Owner]

// validateOwnerName checks an owner record's name: 1-200 characters of valid
// UTF-8 without control characters.
func validateOwnerName(name string, p *problems) {
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxOwnerLength || !utf8.ValidString(name) || strings.ContainsFunc(name, isControl) {
		p.add("name", fmt.Sprintf("must be 1-%d characters of valid UTF-8 without control characters", MaxOwnerLength))
	}
}

// validateOwner checks and normalizes the fields of o.
func validateOwner(o *Owner, p *problems) {
	if m, msg := normalizeMetadata(o.Metadata); msg != "" {
		p.add("metadata", msg)
	} else {
		o.Metadata = m
	}
	validateRateLimits("rate_limits", o.RateLimits, p)
	if o.RateLimits == nil {
		o.RateLimits = []NamedRateLimit{}
	}
	validateCredits(o.Remaining, o.Refill, p)
}

// PutOwner creates (created true) or replaces the owner record named name.
// Returns a *ValidationError for a bad name or fields.
func (s *Service) PutOwner(ctx context.Context, name string, p OwnerParams) (o *Owner, created bool, err error) {
	var probs problems
	validateOwnerName(name, &probs)
	now := s.Now()
	o = &Owner{
		Name: name, Metadata: p.Metadata, RateLimits: slices.Clone(p.RateLimits),
		Remaining: clonePtr(p.Remaining), Refill: clonePtr(p.Refill), CreatedAt: now, UpdatedAt: now,
	}
	validateOwner(o, &probs)
	if err := probs.err(); err != nil {
		return nil, false, err
	}
	if o.Refill != nil {
		o.RefilledAt = Ptr(refillPeriodStart(o.Refill.Interval, now))
	}
	ev := o.Clone() // the event shows the record as stored: a replace keeps CreatedAt
	if cur, err := s.store.GetOwner(NewFreshContext(ctx), name); err == nil {
		ev.CreatedAt = cur.CreatedAt
	}
	e, err := s.newEvent(EventOwnerUpdated, eventOwner{Owner: ev})
	a, err := withEvent(s.audit(ctx, ActionOwnerPut, "", map[string]any{"owner": name}), e, err)
	if err != nil {
		return nil, false, err
	}
	created, err = s.store.PutOwner(ctx, o, a)
	if err != nil {
		return nil, false, fmt.Errorf("keyward: storing owner %q: %w", name, err)
	}
	s.notifyEvents()
	o, err = s.GetOwner(ctx, name)
	return o, created, err
}

// UpdateOwner changes the fields set in p and returns the record as
// stored. Returns ErrNotFound if there is no record, or a *ValidationError.
func (s *Service) UpdateOwner(ctx context.Context, name string, p OwnerUpdate) (*Owner, error) {
	var probs problems
	validateOwnerName(name, &probs)
	if probs.err() != nil {
		return nil, fmt.Errorf("keyward: owner %q: %w", name, ErrNotFound)
	}
	defer s.holdLeases(ctx, func(p leasePair) bool { return p.owner == name })()
	_, err := s.store.UpdateOwner(ctx, name, func(o *Owner) (*AuditEntry, error) {
		now := s.Now()
		var changed []string
		if p.Metadata != nil {
			o.Metadata, changed = p.Metadata, append(changed, "metadata")
		}
		if p.RateLimits != nil {
			o.RateLimits, changed = slices.Clone(*p.RateLimits), append(changed, "rate_limits")
		}
		if p.Remaining.Set {
			o.Remaining, changed = clonePtr(p.Remaining.Value), append(changed, "remaining")
		}
		if p.Refill.Set {
			o.Refill, changed = clonePtr(p.Refill.Value), append(changed, "refill")
		}
		validateOwner(o, &probs)
		if err := probs.err(); err != nil {
			return nil, err
		}
		if len(changed) == 0 {
			return nil, ErrNoChange
		}
		if p.Remaining.Set || p.Refill.Set {
			// New credits count from now: the current period is served.
			o.RefilledAt = nil
			if o.Refill != nil {
				o.RefilledAt = Ptr(refillPeriodStart(o.Refill.Interval, now))
			}
		}
		o.UpdatedAt = now
		e, err := s.newEvent(EventOwnerUpdated, eventOwner{Owner: s.ownerView(o)})
		return withEvent(s.audit(ctx, ActionOwnerUpdate, "", map[string]any{"owner": name, "fields": changed}), e, err)
	})
	if err != nil {
		return nil, err
	}
	s.notifyEvents()
	return s.GetOwner(ctx, name)
}

// GetOwner returns the owner record with its key count, or ErrNotFound.
// Credits due for a refill show the refilled amount.
func (s *Service) GetOwner(ctx context.Context, name string) (*Owner, error) {
	if name == "" || len(name) > 4*MaxOwnerLength {
		return nil, fmt.Errorf("keyward: owner %q: %w", name, ErrNotFound)
	}
	o, err := s.store.GetOwner(NewFreshContext(ctx), name)
	if err != nil {
		return nil, err
	}
	return s.ownerView(o), nil
}

// ownerView returns a copy of o as users should see it.
func (s *Service) ownerView(o *Owner) *Owner {
	c := o.Clone()
	now := s.Now()
	if c.Remaining != nil {
		*c.Remaining += s.leases.heldByOwner(o.Name, o.UpdatedAt, now)
	}
	showRefilled(&c.Remaining, c.Refill, c.RefilledAt, now)
	return c
}

// ListOwners returns a page of owner records by name.
func (s *Service) ListOwners(ctx context.Context, p NameListParams) (OwnerPage, error) {
	f, limit, err := p.filter()
	if err != nil {
		return OwnerPage{}, err
	}
	owners, err := s.store.ListOwners(ctx, f)
	if err != nil {
		return OwnerPage{}, fmt.Errorf("keyward: listing owners: %w", err)
	}
	page := OwnerPage{Items: make([]*Owner, 0, min(len(owners), limit))}
	for i, o := range owners {
		if i == limit {
			page.NextCursor = encodeNameCursor(owners[limit-1].Name)
			break
		}
		page.Items = append(page.Items, s.ownerView(o))
	}
	return page, nil
}

// DeleteOwner deletes the owner record. The keys keep their owner string;
// the shared limits and credits end. Returns ErrNotFound.
func (s *Service) DeleteOwner(ctx context.Context, name string) error {
	if name == "" || len(name) > 4*MaxOwnerLength {
		return fmt.Errorf("keyward: owner %q: %w", name, ErrNotFound)
	}
	o, err := s.store.GetOwner(NewFreshContext(ctx), name)
	if err != nil {
		return err
	}
	e, err := s.newEvent(EventOwnerDeleted, eventOwner{Owner: s.ownerView(o)})
	a, err := withEvent(s.audit(ctx, ActionOwnerDelete, "", map[string]any{"owner": name}), e, err)
	if err != nil {
		return err
	}
	if err := s.store.DeleteOwner(ctx, name, a); err != nil {
		return err
	}
	s.notifyEvents()
	return nil
}
