package spendgroup_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/spendgroup"
)

var errMissing = errors.New("no such key")

// TestDecideInArrivalOrder: both key and owner pay or neither; a refusal
// by the owner leaves the key's credits alone; a key without credits and
// an owner without a row spend nothing of theirs; a caller gone spends
// nothing; an unknown key gets the store's error.
func TestDecideInArrivalOrder(t *testing.T) {
	rows := map[string]*spendgroup.Row{
		"a": {Found: true, Left: 3}, "free": {Found: true, Left: -1}, "ghost": {},
		"acme": {Found: true, Left: 2}, "nobody": {Left: -1},
	}
	lookup := func(id string) (*spendgroup.Row, error) { return rows[id], nil }
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	ctx := context.Background()
	call := func(ctx context.Context, key, owner string) *spendgroup.Call {
		return &spendgroup.Call{Ctx: ctx, Spend: keyward.CreditSpend{KeyID: key, Owner: owner, Cost: 1}}
	}
	run := []*spendgroup.Call{
		call(ctx, "a", "acme"), call(gone, "a", "acme"), call(ctx, "a", "acme"),
		call(ctx, "a", "acme"), // the owner has none left: refused, key a keeps its credit
		call(ctx, "a", "nobody"), call(ctx, "free", "nobody"), call(ctx, "ghost", ""),
	}
	if err := spendgroup.Decide(run, lookup, lookup, func(string) error { return errMissing }); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		bal keyward.CreditBalance
		err error
	}{
		{keyward.CreditBalance{Spent: true, Key: 2, Owner: 1}, nil},
		{spendgroup.None, context.Canceled},
		{keyward.CreditBalance{Spent: true, Key: 1, Owner: 0}, nil},
		{keyward.CreditBalance{Key: 1, Owner: 0}, nil},
		{keyward.CreditBalance{Spent: true, Key: 0, Owner: -1}, nil},
		{keyward.CreditBalance{Spent: true, Key: -1, Owner: -1}, nil},
		{spendgroup.None, errMissing},
	}
	for i, c := range run {
		if c.Balance != want[i].bal || !errors.Is(c.Err, want[i].err) || (want[i].err == nil && c.Err != nil) {
			t.Errorf("call %d: %+v, %v; want %+v, %v", i, c.Balance, c.Err, want[i].bal, want[i].err)
		}
	}
	if a, acme := rows["a"], rows["acme"]; a.Taken != 3 || a.Left != 0 || acme.Taken != 2 || acme.Left != 0 {
		t.Errorf("to write: a took %d (left %d), acme took %d (left %d); want 3 (0) and 2 (0)", a.Taken, a.Left, acme.Taken, acme.Left)
	}
	if rows["free"].Taken != 0 || rows["nobody"].Taken != 0 || rows["free"].Spent || rows["nobody"].Spent {
		t.Error("a row without credits was charged")
	}
	// A spend of 0 pays from a row too: a refill that was due is then spent
	// from, and its row must be written.
	zero := &spendgroup.Call{Ctx: ctx, Spend: keyward.CreditSpend{KeyID: "z", Cost: 0}}
	rows["z"] = &spendgroup.Row{Found: true, Left: 100}
	if err := spendgroup.Decide([]*spendgroup.Call{zero}, lookup, lookup, nil); err != nil || !zero.Balance.Spent || !rows["z"].Spent || rows["z"].Taken != 0 {
		t.Errorf("a spend of 0: %+v, row %+v, %v; want spent, the row to write with nothing taken", zero.Balance, rows["z"], err)
	}
}

