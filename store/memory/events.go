package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// eventData is the outbox, the endpoints and their deliveries; guarded by
// Store.mu.
type eventData struct {
	outbox     []*outboxEvent // oldest first; fanned-out events are pruned
	dedupe     map[string]time.Time
	webhooks   map[string]*webhookRecord
	deliveries map[int64]*delivery
	attempts   []attemptRow // by ID
	lastID     int64        // of deliveries and attempts
	lastSeq    int64        // of outbox events
}

type outboxEvent struct {
	keyward.Event
	seq    int64 // read back by EventsAfter alone, as the other stores do
	fanned bool
}

type webhookRecord struct {
	w      *keyward.Webhook
	secret string
}

type delivery struct {
	id                int64
	event             *outboxEvent
	webhook           string
	attempts          int
	firstAt, lastAt   time.Time
	createdAt, nextAt time.Time
	token             string
	done              bool
}

type attemptRow struct {
	keyward.Attempt
	webhook string
}

func newEventData() eventData {
	return eventData{dedupe: map[string]time.Time{}, webhooks: map[string]*webhookRecord{}, deliveries: map[int64]*delivery{}}
}

// appendEvents adds events to the outbox, skipping stored dedupe keys, and
// returns how many it added; s.mu must be held.
func (s *Store) appendEvents(events []keyward.Event) int {
	n := 0
	for _, e := range events {
		if e.Dedupe != "" {
			if _, ok := s.ev.dedupe[e.Dedupe]; ok {
				continue
			}
			s.ev.dedupe[e.Dedupe] = e.At
		}
		c := e
		c.Data = slices.Clone(e.Data)
		s.ev.lastSeq++
		c.Seq = 0
		s.ev.outbox = append(s.ev.outbox, &outboxEvent{Event: c, seq: s.ev.lastSeq})
		n++
	}
	return n
}

// AppendEvents adds the events whose dedupe key is new.
func (s *Store) AppendEvents(_ context.Context, events []keyward.Event) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	return s.appendEvents(events), nil
}

// EventsAfter returns the outbox's events after the sequence number after.
func (s *Store) EventsAfter(_ context.Context, after int64, limit int) ([]keyward.Event, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []keyward.Event
	for _, e := range s.ev.outbox {
		if e.seq > after && len(out) < limit {
			c := e.Event
			c.Data, c.Seq = slices.Clone(e.Data), e.seq
			out = append(out, c)
		}
	}
	return out, nil
}

// LastEventSeq returns the sequence number of the newest event stored.
func (s *Store) LastEventSeq(context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	if n := len(s.ev.outbox); n > 0 {
		return s.ev.outbox[n-1].seq, nil
	}
	return 0, nil
}

