// Package useddays is the memory of the SQL stores' usage flushes of which
// key rows already hold a use of which day. A flush writes a key's row
// (last_used_at, a random page of the largest table) only at the key's first
// use of a day; the day's later uses go into the key's count rows, which the
// flush writes anyway. Standard library only.
package useddays

import (
	"sync"
	"time"
)

// Days remembers, per key whose row holds a use of day d (written by this
// process, or read by it), that day. A key row's last use only moves
// forward, so a row holding a use of day d holds a use of day d or later: a
// use of day d or before need not touch it.
//
// It is bounded: past Max keys it starts over, which costs one more row
// write per key, never a wrong answer. The zero Days is ready to use.
type Days struct {
	mu   sync.Mutex
	days map[string]int64
}

// Max bounds Days: about 20 MiB of ids.
const Max = 1 << 18

// Has reports whether the row of id is known to hold a use of day or later.
func (u *Days) Has(id string, day int64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	d, ok := u.days[id]
	return ok && d >= day
}

// Set notes that the row of id holds a use of day.
func (u *Days) Set(id string, day int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.days == nil || len(u.days) >= Max {
		u.days = make(map[string]int64)
	}
	u.days[id] = max(u.days[id], day)
}

// MsPerDay is the length of a day in milliseconds.
const MsPerDay = 24 * 60 * 60 * 1000

// Of returns t's day: whole UTC days since the Unix epoch (Unix milliseconds
// / MsPerDay, rounded down).
func Of(t time.Time) int64 {
	m := t.UnixMilli()
	d := m / MsPerDay
	if m < 0 && m%MsPerDay != 0 {
		d--
	}
	return d
}

// Start returns the first instant of day d, in UTC.
func Start(d int64) time.Time { return time.UnixMilli(d * MsPerDay).UTC() }
