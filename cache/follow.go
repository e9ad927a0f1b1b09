package cache

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// ChangeLog is the store's events outbox read in order (see
// keyward.EventStore): every key, owner and role change is written there in
// its own transaction, by whichever process made it.
type ChangeLog interface {
	EventsAfter(ctx context.Context, after int64, limit int) ([]keyward.Event, error)
	LastEventSeq(ctx context.Context) (int64, error)
}

// FollowOptions tune a [Follower]. Zero fields take the defaults.
type FollowOptions struct {
	// Interval is the time between two reads of the log (default 500 ms).
	Interval time.Duration
	// GapWait is how long a sequence number skipped in the log is waited
	// for (default 10 s): on PostgreSQL a transaction can commit after one
	// that took a higher number, or roll back and never commit.
	GapWait time.Duration
	// Batch is the most events read at once (default 1,000).
	Batch int
	// Logger gets the log's read failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock of the gap waits and of Healthy (default time.Now).
	Now func() time.Time
}

// Follower is a [Bus] that, besides what its inner bus carries, delivers
// to its subscribers (in this process) an invalidation for every change that
// the store's change log records: a key, owner record or role changed by
// another instance or by the CLI reaches this cache within about Interval,
// without Redis. Publish goes to the inner bus alone: the log already
// carries this instance's writes to the others.
//
// Healthy is false while the log cannot be read (a cache then shortens its
// TTL, as for a bus that lost its connection). Nothing is lost meanwhile:
// the next read takes up where the last one ended. It does not follow the
// inner bus's health: while Redis is down the log still carries every
// change, about Interval later than Redis would.
type Follower struct {
	inner      Bus
	log        ChangeLog
	o          FollowOptions
	subs       Subscribers
	mu         sync.Mutex // one read at a time
	positioned bool       // cursor was set from the end of the log
	cursor     int64      // every event up to it was delivered or given up on
	seen       int64      // the highest sequence number delivered
	gaps       map[int64]time.Time
	lastRead   atomic.Int64 // Unix nanoseconds of the last good read
	wall       bool         // o.Now is time.Now: a caller's reading may stand in (healthyAt)
	stop       chan struct{}
	done       sync.WaitGroup
}

var (
	_ Bus      = (*Follower)(nil)
	_ healthAt = (*Follower)(nil)
)

// maxGaps bounds the skipped sequence numbers waited for: a larger jump
// (events pruned, a sequence moved by hand) is taken as is.
const maxGaps = 10_000

// Follow returns a Follower of log around inner, positioned at the end of
// the log, and starts reading it. Close stops it. When the log cannot be
// read yet (the database is down at start), it is positioned at its first
// good read: the cache holds nothing the log could have changed before then.
func Follow(ctx context.Context, inner Bus, log ChangeLog, opts *FollowOptions) *Follower {
	var o FollowOptions
	if opts != nil {
		o = *opts
	}
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.GapWait <= 0 {
		o.GapWait = 10 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	wall := o.Now == nil
	if wall {
		o.Now = time.Now
	}
	f := &Follower{inner: inner, log: log, o: o, wall: wall, gaps: map[int64]time.Time{}, stop: make(chan struct{})}
	f.lastRead.Store(o.Now().UnixNano())
	if err := f.position(ctx); err != nil {
		o.Logger.Warn("cache: the change log cannot be read yet; changes made elsewhere wait for it", "err", err)
	}
	f.done.Add(1)
	go f.run()
	return f
}

// position puts the cursor at the end of the log, once.
func (f *Follower) position(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.positioned {
		return nil
	}
	last, err := f.log.LastEventSeq(ctx)
	if err != nil {
		return err
	}
	f.cursor, f.seen, f.positioned = last, last, true
	return nil
}

// Publish sends e on the inner bus.
func (f *Follower) Publish(ctx context.Context, e Event) error { return f.inner.Publish(ctx, e) }

// Subscribe registers fn for the inner bus's events and the log's.
func (f *Follower) Subscribe(fn func(Event)) func() {
	a, b := f.inner.Subscribe(fn), f.subs.Subscribe(fn)
	return func() { a(); b() }
}

// Healthy reports whether the log was read within the last five intervals
// (at least 2 s), whatever the inner bus's health: the log alone carries
// every change, so a cache need not shorten its TTL while Redis is down.
func (f *Follower) Healthy() bool { return f.healthyAt(f.o.Now().UnixNano()) }

// healthyAt is Healthy at now, a reading of the wall clock in Unix
// nanoseconds; a Follower on a clock of its own (FollowOptions.Now) reads
// that clock instead.
func (f *Follower) healthyAt(now int64) bool {
	if !f.wall {
		now = f.o.Now().UnixNano()
	}
	return now-f.lastRead.Load() < int64(max(5*f.o.Interval, 2*time.Second))
}

// Close stops reading the log. It does not close the inner bus.
func (f *Follower) Close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.done.Wait()
}

