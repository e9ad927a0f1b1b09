package keyward

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on webhook endpoints.
const (
	// MaxWebhooks is the most endpoints a deployment has.
	MaxWebhooks = 100
	// MaxWebhookURLLength is the longest endpoint URL, in bytes.
	MaxWebhookURLLength = 2048
	// WebhookIDPrefix starts every endpoint id.
	WebhookIDPrefix = "wh_"
	// WebhookSecretPrefix starts every signing secret, which is followed by
	// the standard base64 of 32 random bytes (Standard Webhooks).
	WebhookSecretPrefix = "whsec_"
	// AllEvents, as the only entry of Webhook.Events, subscribes to every
	// type, present and future.
	AllEvents = "*"
)

// Audit actions of webhook endpoints.
const (
	ActionWebhookCreate = "webhook.create"
	ActionWebhookUpdate = "webhook.update"
	ActionWebhookDelete = "webhook.delete"
)

// Webhook is an endpoint that receives events. Its signing secret is not a
// field: it is shown once, when the endpoint is created
// ([Service.CreateWebhook]), and only the dispatcher reads it back
// ([EventStore.ClaimDeliveries]). A *Webhook returned by a Store may be
// shared: treat it as read-only.
type Webhook struct {
	// ID is WebhookIDPrefix and 16 base62 characters.
	ID  string `json:"id"`
	URL string `json:"url"`
	// Events are the types the endpoint receives, or ["*"] for all.
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Clone returns a deep copy of w.
func (w *Webhook) Clone() *Webhook {
	c := *w
	c.Events = slices.Clone(w.Events)
	return &c
}

// Wants reports whether the endpoint subscribes to events of type typ.
func (w *Webhook) Wants(typ string) bool {
	return slices.Contains(w.Events, AllEvents) || slices.Contains(w.Events, typ)
}

// WebhookParams is the content of a new endpoint for
// [Service.CreateWebhook].
type WebhookParams struct {
	// URL is an absolute http or https URL.
	URL string
	// Events is a non-empty list of types, or ["*"].
	Events      []string
	Description string
	// Enabled defaults to true.
	Enabled *bool
}

// WebhookUpdate changes some fields of an endpoint; nil fields stay.
type WebhookUpdate struct {
	URL         *string
	Events      *[]string
	Description *string
	Enabled     *bool
}

// CreatedWebhook is a new endpoint with its signing secret, shown once.
type CreatedWebhook struct {
	Webhook *Webhook `json:"webhook"`
	Secret  string   `json:"secret"`
}

// AttemptParams selects a page of an endpoint's delivery attempts.
type AttemptParams struct {
	Cursor string
	// Limit is 1-1000; 0 means 50.
	Limit int
}

// AttemptPage is one page of delivery attempts, newest first.
type AttemptPage struct {
	Items      []Attempt `json:"items"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// NewWebhookSecret returns a fresh signing secret: WebhookSecretPrefix and
// the base64 of 32 bytes from crypto/rand.
func NewWebhookSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", &randomError{err}
	}
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// validWebhookID reports whether s has the form of an endpoint id.
func validWebhookID(s string) bool {
	rest, ok := strings.CutPrefix(s, WebhookIDPrefix)
	return ok && len(rest) == IDLength && isBase62(rest)
}

// validateWebhook checks and normalizes the fields of w.
func validateWebhook(w *Webhook, p *problems) {
	if msg := checkWebhookURL(w.URL); msg != "" {
		p.add("url", msg)
	}
	switch {
	case len(w.Events) == 0:
		p.add("events", `must list event types, or be ["*"] for all`)
	case slices.Contains(w.Events, AllEvents) && len(w.Events) > 1:
		p.add("events", `"*" stands alone: give ["*"] or a list of types`)
	default:
		for i, t := range w.Events {
			if t != AllEvents && !validEventType(t) {
				p.add(fmt.Sprintf("events[%d]", i), fmt.Sprintf("%q is not an event type (one of %s)", t, strings.Join(EventTypes(), ", ")))
			}
		}
		w.Events = dedupe(w.Events)
	}
	if utf8.RuneCountInString(w.Description) > MaxDescriptionLength || !utf8.ValidString(w.Description) {
		p.add("description", fmt.Sprintf("must be valid UTF-8 of at most %d characters", MaxDescriptionLength))
	}
}

// checkWebhookURL returns what is wrong with an endpoint URL, or "".
func checkWebhookURL(raw string) string {
	if raw == "" || len(raw) > MaxWebhookURLLength || strings.ContainsFunc(raw, func(r rune) bool { return isControl(r) || r == ' ' }) {
		return fmt.Sprintf("must be an http or https URL of at most %d bytes without spaces", MaxWebhookURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL"
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" || u.Host == "" || u.Opaque != "" {
		return "must be an absolute http or https URL, such as https://example.com/hooks"
	}
	return ""
}

// CreateWebhook adds an endpoint and returns it with its signing secret,
// which is not shown again. Returns a *ValidationError for bad params, or
// ErrConflict when MaxWebhooks endpoints exist.
func (s *Service) CreateWebhook(ctx context.Context, p WebhookParams) (CreatedWebhook, error) {
	now := s.Now()
	w := &Webhook{
		URL: p.URL, Events: slices.Clone(p.Events), Description: p.Description,
		Enabled: p.Enabled == nil || *p.Enabled, CreatedAt: now, UpdatedAt: now,
	}
	var probs problems
	validateWebhook(w, &probs)
	if err := probs.err(); err != nil {
		return CreatedWebhook{}, err
	}
	all, err := s.store.ListWebhooks(ctx)
	if err != nil {
		return CreatedWebhook{}, fmt.Errorf("keyward: listing webhooks: %w", err)
	}
	if len(all) >= MaxWebhooks {
		return CreatedWebhook{}, &stateError{fmt.Sprintf("there are %d webhook endpoints, the most allowed; delete one first", len(all))}
	}
	secret, err := NewWebhookSecret()
	if err != nil {
		return CreatedWebhook{}, err
	}
	for attempt := 0; ; attempt++ {
		id, err := NewID()
		if err != nil {
			return CreatedWebhook{}, err
		}
		w.ID = WebhookIDPrefix + id
		a := s.audit(ctx, ActionWebhookCreate, "", map[string]any{"webhook": w.ID, "events": w.Events, "enabled": w.Enabled})
		err = s.store.CreateWebhook(ctx, w, secret, a)
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return CreatedWebhook{}, fmt.Errorf("keyward: creating webhook: %w", err)
		}
		return CreatedWebhook{Webhook: w.Clone(), Secret: secret}, nil
	}
}

// GetWebhook returns the endpoint, or ErrNotFound.
func (s *Service) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	if !validWebhookID(id) {
		return nil, fmt.Errorf("keyward: webhook %q: %w", id, ErrNotFound)
	}
	w, err := s.store.GetWebhook(ctx, id)
	if err != nil {
		return nil, err
	}
	return w.Clone(), nil
}

// ListWebhooks returns every endpoint, oldest first.
func (s *Service) ListWebhooks(ctx context.Context) ([]*Webhook, error) {
	all, err := s.store.ListWebhooks(ctx)
	if err != nil {
		return nil, fmt.Errorf("keyward: listing webhooks: %w", err)
	}
	out := make([]*Webhook, len(all))
	for i, w := range all {
		out[i] = w.Clone()
	}
	return out, nil
}

// UpdateWebhook changes the fields set in p and returns the endpoint as
// stored. Returns ErrNotFound or a *ValidationError.
func (s *Service) UpdateWebhook(ctx context.Context, id string, p WebhookUpdate) (*Webhook, error) {
	if !validWebhookID(id) {
		return nil, fmt.Errorf("keyward: webhook %q: %w", id, ErrNotFound)
	}
	w, err := s.store.UpdateWebhook(ctx, id, func(w *Webhook) (*AuditEntry, error) {
		var changed []string
		if p.URL != nil && *p.URL != w.URL {
			w.URL, changed = *p.URL, append(changed, "url")
		}
		if p.Events != nil && !slices.Equal(*p.Events, w.Events) {
			w.Events, changed = slices.Clone(*p.Events), append(changed, "events")
		}
		if p.Description != nil && *p.Description != w.Description {
			w.Description, changed = *p.Description, append(changed, "description")
		}
		if p.Enabled != nil && *p.Enabled != w.Enabled {
			w.Enabled, changed = *p.Enabled, append(changed, "enabled")
		}
		var probs problems
		validateWebhook(w, &probs)
		if err := probs.err(); err != nil {
			return nil, err
		}
		if len(changed) == 0 {
			return nil, ErrNoChange
		}
		w.UpdatedAt = s.Now()
		return s.audit(ctx, ActionWebhookUpdate, "", map[string]any{"webhook": id, "fields": changed}), nil
	})
	if err != nil {
		return nil, err
	}
	return w.Clone(), nil
}

// DeleteWebhook deletes the endpoint with its pending deliveries and its
// delivery log. Returns ErrNotFound.
func (s *Service) DeleteWebhook(ctx context.Context, id string) error {
	if !validWebhookID(id) {
		return fmt.Errorf("keyward: webhook %q: %w", id, ErrNotFound)
	}
	return s.store.DeleteWebhook(ctx, id, s.audit(ctx, ActionWebhookDelete, "", map[string]any{"webhook": id}))
}

// TestWebhook queues a webhook.test event for the endpoint alone and
// returns it. Returns ErrNotFound, or ErrConflict if the endpoint is
// disabled (its deliveries wait until it is enabled).
func (s *Service) TestWebhook(ctx context.Context, id string) (Event, error) {
	w, err := s.GetWebhook(ctx, id)
	if err != nil {
		return Event{}, err
	}
	if !w.Enabled {
		return Event{}, &stateError{"webhook " + id + " is disabled; enable it to test it"}
	}
	e, err := s.newEvent(EventWebhookTest, struct{}{})
	if err != nil {
		return Event{}, err
	}
	e.Webhook = id
	if _, err := s.store.AppendEvents(ctx, []Event{e}); err != nil {
		return Event{}, fmt.Errorf("keyward: queueing a test event: %w", err)
	}
	s.notifyEvents()
	return e, nil
}

// WebhookDeliveries returns a page of the endpoint's delivery attempts,
// newest first. Returns ErrNotFound, or a *ValidationError for a bad limit
// or cursor.
func (s *Service) WebhookDeliveries(ctx context.Context, id string, p AttemptParams) (AttemptPage, error) {
	var probs problems
	limit, before := probs.idPaging(p.Limit, p.Cursor)
	if err := probs.err(); err != nil {
		return AttemptPage{}, err
	}
	if _, err := s.GetWebhook(ctx, id); err != nil {
		return AttemptPage{}, err
	}
	items, err := s.store.ListAttempts(ctx, AttemptFilter{Webhook: id, Before: before, Limit: limit + 1})
	if err != nil {
		return AttemptPage{}, fmt.Errorf("keyward: listing deliveries: %w", err)
	}
	page := AttemptPage{}
	page.Items, page.NextCursor = idPage(items, limit, func(a Attempt) int64 { return a.ID })
	return page, nil
}
