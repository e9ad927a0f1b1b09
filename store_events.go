package keyward

import (
	"context"
	"time"
)

// EventStore is the part of [Store] that keeps events, webhook endpoints and
// deliveries. Events reach the outbox with the audit entry of the change
// that causes them ([AuditEntry].Events) or through AppendEvents; a
// dispatcher (package webhook) fans each event out into one delivery per
// matching endpoint, claims due deliveries, records every attempt and prunes
// what is finished. Several dispatchers, in any number of processes, may
// share one store: each event is fanned out once and each delivery is held
// by one claimer at a time.
type EventStore interface {
	// AppendEvents writes events to the outbox in one transaction, skipping
	// those whose Dedupe is not "" and was stored before (by any process),
	// and returns how many it wrote. Dedupe keys are kept after their events
	// are delivered, until PruneEvents removes them.
	AppendEvents(ctx context.Context, events []Event) (inserted int, err error)

	// ListExpiring returns at most f.Limit keys that are not revoked and
	// whose ExpiresAt is after f.From and at or before f.To, by ExpiresAt
	// then ID, starting after f.After. It is index-backed.
	ListExpiring(ctx context.Context, f ExpiringFilter) ([]*Key, error)

	// CreateWebhook inserts the endpoint w with its signing secret and
	// appends a (if not nil) in one transaction. Returns ErrConflict if an
	// endpoint has w.ID.
	CreateWebhook(ctx context.Context, w *Webhook, secret string, a *AuditEntry) error

	// GetWebhook returns the endpoint (never its secret), or ErrNotFound.
	GetWebhook(ctx context.Context, id string) (*Webhook, error)

	// ListWebhooks returns every endpoint, by CreatedAt then ID.
	ListWebhooks(ctx context.Context) ([]*Webhook, error)

	// UpdateWebhook is [Store.Update] for endpoints: fn changes a private
	// copy, written with fn's audit entry in one transaction; ErrNoChange
	// writes nothing and returns the current endpoint; any other error of fn
	// is returned as is. The secret stays. Returns ErrNotFound.
	UpdateWebhook(ctx context.Context, id string, fn func(w *Webhook) (*AuditEntry, error)) (*Webhook, error)

	// DeleteWebhook deletes the endpoint, its deliveries and its attempts,
	// and appends a (if not nil), in one transaction. Returns ErrNotFound.
	DeleteWebhook(ctx context.Context, id string, a *AuditEntry) error

	// ListAttempts returns at most f.Limit delivery attempts to endpoint
	// f.Webhook, newest first (by descending ID), with ID below f.Before
	// when it is not 0.
	ListAttempts(ctx context.Context, f AttemptFilter) ([]Attempt, error)

	// FanOut takes at most limit events that were not fanned out yet,
	// oldest first, creates for each one delivery per endpoint that is
	// enabled and subscribes to its type (or only for its Webhook, when
	// set), due at now, and marks the events fanned out, in one
	// transaction. Concurrent callers (in any process) never fan out an
	// event twice. Returns how many events it took.
	FanOut(ctx context.Context, now time.Time, limit int) (int, error)

	// EventsAfter returns at most limit events of the outbox whose Seq is
	// above after, by Seq, fanned out or not, with Seq set: the change log
	// that caches follow (package cache). Seq grows with each event
	// appended; on PostgreSQL an event can become visible after one with a
	// higher Seq (its transaction committed later), and a Seq can be
	// skipped (a rolled-back transaction).
	EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error)

	// LastEventSeq returns the highest Seq of the events stored, 0 when
	// there are none.
	LastEventSeq(ctx context.Context) (int64, error)

	// ClaimDeliveries claims deliveries that are not done, are due at c.Now
	// and belong to enabled endpoints not in c.Skip: at most c.PerWebhook
	// per endpoint (earliest due first) and c.Limit in all. A claimed
	// delivery is due again at c.Until (its lease: if the claimer dies, it
	// is claimed again then) and carries c.Token, which RecordAttempts
	// checks. Concurrent claimers (in any process) never hold the same
	// delivery at once. The results carry the endpoint's URL and secret.
	ClaimDeliveries(ctx context.Context, c DeliveryClaim) ([]Delivery, error)

	// RecordAttempts stores the outcome of attempts in one transaction: for
	// each record whose delivery still carries its Token, the delivery's
	// attempt count goes up by one and it is done (r.Next nil) or due at
	// r.Next, and the attempt is added to the endpoint's log with that
	// count as its number. Records whose claim was
	// lost (the lease ran out and another claimer took the delivery, or the
	// endpoint was deleted) are skipped.
	RecordAttempts(ctx context.Context, records []AttemptRecord) error

	// PruneEvents deletes attempts made before p.Before, done deliveries
	// whose last attempt was before p.Before, deliveries not done created
	// before p.Before for endpoints that are disabled, fanned-out events
	// before p.Before that have no delivery left, and dedupe keys stored
	// before p.DedupeBefore.
	PruneEvents(ctx context.Context, p PruneParams) (PruneResult, error)
}

