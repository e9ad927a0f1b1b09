// Package webhook delivers keyward's events to webhook endpoints, signed as
// the Standard Webhooks specification (v1) says: a POST of
// {"id", "type", "timestamp", "data"} with the headers webhook-id (the
// event id, the same on every attempt), webhook-timestamp and
// webhook-signature ("v1,<base64 HMAC-SHA256 of id.timestamp.body>", keyed
// by the endpoint's secret).
//
// A [Dispatcher] works from the store's outbox (see [keyward.EventStore]):
// it fans new events out into deliveries, claims the due ones, sends them
// and records every attempt. Events are written in the transaction of the
// change that causes them, and a delivery is done only once its success
// (2xx) is recorded, so a crash or a restart loses nothing: deliveries are
// at least once, and receivers drop repeats by webhook-id. Failed attempts
// are retried after about 5 s, 30 s, 2 min, 10 min, 1 h, then every 4 h,
// until GiveUpAfter (24 h) after the first attempt.
//
// Several dispatchers (instances of keyward serve) may share one database:
// each event is fanned out once and each delivery is held by one dispatcher
// at a time, under a lease that another dispatcher takes over if the holder
// dies. Within a dispatcher, sends run in their own goroutines with bounded
// concurrency per endpoint and in all: a slow or dead endpoint delays its
// own deliveries only, never the writes that produce events (they insert
// rows) nor verification.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// Store is what a Dispatcher needs of a keyward store (every keyward.Store
// has it).
type Store interface {
	FanOut(ctx context.Context, now time.Time, limit int) (int, error)
	ClaimDeliveries(ctx context.Context, c keyward.DeliveryClaim) ([]keyward.Delivery, error)
	RecordAttempts(ctx context.Context, records []keyward.AttemptRecord) error
	PruneEvents(ctx context.Context, p keyward.PruneParams) (keyward.PruneResult, error)
}

// Options tunes a [Dispatcher]. The zero value (or nil) gives the defaults.
type Options struct {
	// Client sends the deliveries; nil means a client that follows no
	// redirect (a 3xx is a failure) and keeps PerEndpoint connections per
	// host. Every request is bounded by Timeout whatever the client's own.
	Client *http.Client
	// Now is the clock; nil means time.Now. Tests move their own.
	Now func() time.Time
	// Timeout of one attempt; 0 means 10s.
	Timeout time.Duration
	// PerEndpoint is the most concurrent sends to one endpoint; 0 means 4.
	PerEndpoint int
	// Concurrency is the most concurrent sends in all; 0 means 32.
	Concurrency int
	// PollInterval is how often the store is checked for work when nothing
	// wakes the dispatcher (events written by other processes, retries
	// coming due); 0 means 1s.
	PollInterval time.Duration
	// WakeDelay is how long the running dispatcher waits after a Wake
	// before it looks for work, so that a burst of writes is fanned out and
	// claimed in a few transactions rather than one per write; 0 means
	// 20ms.
	WakeDelay time.Duration
	// Lease is how long a claimed delivery stays with this dispatcher
	// before another may take it over (after a crash, the delay before its
	// deliveries resume); 0 means 5 min. It must exceed the longest time a
	// claimed delivery waits and is sent: 8 timeouts (a dispatcher holds at
	// most 8*PerEndpoint deliveries of one endpoint).
	Lease time.Duration
	// Retention is how long finished deliveries, their attempts and their
	// events are kept; 0 means 7 days.
	Retention time.Duration
	// DedupeRetention is how long the dedupe keys of events that fire once
	// (key.expiring, credits_exhausted) are kept; 0 means 35 days (longer
	// than a monthly refill period). An expiry warning window longer than
	// that would warn twice.
	DedupeRetention time.Duration
	// PruneInterval is how often the running dispatcher prunes; 0 means 1h.
	PruneInterval time.Duration
	// Logger receives errors of background work; nil discards them.
	Logger *slog.Logger
}

