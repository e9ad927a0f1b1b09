package keyward

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultExpiryWarning is how long before a key expires key.expiring fires,
// unless Options.ExpiryWarning says otherwise.
const DefaultExpiryWarning = 72 * time.Hour

const (
	// alertBuffer is how many credit alerts may wait for the store; when it
	// is full, new ones are dropped (and counted), never waited for.
	alertBuffer = 256
	// alertBatch is the most alerts written in one AppendEvents.
	alertBatch = 64
	// maxAlertMemo bounds the memory of alerts already queued; past it the
	// memo starts over (the store's dedupe keeps repeats out).
	maxAlertMemo = 100_000
	// expiringPage is the page size of WarnExpiring's reads.
	expiringPage = 500
)

// eventState holds the Service's event work that is not an admin write:
// credit alerts, queued by Verify and written by a goroutine, and expiry
// warnings.
type eventState struct {
	svc      *Service
	onEvents func()
	warning  time.Duration // <0: no expiry warnings

	alerts  chan creditAlert
	dropped atomic.Uint64
	mu      sync.Mutex
	sent    map[alertKey]struct{} // alerts queued or stored; guarded by mu

	expMu  sync.Mutex           // one WarnExpiring at a time
	warned map[string]time.Time // dedupe key → expiry of key.expiring stored; guarded by expMu

	quit     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// alertKey identifies one credits_exhausted event: the record, the version
// of its settings (UpdatedAt) and the refill period.
type alertKey struct {
	typ, id         string
	updated, period int64
}

// dedupe is the event's Dedupe: "<type>:<id>:<UpdatedAt ms>:<period ms>".
func (k alertKey) dedupe() string {
	return fmt.Sprintf("%s:%s:%d:%d", k.typ, k.id, k.updated, k.period)
}

// creditAlert is a queued credits_exhausted event.
type creditAlert struct {
	key  alertKey
	k    *Key   // for key.credits_exhausted
	o    *Owner // for owner.credits_exhausted
	left int64  // the credits left that the refusal saw (the record may be older)
}

// startEvents sets up the event work of s and starts its goroutines.
func (s *Service) startEvents(opts *Options) *eventState {
	e := &eventState{
		svc: s, onEvents: opts.OnEvents, warning: opts.ExpiryWarning,
		alerts: make(chan creditAlert, alertBuffer), sent: map[alertKey]struct{}{},
		warned: map[string]time.Time{}, quit: make(chan struct{}),
	}
	if e.warning == 0 {
		e.warning = DefaultExpiryWarning
	}
	e.wg.Add(1)
	go e.alertLoop()
	if iv := opts.ExpiryCheckInterval; iv > 0 && e.warning > 0 {
		e.wg.Add(1)
		go e.expiryLoop(iv)
	}
	return e
}

// stop ends the goroutines, writing the alerts already queued.
func (e *eventState) stop() {
	e.stopOnce.Do(func() { close(e.quit) })
	e.wg.Wait()
}

// notifyEvents tells Options.OnEvents that events were stored.
func (s *Service) notifyEvents() {
	if f := s.events.onEvents; f != nil {
		f()
	}
}

// DroppedAlerts returns how many credits_exhausted events were dropped
// because the queue to the store was full (the store was slow or down).
func (s *Service) DroppedAlerts() uint64 { return s.events.dropped.Load() }

// creditsExhausted queues credits_exhausted events for the key and the
// owner whose credits were short of cost, unless already queued for the
// same settings and refill period. It never blocks: Verify calls it.
//
// The event fires on the first refusal after a refill (a new refill period)
// or after any update of the record (a top-up is one; so is any other
// change, which re-arms it too).
func (e *eventState) creditsExhausted(k *Key, o *Owner, bal CreditBalance, cost int64, now time.Time) {
	if bal.Key >= 0 && bal.Key < cost {
		e.queue(creditAlert{key: alertKey{EventKeyCreditsExhausted, k.ID, k.UpdatedAt.UnixMilli(), periodOf(k.Refill, k.RefilledAt, now)}, k: k, left: bal.Key})
	}
	if o != nil && bal.Owner >= 0 && bal.Owner < cost {
		e.queue(creditAlert{key: alertKey{EventOwnerCreditsExhausted, o.Name, o.UpdatedAt.UnixMilli(), periodOf(o.Refill, o.RefilledAt, now)}, o: o, left: bal.Owner})
	}
}

// periodOf identifies the credits' current refill period: its start (a
// cached record may not show the latest refill, the clock always does), or
// the last refill's for credits without one, 0 if none.
func periodOf(r *Refill, refilledAt *time.Time, now time.Time) int64 {
	switch {
	case r != nil:
		return refillPeriodStart(r.Interval, now).UnixMilli()
	case refilledAt != nil:
		return refilledAt.UnixMilli()
	}
	return 0
}

// queue hands a to the alert goroutine unless it was queued before.
func (e *eventState) queue(a creditAlert) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sent[a.key]; ok {
		return
	}
	select {
	case e.alerts <- a:
		if len(e.sent) >= maxAlertMemo {
			clear(e.sent)
		}
		e.sent[a.key] = struct{}{}
	default:
		e.dropped.Add(1)
	}
}