// TestRunsSplitAtMidnight: a group straddling the start of a UTC day runs
// in two parts, each with its own day.
func TestRunsSplitAtMidnight(t *testing.T) {
	day := time.Date(2030, 1, 31, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *spendgroup.Call {
		return &spendgroup.Call{Spend: keyward.CreditSpend{Now: day.Add(d)}}
	}
	group := []*spendgroup.Call{at(time.Hour), at(23 * time.Hour), at(25 * time.Hour), at(26 * time.Hour)}
	var got []string
	err := spendgroup.Runs(group, func(d, m time.Time, run []*spendgroup.Call) error {
		got = append(got, d.Format("01-02")+"/"+m.Format("01")+":"+string(rune('0'+len(run))))
		return nil
	})
	if err != nil || len(got) != 2 || got[0] != "01-31/01:2" || got[1] != "02-01/02:2" {
		t.Errorf("runs %v, %v; want [01-31/01:2 02-01/02:2]", got, err)
	}
}

// TestGroupContextEndsWhenEveryCallerIsGone: a store that hangs does not
// hold its callers once they have all given up: the context Run gets ends
// when the last of them does, and each gets the error Run gives.
func TestGroupContextEndsWhenEveryCallerIsGone(t *testing.T) {
	running := make(chan context.Context, 1)
	q := &spendgroup.Queue{Run: func(ctx context.Context, group []*spendgroup.Call) {
		running <- ctx
		<-ctx.Done() // a store that never answers
		spendgroup.Fail(group, ctx.Err())
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := q.Spend(ctx, keyward.CreditSpend{KeyID: "a", Cost: 1})
		done <- err
	}()
	groupCtx := <-running
	if groupCtx.Err() != nil {
		t.Fatalf("the group's context ended before its caller gave up: %v", groupCtx.Err())
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the caller got %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a minute after its only caller gave up, the group still runs")
	}
	if q.Running() {
		t.Error("the queue still runs a group after its only caller left")
	}
}

// TestPanicInRunFailsTheGroupAndFreesTheQueue: a store that panics in a
// group fails that group's spends, the panic reaches the leader's caller,
// and later spends still run instead of waiting for a leader forever.
func TestPanicInRunFailsTheGroupAndFreesTheQueue(t *testing.T) {
	release := make(chan struct{})
	q := &spendgroup.Queue{}
	q.Run = func(_ context.Context, group []*spendgroup.Call) {
		for _, c := range group {
			switch c.Spend.KeyID {
			case "hold":
				<-release
			case "boom":
				panic("the store broke")
			}
			c.Balance = keyward.CreditBalance{Spent: true, Key: -1, Owner: -1}
		}
	}
	ctx := context.Background()
	type answer struct {
		err      error
		panicked any
	}
	spend := func(id string) (a answer) {
		defer func() { a.panicked = recover() }()
		_, a.err = q.Spend(ctx, keyward.CreditSpend{KeyID: id, Cost: 1})
		return a
	}
	held, boom, other := make(chan answer, 1), make(chan answer, 1), make(chan answer, 1)
	go func() { held <- spend("hold") }()
	waitUntil(t, func() bool { return q.Running() })
	go func() { boom <- spend("boom") }()
	waitUntil(t, func() bool { return q.Waiting() == 1 })
	go func() { other <- spend("other") }()
	waitUntil(t, func() bool { return q.Waiting() == 2 })
	close(release)
	recv := func(ch chan answer) answer {
		select {
		case a := <-ch:
			return a
		case <-time.After(time.Minute):
			t.Fatal("a spend waited a minute for its answer")
			return answer{}
		}
	}
	if a := recv(held); a.err != nil || a.panicked != nil {
		t.Fatalf("the first group: %v, %v", a.err, a.panicked)
	}
	if a := recv(boom); a.panicked == nil {
		t.Error("the panic did not reach the caller that led the group")
	}
	if a := recv(other); a.err == nil || a.panicked != nil {
		t.Errorf("the other spend of the panicking group: %v, %v; want an error", a.err, a.panicked)
	}
	done := make(chan error, 1)
	go func() { done <- spend("later").err }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("a spend after the panic: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a spend after the panic waited a minute for a leader")
	}
}

// waitUntil waits until cond holds, failing the test after a minute.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("waited a minute")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCallerGoneLeavesTheQueue: a spend whose caller gives up while it
// waits for a group returns at once with its context's error, and the next
// group runs without it.
func TestCallerGoneLeavesTheQueue(t *testing.T) {
	release := make(chan struct{})
	var ran [][]string
	q := &spendgroup.Queue{}
	q.Run = func(_ context.Context, group []*spendgroup.Call) {
		var ids []string
		for _, c := range group {
			if c.Spend.KeyID == "hold" {
				<-release
			}
			ids = append(ids, c.Spend.KeyID)
			c.Balance = keyward.CreditBalance{Spent: true, Key: -1, Owner: -1}
		}
		ran = append(ran, ids)
	}
	bg := context.Background()
	spend := func(ctx context.Context, id string) chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := q.Spend(ctx, keyward.CreditSpend{KeyID: id, Cost: 1})
			ch <- err
		}()
		return ch
	}
	held := spend(bg, "hold")
	waitUntil(t, func() bool { return q.Running() })
	ctx, cancel := context.WithCancel(bg)
	gone := spend(ctx, "gone")
	waitUntil(t, func() bool { return q.Waiting() == 1 })
	stays := spend(bg, "stays")
	waitUntil(t, func() bool { return q.Waiting() == 2 })
	cancel()
	select {
	case err := <-gone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the caller that gave up got %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the caller that gave up waited a minute, behind a group that does not end")
	}
	if n := q.Waiting(); n != 1 {
		t.Errorf("%d spends wait after one left, want 1", n)
	}
	close(release)
	for _, ch := range []chan error{held, stays} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if len(ran) != 2 || !slices.Equal(ran[1], []string{"stays"}) {
		t.Errorf("groups run: %v, want [[hold] [stays]]", ran)
	}
}