// Dispatcher delivers the events of a store. It is safe for concurrent use.
// Create it with [New], run it with [Dispatcher.Start] (or drive it with
// [Dispatcher.RunOnce]) and stop it with [Dispatcher.Close].
type Dispatcher struct {
	store   Store
	client  *http.Client
	now     func() time.Time
	log     *slog.Logger
	timeout time.Duration
	per     int // PerEndpoint
	backlog int // most claimed deliveries per endpoint before claiming more for it
	most    int // most claimed deliveries in all
	poll    time.Duration
	settle  time.Duration // WakeDelay
	lease   time.Duration
	keep    time.Duration
	dedupe  time.Duration
	pruneIv time.Duration

	ctx    context.Context // canceled by Close when it gives up waiting
	cancel context.CancelFunc
	sem    chan struct{} // Concurrency
	wake   chan struct{} // Wake: events were written
	freed  chan struct{} // the recorder freed room for more claims
	quit   chan struct{}
	loop   chan struct{} // closed when the loop ends; nil until Start
	start  sync.Once
	closed atomic.Bool

	mu        sync.Mutex
	idle      *sync.Cond               // signalled when claimed drops
	claimed   int                      // claimed, not yet recorded
	inflight  map[string]int           // claimed, not yet recorded, per endpoint
	endpoints map[string]chan struct{} // PerEndpoint semaphores
	health    map[string]*health       // endpoints that failed lately
	pending   []pendingRecord          // sent, not yet recorded
	recWake   chan struct{}            // something is pending
	recQuit   chan struct{}            // closed by Close after the loop ended
	recDone   chan struct{}            // closed when the recorder ends
	instance  string                   // this dispatcher's part of claim tokens
	seq       atomic.Uint64            // claim tokens
	stats     struct{ attempts, succeeded, failed, gaveUp atomic.Uint64 }
	lastPrune time.Time // of the loop; guarded by its goroutine
}

// pendingRecord is a finished attempt waiting to be written, or a delivery
// given back unsent (rec nil) when the dispatcher stops.
type pendingRecord struct {
	webhook string
	rec     *keyward.AttemptRecord
}

// New returns a Dispatcher of store's events. It starts only the goroutine
// that records attempts; call Start to deliver in the background.
func New(store Store, opts *Options) *Dispatcher {
	if opts == nil {
		opts = &Options{}
	}
	or := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	d := &Dispatcher{
		store: store, client: opts.Client, now: opts.Now, log: opts.Logger,
		timeout: or(opts.Timeout, 10*time.Second), per: opts.PerEndpoint,
		poll: or(opts.PollInterval, time.Second), settle: or(opts.WakeDelay, 20*time.Millisecond),
		lease: or(opts.Lease, 5*time.Minute),
		keep:  or(opts.Retention, 7*24*time.Hour), dedupe: or(opts.DedupeRetention, 35*24*time.Hour),
		pruneIv: or(opts.PruneInterval, time.Hour),
		wake:    make(chan struct{}, 1), freed: make(chan struct{}, 1), quit: make(chan struct{}), recWake: make(chan struct{}, 1), recQuit: make(chan struct{}), recDone: make(chan struct{}),
		inflight: map[string]int{}, endpoints: map[string]chan struct{}{}, health: map[string]*health{},
	}
	if d.per <= 0 {
		d.per = 4
	}
	concurrency := opts.Concurrency
	if concurrency <= 0 {
		concurrency = 32
	}
	// An endpoint is skipped by claims while it has backlog deliveries
	// claimed, and a claim takes at most backlog of it: at most 2*backlog
	// (8*PerEndpoint) wait here, which Lease must cover.
	d.sem, d.backlog, d.most = make(chan struct{}, concurrency), 4*d.per, 2*concurrency
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = d.per
		d.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	d.instance = hex.EncodeToString(b[:])
	d.idle = sync.NewCond(&d.mu)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	go d.recordLoop()
	return d
}

// Start runs the dispatcher in the background until Close: it fans out and
// delivers whenever woken ([Dispatcher.Wake]) and every PollInterval, and
// prunes every PruneInterval. Calling it again does nothing.
func (d *Dispatcher) Start() {
	d.start.Do(func() {
		d.loop = make(chan struct{})
		go d.run()
	})
}

// Wake makes the running dispatcher look for work now (keyward.Options.
// OnEvents calls it when this process wrote events). It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Stats counts the attempts made since the dispatcher started.
type Stats struct {
	// Attempts = Succeeded + Failed; GaveUp counts the failures that ended
	// a delivery.
	Attempts, Succeeded, Failed, GaveUp uint64
}

// Stats returns the dispatcher's counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{d.stats.attempts.Load(), d.stats.succeeded.Load(), d.stats.failed.Load(), d.stats.gaveUp.Load()}
}

// run is the background loop of Start.
func (d *Dispatcher) run() {
	defer close(d.loop)
	t := time.NewTicker(d.poll)
	defer t.Stop()
	fresh := true // new events may be waiting to be fanned out
	for {
		if err := d.pass(d.ctx, fresh); err != nil && d.ctx.Err() == nil {
			d.log.Error("webhook dispatcher", "err", err)
		}
		fresh = true
		if now := d.now(); now.Sub(d.lastPrune) >= d.pruneIv {
			d.lastPrune = now
			if _, err := d.Prune(d.ctx); err != nil && d.ctx.Err() == nil {
				d.log.Error("pruning the webhook delivery log", "err", err)
			}
		}
		select {
		case <-d.wake:
			select { // let a burst of writes gather
			case <-time.After(d.settle):
			case <-d.quit:
				return
			}
		case <-d.freed:
			fresh = false // room for claims; no new events
		case <-t.C:
		case <-d.quit:
			return
		}
	}
}

