package server

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults of the rejection log's bound.
const (
	// rejectBurst is how many rejections of one code are logged one by one
	// in each interval.
	rejectBurst = 10
	// rejectInterval is the interval of the bound, and the longest a
	// summary line waits.
	rejectInterval = 10 * time.Second
)

// rejectLog bounds the access lines of rejected requests, so that a flood
// (an unauthenticated one, say) cannot fill the disk: in each interval, the
// first burst rejections of each code are logged one by one, and the rest
// are counted and reported in one summary line when the interval ends. The
// metrics (keyward_verifications_total) still count every one. It is safe
// for concurrent use.
type rejectLog struct {
	log      *slog.Logger
	burst    int
	interval time.Duration
	now      func() time.Time
	after    func(time.Duration, func()) // time.AfterFunc
	mu       sync.Mutex
	codes    map[string]*rejectWindow
}

type rejectWindow struct {
	start      time.Time
	logged     int    // one by one, in this window
	suppressed int    // counted, in this window
	gen        uint64 // the window's number, so a late timer ends only its own
}

func newRejectLog(log *slog.Logger) *rejectLog {
	return &rejectLog{log: log, burst: rejectBurst, interval: rejectInterval, now: time.Now,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }, codes: map[string]*rejectWindow{}}
}

// allow reports whether a rejection with code may be logged one by one;
// if not, it counts it for the summary line.
func (l *rejectLog) allow(code string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.codes[code]
	if w == nil {
		w = &rejectWindow{start: now}
		l.codes[code] = w
	}
	if now.Sub(w.start) >= l.interval {
		l.endLocked(code, w, now)
	}
	if w.logged < l.burst {
		w.logged++
		return true
	}
	w.suppressed++
	if w.suppressed == 1 {
		gen := w.gen
		l.after(w.start.Add(l.interval).Sub(now), func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if w.gen == gen {
				l.endLocked(code, w, l.now())
			}
		})
	}
	return false
}

// endLocked ends w's window at now: it writes the summary line of what it
// counted, if anything, and starts the next window.
func (l *rejectLog) endLocked(code string, w *rejectWindow, now time.Time) {
	if w.suppressed > 0 {
		l.log.LogAttrs(context.Background(), slog.LevelWarn, "rejections not logged one by one",
			slog.String("code", code), slog.Int("count", w.suppressed),
			slog.Time("since", w.start), slog.Float64("interval_s", l.interval.Seconds()))
	}
	w.start, w.logged, w.suppressed = now, 0, 0
	w.gen++
}