func (f *Follower) run() {
	defer f.done.Done()
	t := time.NewTicker(f.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(f.o.Interval, 5*time.Second))
		if err := f.Poll(ctx); err != nil {
			f.o.Logger.Warn("cache: reading the change log failed; changes made elsewhere wait for the next read", "err", err)
		}
		cancel()
	}
}

// Poll reads the log once, up to its end, and delivers what it finds. The
// Follower calls it every Interval; tests call it to read at a known point.
func (f *Follower) Poll(ctx context.Context) error {
	if err := f.position(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.o.Now()
	after := f.cursor
	for {
		events, err := f.log.EventsAfter(ctx, after, f.o.Batch)
		if err != nil {
			f.advance(now)
			return err
		}
		for _, e := range events {
			f.take(e, now)
			after = e.Seq
		}
		if len(events) < f.o.Batch {
			break
		}
	}
	f.advance(now)
	f.lastRead.Store(now.UnixNano())
	return nil
}

// take delivers e unless it was delivered before, and notes the sequence
// numbers it skips over.
func (f *Follower) take(e keyward.Event, now time.Time) {
	switch {
	case e.Seq > f.seen:
		if gap := e.Seq - f.seen - 1; gap > 0 && gap <= maxGaps {
			for s := f.seen + 1; s < e.Seq; s++ {
				f.gaps[s] = now
			}
		}
		f.seen = e.Seq
	case f.gaps[e.Seq].IsZero():
		return // read before, while an earlier gap held the cursor back
	default:
		delete(f.gaps, e.Seq)
	}
	for _, ce := range changeEvents(e) {
		f.subs.Deliver(ce)
	}
}

// advance moves the cursor to just before the oldest gap still waited for,
// giving up on those older than GapWait.
func (f *Follower) advance(now time.Time) {
	f.cursor = f.seen
	for s, at := range f.gaps {
		if now.Sub(at) >= f.o.GapWait {
			delete(f.gaps, s)
			continue
		}
		f.cursor = min(f.cursor, s-1)
	}
}

// changeData holds what changeEvents reads of an event's data.
type changeData struct {
	Key struct {
		ID string `json:"id"`
	} `json:"key"`
	ReplacedBy string `json:"replaced_by"`
	Name       string `json:"name"` // of an owner record or role
}

// changeEvents returns the cache events of a logged change: none for the
// events that change nothing cached (alerts, webhook tests).
func changeEvents(e keyward.Event) []Event {
	var d changeData
	switch e.Type {
	case keyward.EventKeyCreated, keyward.EventKeyUpdated, keyward.EventKeyRevoked, keyward.EventKeyRotated,
		keyward.EventKeyDeleted, keyward.EventKeyLeaked,
		keyward.EventOwnerUpdated, keyward.EventOwnerDeleted, keyward.EventRoleUpdated, keyward.EventRoleDeleted:
		if json.Unmarshal(e.Data, &d) != nil {
			return []Event{{Kind: Reset}} // unreadable: drop everything rather than miss it
		}
	default:
		return nil
	}
	switch {
	case e.Type == keyward.EventKeyCreated:
		return []Event{{Kind: Created, ID: d.Key.ID}}
	case e.Type == keyward.EventKeyRotated && d.ReplacedBy != "":
		return []Event{{Kind: Invalidate, ID: d.Key.ID}, {Kind: Created, ID: d.ReplacedBy}}
	case strings.HasPrefix(e.Type, "key."):
		return []Event{{Kind: Invalidate, ID: d.Key.ID}}
	case strings.HasPrefix(e.Type, "owner."):
		return []Event{{Kind: OwnerChanged, ID: d.Name}}
	default:
		return []Event{{Kind: RoleChanged, ID: d.Name}}
	}
}