// alertLoop writes queued alerts in batches until stop.
func (e *eventState) alertLoop() {
	defer e.wg.Done()
	batch := make([]creditAlert, 0, alertBatch)
	for {
		select {
		case a := <-e.alerts:
			batch = append(batch[:0], a)
		more:
			for len(batch) < alertBatch {
				select {
				case a := <-e.alerts:
					batch = append(batch, a)
				default:
					break more
				}
			}
			e.writeAlerts(batch)
		case <-e.quit:
			for {
				batch = batch[:0]
				for len(batch) < alertBatch && len(e.alerts) > 0 {
					batch = append(batch, <-e.alerts)
				}
				if len(batch) == 0 {
					return
				}
				e.writeAlerts(batch)
			}
		}
	}
}

// writeAlerts stores the events of batch; on failure it forgets them, so
// that the next refusal queues them again.
func (e *eventState) writeAlerts(batch []creditAlert) {
	s := e.svc
	events := make([]Event, 0, len(batch))
	for _, a := range batch {
		var data any
		if a.k != nil {
			ek := s.eventKey(a.k)
			ek.Remaining = Ptr(a.left)
			data = keyAlert{Key: ek}
		} else {
			o := s.ownerView(a.o)
			o.Remaining = Ptr(a.left)
			data = struct {
				Owner eventOwner `json:"owner"`
			}{eventOwner{Owner: o}}
		}
		ev, err := s.newEvent(a.key.typ, data)
		if err != nil {
			s.log.Error("credits alert", "err", err)
			continue
		}
		ev.Dedupe = a.key.dedupe()
		events = append(events, ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := s.store.AppendEvents(ctx, events)
	if err != nil {
		s.log.Error("storing credits alerts", "err", err)
		e.mu.Lock()
		for _, a := range batch {
			delete(e.sent, a.key)
		}
		e.mu.Unlock()
		return
	}
	if n > 0 {
		s.notifyEvents()
	}
}

// expiryLoop calls WarnExpiring every iv until stop.
func (e *eventState) expiryLoop(iv time.Duration) {
	defer e.wg.Done()
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), iv)
		if _, err := e.warnExpiring(ctx); err != nil {
			e.svc.log.Error("expiry warnings", "err", err)
		}
		cancel()
		select {
		case <-t.C:
		case <-e.quit:
			return
		}
	}
}

// WarnExpiring emits key.expiring for every key that is not revoked nor
// rotated (a rotated key's expiry is its grace period, set on purpose) and
// expires within the warning window (Options.ExpiryWarning) from now, once
// per key and expiry time: the store's dedupe keeps repeats out across
// restarts and instances, and the Service remembers what it stored so that
// repeated calls write nothing. It returns how many events it stored. Call
// it every minute or so, or set Options.ExpiryCheckInterval.
func (s *Service) WarnExpiring(ctx context.Context) (int, error) { return s.events.warnExpiring(ctx) }

// warnExpiring is WarnExpiring. It reads the Service's state through e,
// never through s.events: expiryLoop runs it while New is still setting
// that field.
func (e *eventState) warnExpiring(ctx context.Context) (int, error) {
	s := e.svc
	if e.warning < 0 {
		return 0, nil
	}
	e.expMu.Lock()
	defer e.expMu.Unlock()
	now := s.Now()
	for d, exp := range e.warned {
		if !exp.After(now) {
			delete(e.warned, d)
		}
	}
	f := ExpiringFilter{From: now, To: now.Add(e.warning), Limit: expiringPage}
	total := 0
	for {
		keys, err := s.store.ListExpiring(ctx, f)
		if err != nil {
			return total, fmt.Errorf("keyward: listing expiring keys: %w", err)
		}
		var events []Event
		var expires []time.Time
		for _, k := range keys {
			d := fmt.Sprintf("%s:%s:%d", EventKeyExpiring, k.ID, k.ExpiresAt.UnixMilli())
			if _, done := e.warned[d]; done || k.ReplacedBy != nil {
				continue
			}
			ev, err := s.newEvent(EventKeyExpiring, keyAlert{Key: s.eventKey(k), ExpiresAt: k.ExpiresAt})
			if err != nil {
				return total, err
			}
			ev.Dedupe = d
			events, expires = append(events, ev), append(expires, *k.ExpiresAt)
		}
		if len(events) > 0 {
			n, err := s.store.AppendEvents(ctx, events)
			if err != nil {
				return total, fmt.Errorf("keyward: storing expiry warnings: %w", err)
			}
			total += n
			for i, ev := range events {
				e.warned[ev.Dedupe] = expires[i]
			}
		}
		if len(keys) < f.Limit {
			break
		}
		last := keys[len(keys)-1]
		f.After = &ExpiringCursor{ExpiresAt: *last.ExpiresAt, ID: last.ID}
	}
	if f := e.onEvents; total > 0 && f != nil {
		f()
	}
	return total, nil
}