// pass fans out the new events (if fresh) and claims due deliveries while
// there is room; the sends go on in the background.
func (d *Dispatcher) pass(ctx context.Context, fresh bool) error {
	if fresh {
		if err := d.fanOut(ctx); err != nil {
			return err
		}
	}
	for {
		n, err := d.claim(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

// fanOutBatch is the most events one FanOut takes.
const fanOutBatch = 500

// fanOut fans out every new event.
func (d *Dispatcher) fanOut(ctx context.Context) error {
	for {
		n, err := d.store.FanOut(ctx, d.now(), fanOutBatch)
		if err != nil {
			return fmt.Errorf("webhook: fanning out events: %w", err)
		}
		if n < fanOutBatch {
			return nil
		}
	}
}

// claim claims due deliveries, as many as there is room for, and starts
// sending them. It returns how many it claimed.
func (d *Dispatcher) claim(ctx context.Context) (int, error) {
	now := d.now()
	d.mu.Lock()
	room := d.most - d.claimed
	var skip []string
	for id, n := range d.inflight {
		if n >= d.backlog {
			skip = append(skip, id)
		}
	}
	for id, h := range d.health {
		if h.until.After(now) {
			skip = append(skip, id)
		}
	}
	d.mu.Unlock()
	if room <= 0 || d.closed.Load() {
		return 0, nil
	}
	token := fmt.Sprintf("%s-%d", d.instance, d.seq.Add(1))
	ds, err := d.store.ClaimDeliveries(ctx, keyward.DeliveryClaim{
		Now: now, Until: now.Add(d.lease), Token: token, PerWebhook: d.backlog, Limit: room, Skip: skip,
	})
	if err != nil {
		return 0, fmt.Errorf("webhook: claiming deliveries: %w", err)
	}
	d.mu.Lock()
	for _, del := range ds {
		d.claimed++
		d.inflight[del.WebhookID]++
	}
	d.mu.Unlock()
	for i := range ds {
		go d.deliver(&ds[i], token)
	}
	return len(ds), nil
}

// endpointSem returns the semaphore of an endpoint.
func (d *Dispatcher) endpointSem(id string) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	sem, ok := d.endpoints[id]
	if !ok {
		sem = make(chan struct{}, d.per)
		d.endpoints[id] = sem
	}
	return sem
}

// deliver sends del within the concurrency bounds and queues its record.
func (d *Dispatcher) deliver(del *keyward.Delivery, token string) {
	p := pendingRecord{webhook: del.WebhookID}
	defer func() { d.queue(p) }()
	sem := d.endpointSem(del.WebhookID)
	select { // the endpoint's slot first: a slow endpoint holds none of the others'
	case sem <- struct{}{}:
	case <-d.ctx.Done():
		return
	}
	defer func() { <-sem }()
	select {
	case d.sem <- struct{}{}:
	case <-d.ctx.Done():
		return
	}
	defer func() { <-d.sem }()
	rec := d.send(d.ctx, del, token)
	if d.ctx.Err() != nil {
		return // stopped mid-send: the lease runs out and the delivery is tried again
	}
	d.observe(del.WebhookID, rec)
	p.rec = &rec
}

// health is the recent failures of an endpoint.
type health struct {
	fails int       // in a row
	until time.Time // no claims for the endpoint before then
}

// maxPause is the longest an endpoint that keeps failing is left alone: no
// delivery waits more than this beyond its retry schedule (whose second
// wait is 30 s), and a new event to an endpoint that is down is tried
// within it.
const maxPause = 30 * time.Second

// observe pauses claims for an endpoint that seems down (no answer, 429 or
// 5xx), for 5 s after its first failure, doubling with each failure after
// a pause up to maxPause, so that a dead endpoint's backlog costs one
// attempt per pause, not one per delivery; each delivery still keeps its
// own retry schedule. A success ends the pause.
func (d *Dispatcher) observe(webhook string, rec keyward.AttemptRecord) {
	down := rec.Status == 0 || rec.Status == http.StatusTooManyRequests || rec.Status >= 500
	d.mu.Lock()
	defer d.mu.Unlock()
	if rec.Error == "" || !down {
		delete(d.health, webhook)
		return
	}
	h := d.health[webhook]
	if h == nil {
		h = &health{}
		d.health[webhook] = h
	}
	if h.fails > 0 && rec.At.Before(h.until) {
		return // a send that began before the pause: it says nothing new
	}
	h.fails++
	h.until = rec.At.Add(min(5*time.Second<<min(h.fails-1, 10), maxPause))
}

// queue hands a finished attempt to the recorder.
func (d *Dispatcher) queue(p pendingRecord) {
	d.mu.Lock()
	d.pending = append(d.pending, p)
	d.mu.Unlock()
	select {
	case d.recWake <- struct{}{}:
	default:
	}
}

// recordBatch is the most attempts one RecordAttempts writes.
const recordBatch = 500

// recordLoop writes finished attempts in batches until Close, and then
// until every claimed delivery is accounted for.
func (d *Dispatcher) recordLoop() {
	defer close(d.recDone)
	quitting := false
	for {
		if quitting {
			d.mu.Lock()
			done := d.claimed == 0 && len(d.pending) == 0
			d.mu.Unlock()
			if done {
				return
			}
			<-d.recWake // the sends left were canceled: they queue at once
		} else {
			select {
			case <-d.recWake:
			case <-d.recQuit:
				quitting = true
				continue
			}
		}
		d.mu.Lock()
		batch := d.pending
		d.pending = nil
		d.mu.Unlock()
		d.record(batch)
	}
}

// record writes batch and frees the room its deliveries held.
func (d *Dispatcher) record(batch []pendingRecord) {
	recs := make([]keyward.AttemptRecord, 0, len(batch))
	for _, p := range batch {
		if p.rec != nil {
			recs = append(recs, *p.rec)
		}
	}
	for len(recs) > 0 {
		chunk := recs[:min(len(recs), recordBatch)]
		recs = recs[len(chunk):]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := d.store.RecordAttempts(ctx, chunk); err != nil {
			// The deliveries stay claimed until their leases end, then are
			// tried again: at least once, never lost.
			d.log.Error("recording webhook attempts", "err", err, "attempts", len(chunk))
		}
		cancel()
	}
	d.mu.Lock()
	for _, p := range batch {
		d.claimed--
		if d.inflight[p.webhook]--; d.inflight[p.webhook] <= 0 {
			delete(d.inflight, p.webhook)
		}
	}
	d.idle.Broadcast()
	d.mu.Unlock()
	select {
	case d.freed <- struct{}{}:
	default:
	}
}

// RunOnce fans out the new events and makes every delivery that is due now
// (by Options.Now), waiting for each attempt to be recorded, then returns
// the number of attempts made. Tests drive a dispatcher with it, moving
// their clock between calls; it works alongside Start too.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	before := d.stats.attempts.Load()
	if err := d.fanOut(ctx); err != nil {
		return 0, err
	}
	for {
		n, err := d.claim(ctx)
		if err != nil {
			return int(d.stats.attempts.Load() - before), err
		}
		d.waitIdle()
		if n == 0 {
			return int(d.stats.attempts.Load() - before), nil
		}
	}
}

// waitIdle waits until every claimed delivery is recorded.
func (d *Dispatcher) waitIdle() {
	d.mu.Lock()
	for d.claimed > 0 {
		d.idle.Wait()
	}
	d.mu.Unlock()
}

// Prune deletes the finished deliveries, attempts and events older than
// Options.Retention, and the dedupe keys older than DedupeRetention (see
// [keyward.EventStore.PruneEvents]). The running dispatcher calls it every
// PruneInterval.
func (d *Dispatcher) Prune(ctx context.Context) (keyward.PruneResult, error) {
	now := d.now()
	res, err := d.store.PruneEvents(ctx, keyward.PruneParams{Before: now.Add(-d.keep), DedupeBefore: now.Add(-d.dedupe)})
	if err != nil {
		return res, fmt.Errorf("webhook: pruning: %w", err)
	}
	return res, nil
}

// Close stops the dispatcher: it claims nothing more, waits for the sends
// under way to finish and be recorded (until ctx ends; then it abandons
// them, and their leases let a dispatcher retry them later), and stops its
// goroutines. It does not close the store.
func (d *Dispatcher) Close(ctx context.Context) error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	idle := make(chan struct{})
	go func() { d.waitIdle(); close(idle) }()
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = fmt.Errorf("webhook: closing: %w", ctx.Err())
	}
	d.cancel()
	close(d.quit)
	if d.loop != nil {
		<-d.loop
	}
	close(d.recQuit)
	<-d.recDone
	return err
}

// Every keyward.Store has what a Dispatcher needs.
var _ Store = keyward.Store(nil)
