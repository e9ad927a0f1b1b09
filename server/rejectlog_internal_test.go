package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testkit"
)

// TestRejectLogBound: per code and interval, burst lines one by one, then
// one summary line with the count of the rest, written when the interval
// ends (by its timer) or when the next rejection of that code comes after
// it.
func TestRejectLogBound(t *testing.T) {
	var buf bytes.Buffer
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var timers []func()
	l := newRejectLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	l.now = clock.Now
	l.after = func(_ time.Duration, f func()) { timers = append(timers, f) }
	count := func(code string, n int) (allowed int) {
		for range n {
			if l.allow(code) {
				allowed++
			}
		}
		return allowed
	}
	if a, b := count("MISSING", 1000), count("NOT_FOUND", 3); a != rejectBurst || b != 3 {
		t.Fatalf("allowed %d MISSING and %d NOT_FOUND, want %d and 3", a, b, rejectBurst)
	}
	if len(timers) != 1 || buf.Len() != 0 {
		t.Fatalf("%d timers armed, log %q; want one timer (MISSING), no line yet", len(timers), buf.String())
	}
	clock.Add(rejectInterval)
	timers[0]() // the interval ends: the summary
	summary := func() map[string]any {
		var m map[string]any
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		json.Unmarshal([]byte(lines[len(lines)-1]), &m)
		return m
	}
	if m := summary(); m["code"] != "MISSING" || m["count"] != float64(1000-rejectBurst) {
		t.Fatalf("summary %v, want MISSING count %d", m, 1000-rejectBurst)
	}
	// The next window: burst again; its summary comes with the first
	// rejection after it if the timer is late.
	if a := count("MISSING", rejectBurst+5); a != rejectBurst {
		t.Fatalf("allowed %d in the next window, want %d", a, rejectBurst)
	}
	clock.Add(rejectInterval)
	if !l.allow("MISSING") {
		t.Fatal("the first rejection of a new window was not allowed")
	}
	if m := summary(); m["count"] != float64(5) {
		t.Fatalf("summary %v, want count 5", m)
	}
	timers[1]() // late: its window has ended already
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines, want 2 summaries:\n%s", n, buf.String())
	}
}
