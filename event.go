package keyward

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// Event types: what webhook endpoints subscribe to (see [Webhook]).
const (
	// EventKeyCreated, EventKeyUpdated, EventKeyRevoked, EventKeyRotated and
	// EventKeyDeleted follow the admin change, written in its transaction:
	// data {"key": <key object>, "actor": "..."}; key.rotated also has
	// "replaced_by", the successor's id.
	EventKeyCreated = "key.created"
	EventKeyUpdated = "key.updated"
	EventKeyRevoked = "key.revoked"
	EventKeyRotated = "key.rotated"
	EventKeyDeleted = "key.deleted"
	// EventKeyExpiring fires once per key and expiry time, when expires_at
	// comes within the warning window ([Service.WarnExpiring]): data
	// {"key", "expires_at"}.
	EventKeyExpiring = "key.expiring"
	// EventKeyCreditsExhausted and EventOwnerCreditsExhausted fire on the
	// first USAGE_EXCEEDED since the last refill or update (a top-up is an
	// update): data {"key"} / {"owner"}.
	EventKeyCreditsExhausted   = "key.credits_exhausted"
	EventOwnerCreditsExhausted = "owner.credits_exhausted"
	// EventKeyLeaked fires when a leak report matched a live key: data
	// {"key", "source", "url", "action"}.
	EventKeyLeaked = "key.leaked"
	// EventOwnerUpdated (a put or a patch), EventOwnerDeleted,
	// EventRoleUpdated and EventRoleDeleted follow the change: data is the
	// record.
	EventOwnerUpdated = "owner.updated"
	EventOwnerDeleted = "owner.deleted"
	EventRoleUpdated  = "role.updated"
	EventRoleDeleted  = "role.deleted"
	// EventWebhookTest is queued on request for one endpoint: data {}.
	EventWebhookTest = "webhook.test"
)

// EventTypes returns every event type, in the contract's order.
func EventTypes() []string {
	return []string{
		EventKeyCreated, EventKeyUpdated, EventKeyRevoked, EventKeyRotated, EventKeyDeleted,
		EventKeyExpiring, EventKeyCreditsExhausted, EventOwnerCreditsExhausted, EventKeyLeaked,
		EventOwnerUpdated, EventOwnerDeleted, EventRoleUpdated, EventRoleDeleted, EventWebhookTest,
	}
}

// validEventType reports whether t is one of [EventTypes].
func validEventType(t string) bool {
	for _, x := range EventTypes() {
		if x == t {
			return true
		}
	}
	return false
}

// EventIDPrefix starts every event id.
const EventIDPrefix = "evt_"

// eventIDLength is the number of base62 characters after EventIDPrefix
// (about 131 random bits).
const eventIDLength = 22

// Event is something that happened, for webhook endpoints. Its JSON is the
// body of every delivery: {"id", "type", "timestamp", "data"}. Events are
// written to the store's outbox in the transaction of the change that causes
// them (see [AuditEntry].Events) or with [Store.AppendEvents], and a
// dispatcher (package webhook) delivers them. Data never holds a secret or
// a hash.
type Event struct {
	// ID is EventIDPrefix and random base62: the webhook-id of every
	// delivery of the event.
	ID   string          `json:"id"`
	Type string          `json:"type"`
	At   time.Time       `json:"timestamp"`
	Data json.RawMessage `json:"data"`
	// Dedupe, if not "", makes [Store.AppendEvents] skip the event when an
	// event with the same Dedupe was stored before.
	Dedupe string `json:"-"`
	// Webhook, if not "", sends the event to that endpoint only, whatever
	// its filter (webhook.test).
	Webhook string `json:"-"`
	// Seq is the event's place in the outbox, set by a store that reads it
	// back ([EventStore.EventsAfter]); ignored on writes.
	Seq int64 `json:"-"`
}

// NewEventID returns a fresh random event id.
func NewEventID() (string, error) {
	var buf [eventIDLength]byte
	if err := randomBase62(rand.Reader, buf[:]); err != nil {
		return "", err
	}
	return EventIDPrefix + string(buf[:]), nil
}

// newEvent returns an event of type typ at the Service's now, with data
// marshalled to JSON.
func (s *Service) newEvent(typ string, data any) (Event, error) {
	id, err := NewEventID()
	if err != nil {
		return Event{}, err
	}
	b, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("keyward: event %s: %w", typ, err)
	}
	return Event{ID: id, Type: typ, At: s.Now(), Data: b}, nil
}

// EventKey is a key as events show it: the key object of the API, with its
// status. It never holds the hash.
type EventKey struct {
	*Key
	Status Status `json:"status"`
}

// keyChange is the data of the key.* events of admin changes.
type keyChange struct {
	Key        EventKey `json:"key"`
	Actor      string   `json:"actor"`
	ReplacedBy string   `json:"replaced_by,omitempty"`
}

// keyAlert is the data of key.expiring and key.credits_exhausted.
type keyAlert struct {
	Key       EventKey   `json:"key"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// eventOwner is an owner record as events show it: the stored fields,
// without key_count (a count the store computes on reads, not part of the
// record).
type eventOwner struct {
	*Owner
	KeyCount *int64 `json:"key_count,omitempty"` // shadows Owner.KeyCount: always nil
}

// eventKey shows k as users see it (see Service.view), with its status now.
func (s *Service) eventKey(k *Key) EventKey {
	v := s.view(k)
	return EventKey{Key: v, Status: v.Status(s.Now())}
}

// keyEvent returns the event of an admin change of k by the actor in ctx.
func (s *Service) keyEvent(ctx context.Context, typ string, k *Key, replacedBy string) (Event, error) {
	return s.newEvent(typ, keyChange{Key: s.eventKey(k), Actor: ActorFromContext(ctx).ID, ReplacedBy: replacedBy})
}

// withEvent attaches the event to a and returns a, or the error of making
// the event.
func withEvent(a *AuditEntry, e Event, err error) (*AuditEntry, error) {
	if err != nil {
		return nil, err
	}
	a.Events = append(a.Events, e)
	return a, nil
}