// ExpiringFilter selects keys for [EventStore.ListExpiring].
type ExpiringFilter struct {
	From, To time.Time
	After    *ExpiringCursor
	Limit    int
}

// ExpiringCursor is a position in [EventStore.ListExpiring] order: the last
// key of a page.
type ExpiringCursor struct {
	ExpiresAt time.Time
	ID        string
}

// DeliveryClaim is a request to [EventStore.ClaimDeliveries].
type DeliveryClaim struct {
	Now time.Time
	// Until is the end of the lease.
	Until time.Time
	// Token identifies this claim; RecordAttempts checks it.
	Token string
	// PerWebhook and Limit bound the claim per endpoint and in all.
	PerWebhook, Limit int
	// Skip names endpoints to claim nothing for (the claimer is busy with
	// them).
	Skip []string
}

// Delivery is a claimed delivery of one event to one endpoint: all that is
// needed to send it.
type Delivery struct {
	ID        int64
	Event     Event
	WebhookID string
	URL       string
	// Secret is the endpoint's signing secret ("whsec_...").
	Secret string
	// Attempts is the number of attempts made before this claim.
	Attempts int
	// FirstAttemptAt is the time of the first attempt, zero before it.
	FirstAttemptAt time.Time
	// CreatedAt is when the event was fanned out to the endpoint.
	CreatedAt time.Time
}

// AttemptRecord is the outcome of one attempt, for
// [EventStore.RecordAttempts].
type AttemptRecord struct {
	DeliveryID int64
	// Token is the claim's token.
	Token string
	// EventID and EventType are the delivered event's, for the log.
	EventID, EventType string
	At                 time.Time
	// Status is the HTTP status of the answer, 0 for none.
	Status int
	// Error says why the attempt failed, "" on success.
	Error string
	// Next is when to try again, nil when the delivery is done (it
	// succeeded, or was given up).
	Next *time.Time
}

// Attempt is one delivery attempt as the deliveries endpoint shows it.
type Attempt struct {
	// ID orders attempts; it is assigned by the store.
	ID      int64     `json:"-"`
	EventID string    `json:"event_id"`
	Type    string    `json:"type"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// Status is the HTTP status of the answer, 0 when none came.
	Status int    `json:"status"`
	Error  string `json:"error"`
	// NextAttemptAt is when the next attempt is due, null when the
	// delivery is done.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

// AttemptFilter selects attempts for [EventStore.ListAttempts].
type AttemptFilter struct {
	Webhook string
	Before  int64
	Limit   int
}

// PruneParams is a request to [EventStore.PruneEvents].
type PruneParams struct {
	Before       time.Time
	DedupeBefore time.Time
}

// PruneResult counts what [EventStore.PruneEvents] deleted.
type PruneResult struct {
	Attempts, Deliveries, Events, Dedupe int64
}
