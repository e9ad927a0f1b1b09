package cache

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

// The events outbox, webhook endpoints and deliveries are not cached: every
// method of keyward.EventStore goes to the store of record.

// AppendEvents goes to the store.
func (s *Store) AppendEvents(ctx context.Context, events []keyward.Event) (int, error) {
	return s.next.AppendEvents(ctx, events)
}

// EventsAfter goes to the store.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]keyward.Event, error) {
	return s.next.EventsAfter(ctx, after, limit)
}

// LastEventSeq goes to the store.
func (s *Store) LastEventSeq(ctx context.Context) (int64, error) {
	return s.next.LastEventSeq(ctx)
}

// ListExpiring goes to the store.
func (s *Store) ListExpiring(ctx context.Context, f keyward.ExpiringFilter) ([]*keyward.Key, error) {
	return s.next.ListExpiring(ctx, f)
}

// CreateWebhook goes to the store.
func (s *Store) CreateWebhook(ctx context.Context, w *keyward.Webhook, secret string, a *keyward.AuditEntry) error {
	return s.next.CreateWebhook(ctx, w, secret, a)
}

// GetWebhook goes to the store.
func (s *Store) GetWebhook(ctx context.Context, id string) (*keyward.Webhook, error) {
	return s.next.GetWebhook(ctx, id)
}

// ListWebhooks goes to the store.
func (s *Store) ListWebhooks(ctx context.Context) ([]*keyward.Webhook, error) {
	return s.next.ListWebhooks(ctx)
}

// UpdateWebhook goes to the store.
func (s *Store) UpdateWebhook(ctx context.Context, id string, fn func(*keyward.Webhook) (*keyward.AuditEntry, error)) (*keyward.Webhook, error) {
	return s.next.UpdateWebhook(ctx, id, fn)
}

// DeleteWebhook goes to the store.
func (s *Store) DeleteWebhook(ctx context.Context, id string, a *keyward.AuditEntry) error {
	return s.next.DeleteWebhook(ctx, id, a)
}

// ListAttempts goes to the store.
func (s *Store) ListAttempts(ctx context.Context, f keyward.AttemptFilter) ([]keyward.Attempt, error) {
	return s.next.ListAttempts(ctx, f)
}

// FanOut goes to the store.
func (s *Store) FanOut(ctx context.Context, now time.Time, limit int) (int, error) {
	return s.next.FanOut(ctx, now, limit)
}

// ClaimDeliveries goes to the store.
func (s *Store) ClaimDeliveries(ctx context.Context, c keyward.DeliveryClaim) ([]keyward.Delivery, error) {
	return s.next.ClaimDeliveries(ctx, c)
}

// RecordAttempts goes to the store.
func (s *Store) RecordAttempts(ctx context.Context, records []keyward.AttemptRecord) error {
	return s.next.RecordAttempts(ctx, records)
}

// PruneEvents goes to the store.
func (s *Store) PruneEvents(ctx context.Context, p keyward.PruneParams) (keyward.PruneResult, error) {
	return s.next.PruneEvents(ctx, p)
}
