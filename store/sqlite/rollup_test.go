package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/sqlite"
)

// A flush writes its counts into usage_recent; the first flush of a new
// minute moves the older minutes into usage. Every read (a key's usage, all
// keys' usage, last_used_at) gives the same answer wherever the rows are,
// and a count of an old minute written after its move is still read.
func TestUsageMovesFromRecentEachMinute(t *testing.T) {
	ctx := context.Background()
	_, s, raw := openRaw(t)
	k := createPlain(t, s, "kwrollup00001")
	m0 := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	use := func(at time.Time, n int64) {
		t.Helper()
		b := keyward.UsageBatch{
			LastUsed: map[string]time.Time{k.ID: at},
			Counts:   []keyward.UsageCount{{KeyID: k.ID, Start: at.Truncate(time.Minute), Outcome: keyward.OutcomeValid, Count: n}},
		}
		if err := s.RecordUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(table string) (n int) {
		t.Helper()
		if err := raw.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(step string, wantTotal int64, wantLast time.Time) {
		t.Helper()
		for _, q := range []keyward.UsageQuery{
			{KeyID: k.ID, From: m0, To: m0.Add(time.Hour), Bucket: time.Hour},
			{From: m0, To: m0.Add(time.Hour), Bucket: time.Hour},
		} {
			got, err := s.Usage(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, c := range got {
				total += c.Count
			}
			if total != wantTotal {
				t.Errorf("%s: usage of key %q: %d, want %d", step, q.KeyID, total, wantTotal)
			}
		}
		if got := mustGetKey(t, s, k.ID).LastUsedAt; got == nil || !got.Equal(wantLast) {
			t.Errorf("%s: last_used_at %v, want %v", step, got, wantLast)
		}
	}

	use(m0.Add(time.Second), 2)
	use(m0.Add(2*time.Second), 3)
	check("within the first minute", 5, m0.Add(2*time.Second))
	if got := rows("usage_recent"); got != 1 {
		t.Errorf("within the first minute, usage_recent holds %d rows, want 1", got)
	}

	last := m0.Add(time.Minute + 5*time.Second)
	use(last, 4) // the first flush of the next minute moves the first one
	check("after the move", 9, last)
	if got, want := rows("usage"), 1; got != want {
		t.Errorf("after the move, usage holds %d rows, want %d", got, want)
	}
	if got := rows("usage_recent"); got != 1 {
		t.Errorf("after the move, usage_recent holds %d rows, want 1 (the new minute's)", got)
	}

	use(m0.Add(30*time.Second), 1) // late: its minute was moved already
	check("a late count of a moved minute", 10, last)
	use(m0.Add(2*time.Minute), 6) // the next move adds it to the moved row
	check("after the second move", 16, m0.Add(2*time.Minute))
	var first int64
	if err := raw.QueryRow(`SELECT count FROM usage WHERE key_id = ? AND minute = ?`, k.ID, m0.Unix()).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if first != 6 {
		t.Errorf("the first minute's row in usage counts %d, want 6 (2 + 3 + the late 1)", first)
	}
}

// A minute's move is spread over flushes, a chunk of keys each, in key
// order; the reads add up the same after each of them.
func TestUsageMoveIsSpreadOverFlushes(t *testing.T) {
	ctx := context.Background()
	_, s, raw := openRaw(t)
	sqlite.SetMoveChunk(t, 10)
	m0 := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	flush := func(at time.Time, ids ...string) {
		t.Helper()
		b := keyward.UsageBatch{LastUsed: map[string]time.Time{}}
		for _, id := range ids {
			b.LastUsed[id] = at
			b.Counts = append(b.Counts, keyward.UsageCount{KeyID: id, Start: at.Truncate(time.Minute), Outcome: keyward.OutcomeValid, Count: 1})
		}
		if err := s.RecordUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	count := func(query string, args ...any) (n int64) {
		t.Helper()
		if err := raw.QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	total := func() (n int64) {
		t.Helper()
		got, err := s.Usage(ctx, keyward.UsageQuery{From: m0, To: m0.Add(time.Hour), Bucket: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got {
			n += c.Count
		}
		return n
	}
	var ids []string
	for i := range 25 {
		ids = append(ids, fmt.Sprintf("kwchunk%05d", i))
	}
	flush(m0, ids...)
	m1 := m0.Add(time.Minute)
	for step, wantMoved := range []int64{10, 20, 25, 25} {
		flush(m1.Add(time.Duration(step)*time.Second), ids[0])
		if got := count(`SELECT count(*) FROM usage WHERE minute = ?`, m0.Unix()); got != wantMoved {
			t.Errorf("flush %d of the new minute: %d rows of the old one moved, want %d", step+1, got, wantMoved)
		}
		if got := count(`SELECT count(*) FROM usage_recent WHERE minute = ?`, m0.Unix()); got != 25-wantMoved {
			t.Errorf("flush %d of the new minute: %d rows of the old one left, want %d", step+1, got, 25-wantMoved)
		}
		if got, want := total(), int64(25+step+1); got != want {
			t.Errorf("flush %d of the new minute: all keys' usage %d, want %d", step+1, got, want)
		}
	}
	var first, last string
	if err := raw.QueryRow(`SELECT min(key_id), max(key_id) FROM usage`).Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	if first != ids[0] || last != ids[24] {
		t.Errorf("moved keys from %s to %s, want %s to %s", first, last, ids[0], ids[24])
	}
}
