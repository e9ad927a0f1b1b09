package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/keyward/keyward"
)

// testEventsAfter: the outbox read by sequence number, as caches follow it.
// Events come back in the order they were stored, with their data, whether
// they were fanned out or not, and paged by Seq; a change written with its
// audit entry is there too.
func testEventsAfter(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	start, err := s.LastEventSeq(ctx)
	if err != nil || start != 0 {
		t.Fatalf("LastEventSeq of an empty outbox = %d, %v; want 0, nil", start, err)
	}
	if got, err := s.EventsAfter(ctx, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("EventsAfter(0) of an empty outbox = %v, %v; want none", got, err)
	}
	first := []keyward.Event{event(t, keyward.EventKeyUpdated, base), event(t, keyward.EventRoleUpdated, base)}
	if _, err := s.AppendEvents(ctx, first); err != nil {
		t.Fatal(err)
	}
	fanOut(t, s, base) // fanned-out events are still read
	k := plain(t, "changed", base)
	a, created := withEvents(t, keyward.ActionCreate, k.ID, keyward.EventKeyCreated, base)
	if err := s.Create(ctx, k, a); err != nil {
		t.Fatal(err)
	}
	want := append(first, created)

	all, err := s.EventsAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("EventsAfter(0) returned %d events, want %d", len(all), len(want))
	}
	for i, e := range all {
		if e.ID != want[i].ID || e.Type != want[i].Type || !e.At.Equal(want[i].At) || !jsonEqual(t, e.Data, want[i].Data) {
			t.Errorf("event %d = %s %s %v %s, want %s %s %v %s", i, e.ID, e.Type, e.At, e.Data, want[i].ID, want[i].Type, want[i].At, want[i].Data)
		}
		if i > 0 && e.Seq <= all[i-1].Seq {
			t.Errorf("event %d has Seq %d after %d: want increasing", i, e.Seq, all[i-1].Seq)
		}
	}
	last, err := s.LastEventSeq(ctx)
	if err != nil || last != all[2].Seq {
		t.Errorf("LastEventSeq = %d, %v; want the newest event's %d", last, err, all[2].Seq)
	}
	page, err := s.EventsAfter(ctx, all[0].Seq, 1)
	if err != nil || len(page) != 1 || page[0].ID != all[1].ID {
		t.Errorf("EventsAfter(first's Seq, limit 1) = %v, %v; want the second event alone", eventIDs(page), err)
	}
	if rest, err := s.EventsAfter(ctx, last, 10); err != nil || len(rest) != 0 {
		t.Errorf("EventsAfter(the last Seq) = %v, %v; want none", eventIDs(rest), err)
	}
}

// jsonEqual reports whether a and b hold the same JSON value (PostgreSQL's
// jsonb does not keep the spacing).
func jsonEqual(tb testing.TB, a, b json.RawMessage) bool {
	tb.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		tb.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		tb.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