// ListExpiring returns live keys expiring in (f.From, f.To].
func (s *Store) ListExpiring(_ context.Context, f keyward.ExpiringFilter) ([]*keyward.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []*keyward.Key
	for _, k := range s.keys {
		if k.RevokedAt != nil || k.ExpiresAt == nil || !k.ExpiresAt.After(f.From) || k.ExpiresAt.After(f.To) {
			continue
		}
		if c := f.After; c != nil && (k.ExpiresAt.Before(c.ExpiresAt) || k.ExpiresAt.Equal(c.ExpiresAt) && k.ID <= c.ID) {
			continue
		}
		out = append(out, s.keyView(k))
	}
	slices.SortFunc(out, func(a, b *keyward.Key) int {
		if c := a.ExpiresAt.Compare(*b.ExpiresAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// CreateWebhook stores a copy of w and its secret.
func (s *Store) CreateWebhook(_ context.Context, w *keyward.Webhook, secret string, a *keyward.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if _, ok := s.ev.webhooks[w.ID]; ok {
		return fmt.Errorf("memory: webhook %q exists: %w", w.ID, keyward.ErrConflict)
	}
	s.ev.webhooks[w.ID] = &webhookRecord{w: w.Clone(), secret: secret}
	s.appendAudit(a)
	return nil
}

// GetWebhook returns the stored endpoint (shared: writes replace it).
func (s *Store) GetWebhook(_ context.Context, id string) (*keyward.Webhook, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	r, ok := s.ev.webhooks[id]
	if !ok {
		return nil, missing("webhook", id)
	}
	return r.w, nil
}

// ListWebhooks returns every endpoint, oldest first.
func (s *Store) ListWebhooks(context.Context) ([]*keyward.Webhook, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	out := make([]*keyward.Webhook, 0, len(s.ev.webhooks))
	for _, r := range s.ev.webhooks {
		out = append(out, r.w)
	}
	slices.SortFunc(out, func(a, b *keyward.Webhook) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UpdateWebhook changes a copy of the endpoint with fn and stores it.
func (s *Store) UpdateWebhook(_ context.Context, id string, fn func(*keyward.Webhook) (*keyward.AuditEntry, error)) (*keyward.Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	r, ok := s.ev.webhooks[id]
	if !ok {
		return nil, missing("webhook", id)
	}
	w := r.w.Clone()
	a, err := fn(w)
	if errors.Is(err, keyward.ErrNoChange) {
		return r.w, nil
	}
	if err != nil {
		return nil, err
	}
	w.ID = id
	s.ev.webhooks[id] = &webhookRecord{w: w, secret: r.secret}
	s.appendAudit(a)
	return w, nil
}

// DeleteWebhook removes the endpoint, its deliveries and its attempts.
func (s *Store) DeleteWebhook(_ context.Context, id string, a *keyward.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if _, ok := s.ev.webhooks[id]; !ok {
		return missing("webhook", id)
	}
	delete(s.ev.webhooks, id)
	for did, d := range s.ev.deliveries {
		if d.webhook == id {
			delete(s.ev.deliveries, did)
		}
	}
	s.ev.attempts = slices.DeleteFunc(s.ev.attempts, func(r attemptRow) bool { return r.webhook == id })
	s.appendAudit(a)
	return nil
}

// ListAttempts returns the endpoint's attempts, newest first.
func (s *Store) ListAttempts(_ context.Context, f keyward.AttemptFilter) ([]keyward.Attempt, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []keyward.Attempt
	for i := len(s.ev.attempts) - 1; i >= 0; i-- {
		r := s.ev.attempts[i]
		if r.webhook != f.Webhook || f.Before != 0 && r.ID >= f.Before {
			continue
		}
		out = append(out, r.Attempt)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// FanOut creates the deliveries of the oldest events not fanned out.
func (s *Store) FanOut(_ context.Context, now time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	hooks := make([]*keyward.Webhook, 0, len(s.ev.webhooks))
	for _, r := range s.ev.webhooks {
		hooks = append(hooks, r.w)
	}
	n := 0
	for _, e := range s.ev.outbox {
		if n == limit {
			break
		}
		if e.fanned {
			continue
		}
		for _, w := range hooks {
			if e.Webhook == w.ID || e.Webhook == "" && w.Enabled && w.Wants(e.Type) {
				s.ev.lastID++
				s.ev.deliveries[s.ev.lastID] = &delivery{id: s.ev.lastID, event: e, webhook: w.ID, createdAt: now, nextAt: now}
			}
		}
		e.fanned = true
		n++
	}
	return n, nil
}

// ClaimDeliveries leases due deliveries, earliest due first.
func (s *Store) ClaimDeliveries(_ context.Context, c keyward.DeliveryClaim) ([]keyward.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var due []*delivery
	for _, d := range s.ev.deliveries {
		r := s.ev.webhooks[d.webhook]
		if !d.done && !d.nextAt.After(c.Now) && r != nil && r.w.Enabled && !slices.Contains(c.Skip, d.webhook) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(a, b *delivery) int {
		if x := a.nextAt.Compare(b.nextAt); x != 0 {
			return x
		}
		return cmp.Compare(a.id, b.id)
	})
	per := map[string]int{}
	var out []keyward.Delivery
	for _, d := range due {
		if len(out) == c.Limit {
			break
		}
		if per[d.webhook] == c.PerWebhook {
			continue
		}
		per[d.webhook]++
		d.nextAt, d.token = c.Until, c.Token
		r := s.ev.webhooks[d.webhook]
		e := d.event.Event
		e.Data = slices.Clone(e.Data)
		out = append(out, keyward.Delivery{
			ID: d.id, Event: e, WebhookID: d.webhook, URL: r.w.URL, Secret: r.secret,
			Attempts: d.attempts, FirstAttemptAt: d.firstAt, CreatedAt: d.createdAt,
		})
	}
	return out, nil
}

// RecordAttempts stores the outcomes whose claims still hold.
func (s *Store) RecordAttempts(_ context.Context, records []keyward.AttemptRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	for _, r := range records {
		d, ok := s.ev.deliveries[r.DeliveryID]
		if !ok || d.token != r.Token || d.done {
			continue
		}
		d.attempts++
		if d.firstAt.IsZero() {
			d.firstAt = r.At
		}
		d.lastAt, d.token = r.At, ""
		if r.Next == nil {
			d.done = true
		} else {
			d.nextAt = *r.Next
		}
		s.ev.lastID++
		s.ev.attempts = append(s.ev.attempts, attemptRow{webhook: d.webhook, Attempt: keyward.Attempt{
			ID: s.ev.lastID, EventID: r.EventID, Type: r.EventType, Attempt: d.attempts, At: r.At,
			Status: r.Status, Error: r.Error, NextAttemptAt: clonePtr(r.Next),
		}})
	}
	return nil
}

func clonePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// PruneEvents deletes what is finished and older than the cutoffs.
func (s *Store) PruneEvents(_ context.Context, p keyward.PruneParams) (keyward.PruneResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res keyward.PruneResult
	if err := s.check(); err != nil {
		return res, err
	}
	before := len(s.ev.attempts)
	s.ev.attempts = slices.DeleteFunc(s.ev.attempts, func(r attemptRow) bool { return r.At.Before(p.Before) })
	res.Attempts = int64(before - len(s.ev.attempts))
	live := map[*outboxEvent]bool{}
	for id, d := range s.ev.deliveries {
		r := s.ev.webhooks[d.webhook]
		if d.done && d.lastAt.Before(p.Before) || !d.done && d.createdAt.Before(p.Before) && r != nil && !r.w.Enabled {
			delete(s.ev.deliveries, id)
			res.Deliveries++
			continue
		}
		live[d.event] = true
	}
	before = len(s.ev.outbox)
	s.ev.outbox = slices.DeleteFunc(s.ev.outbox, func(e *outboxEvent) bool {
		return e.fanned && e.At.Before(p.Before) && !live[e]
	})
	res.Events = int64(before - len(s.ev.outbox))
	for d, at := range s.ev.dedupe {
		if at.Before(p.DedupeBefore) {
			delete(s.ev.dedupe, d)
			res.Dedupe++
		}
	}
	return res, nil
}
