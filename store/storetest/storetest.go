// Package storetest is the conformance suite for [keyward.Store]
// implementations. A store passes it by calling [Run] from its tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) keyward.Store { return newStore(t) })
//	}
//
// Each subtest gets a fresh, empty store from the factory and states one
// clause of the Store contract.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

// Factory returns a new, empty store. It registers its own cleanup with t.
type Factory func(t *testing.T) keyward.Store

// Migrator is implemented by stores with a schema; Run then checks that
// migrating again is a no-op.
type Migrator interface {
	Migrate(ctx context.Context) error
}

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, keyward.Store)
	}{
		{"CreateGetRoundTrip", testCreateGet},
		{"CreateDuplicateID", testCreateDuplicate},
		{"GetUnknown", testGetUnknown},
		{"ListOrderAndPagination", testListPagination},
		{"ListFilters", testListFilters},
		{"ListNameSearchIsLiteral", testListNameLiteral},
		{"UpdateAppliesAndAudits", testUpdate},
		{"UpdateNoChangeWritesNothing", testUpdateNoChange},
		{"UpdateErrorWritesNothing", testUpdateError},
		{"UpdateUnknown", testUpdateUnknown},
		{"RotateWritesBoth", testRotate},
		{"RotateErrorWritesNothing", testRotateError},
		{"DeleteKeepsUsageAndAudit", testDelete},
		{"SpendCredits", testSpendCredits},
		{"SpendCreditsRefill", testSpendCreditsRefill},
		{"SpendCreditsConcurrent", testSpendConcurrent},
		{"UsageRecordAndRead", testUsage},
		{"LastUsedMovesForward", testLastUsed},
		{"AuditPagination", testAuditPagination},
		{"Counts", testCounts},
		{"Ping", testPing},
		{"MigrateTwiceIsNoOp", testMigrateTwice},
		{"CreateBatchSkipsTakenIDs", testCreateBatch},
		{"ServiceQuotaConcurrent", testServiceQuota},
		{"ServiceConcurrentRotate", testServiceConcurrentRotate},
		{"ServiceConcurrentRotateRevoke", testServiceRotateRevoke},
		{"ServiceLifecycle", testServiceLifecycle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// base is the suite's reference time: millisecond precision, UTC.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// newID returns a unique, well-formed key id.
func newID(tb testing.TB) string {
	tb.Helper()
	id, err := keyward.NewID()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// sample returns a key with every field set to a non-zero value.
func sample(tb testing.TB, name string, created time.Time) *keyward.Key {
	tb.Helper()
	exp := created.Add(72 * time.Hour)
	return &keyward.Key{
		ID: newID(tb), Prefix: "sk_test", Name: name, Description: "a key for " + name,
		Owner: "team-a", Scopes: []string{"read", "write:*"},
		Metadata: json.RawMessage(`{"plan":"pro","n":1}`), Enabled: true,
		CreatedAt: created, UpdatedAt: created, ExpiresAt: &exp,
		RateLimit:    &keyward.RateLimit{Limit: 10, Period: keyward.Duration(time.Minute)},
		Remaining:    keyward.Ptr[int64](100),
		Refill:       &keyward.Refill{Interval: keyward.RefillDaily, Amount: 100},
		RefilledAt:   keyward.Ptr(time.Date(created.Year(), created.Month(), created.Day(), 0, 0, 0, 0, time.UTC)),
		AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"},
		Hash:         "$hmac-sha256$p=test$" + name,
	}
}

// plain returns a key with only the required fields.
func plain(tb testing.TB, name string, created time.Time) *keyward.Key {
	tb.Helper()
	return &keyward.Key{
		ID: newID(tb), Prefix: "kw", Name: name, Scopes: []string{}, Metadata: json.RawMessage(`{}`),
		AllowedCIDRs: []string{}, Enabled: true, CreatedAt: created, UpdatedAt: created, Hash: "h",
	}
}

func audit(action, keyID string, at time.Time) *keyward.AuditEntry {
	return &keyward.AuditEntry{At: at, Actor: "tester", Action: action, KeyID: keyID, ClientIP: "192.0.2.1", Details: json.RawMessage(`{"why":"test"}`)}
}

func mustCreate(tb testing.TB, s keyward.Store, k *keyward.Key) {
	tb.Helper()
	if err := s.Create(context.Background(), k, audit(keyward.ActionCreate, k.ID, k.CreatedAt)); err != nil {
		tb.Fatalf("Create(%s): %v", k.Name, err)
	}
}

func mustGet(tb testing.TB, s keyward.Store, id string) *keyward.Key {
	tb.Helper()
	k, err := s.Get(context.Background(), id)
	if err != nil {
		tb.Fatalf("Get(%s): %v", id, err)
	}
	return k
}

// equalKeys compares keys field by field, treating JSON metadata by value.
func equalKeys(tb testing.TB, got, want *keyward.Key) {
	tb.Helper()
	g, w := got.Clone(), want.Clone()
	var gm, wm any
	if err := json.Unmarshal(g.Metadata, &gm); err != nil {
		tb.Fatalf("stored metadata is not JSON: %q", g.Metadata)
	}
	_ = json.Unmarshal(w.Metadata, &wm)
	if !reflect.DeepEqual(gm, wm) {
		tb.Errorf("metadata = %s, want %s", g.Metadata, w.Metadata)
	}
	g.Metadata, w.Metadata = nil, nil
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		tb.Errorf("key differs\n got: %s hash=%q refilled=%v\nwant: %s hash=%q refilled=%v", gj, g.Hash, g.RefilledAt, wj, w.Hash, w.RefilledAt)
	}
}

func testCreateGet(t *testing.T, s keyward.Store) {
	full := sample(t, "full", base)
	full.LastUsedAt = keyward.Ptr(base.Add(time.Minute))
	full.RevokedAt = keyward.Ptr(base.Add(2 * time.Minute))
	full.ReplacedBy = keyward.Ptr(newID(t))
	full.Replaces = keyward.Ptr(newID(t))
	mustCreate(t, s, full)
	equalKeys(t, mustGet(t, s, full.ID), full)

	min := plain(t, "minimal", base)
	min.Enabled = false
	mustCreate(t, s, min)
	got := mustGet(t, s, min.ID)
	equalKeys(t, got, min)
	if got.Scopes == nil || got.AllowedCIDRs == nil {
		t.Errorf("empty lists came back nil: scopes=%v cidrs=%v (want [] so JSON says [])", got.Scopes, got.AllowedCIDRs)
	}
}

func testCreateDuplicate(t *testing.T, s keyward.Store) {
	k := plain(t, "one", base)
	mustCreate(t, s, k)
	dup := plain(t, "two", base)
	dup.ID = k.ID
	err := s.Create(context.Background(), dup, nil)
	if !errors.Is(err, keyward.ErrConflict) {
		t.Fatalf("Create with a taken id: err = %v, want ErrConflict", err)
	}
	if got := mustGet(t, s, k.ID); got.Name != "one" {
		t.Errorf("the first key was overwritten: name %q", got.Name)
	}
}

func testGetUnknown(t *testing.T, s keyward.Store) {
	_, err := s.Get(context.Background(), newID(t))
	if !errors.Is(err, keyward.ErrNotFound) {
		t.Fatalf("Get(unknown) err = %v, want ErrNotFound", err)
	}
}

func testListPagination(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	for i := range 25 {
		// Pairs share a creation time so the id breaks ties.
		mustCreate(t, s, plain(t, fmt.Sprintf("k%02d", i), base.Add(time.Duration(i/2)*time.Second)))
	}
	all, err := s.List(ctx, keyward.ListFilter{Now: base})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 25 {
		t.Fatalf("List returned %d keys, want 25", len(all))
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.CreatedAt.Before(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID {
			t.Fatalf("not newest first at %d: %s(%v) before %s(%v)", i, a.ID, a.CreatedAt, b.ID, b.CreatedAt)
		}
	}
	var paged []string
	var after *keyward.ListCursor
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("pagination does not end")
		}
		keys, err := s.List(ctx, keyward.ListFilter{Now: base, Limit: 7, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 7 {
			t.Fatalf("page has %d keys, limit 7", len(keys))
		}
		for _, k := range keys {
			paged = append(paged, k.ID)
		}
		if len(keys) < 7 {
			break
		}
		last := keys[len(keys)-1]
		after = &keyward.ListCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	var ids []string
	for _, k := range all {
		ids = append(ids, k.ID)
	}
	if !slices.Equal(paged, ids) {
		t.Errorf("pages joined = %v\nwant %v", paged, ids)
	}
}

func testListFilters(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	now := base.Add(time.Hour)
	active := plain(t, "Active Alpha", base)
	active.Owner = "alice"
	disabled := plain(t, "disabled beta", base.Add(time.Second))
	disabled.Enabled = false
	disabled.Owner = "bob"
	revoked := plain(t, "revoked GAMMA", base.Add(2*time.Second))
	revoked.RevokedAt = keyward.Ptr(base)
	revoked.Enabled = false // revoked wins over disabled
	revoked.Owner = "alice"
	expired := plain(t, "expired delta", base.Add(3*time.Second))
	expired.ExpiresAt = keyward.Ptr(now) // expiry at now counts as expired
	expired.Owner = "alice"
	later := plain(t, "future alpha", base.Add(4*time.Second))
	later.ExpiresAt = keyward.Ptr(now.Add(time.Millisecond))
	for _, k := range []*keyward.Key{active, disabled, revoked, expired, later} {
		mustCreate(t, s, k)
	}
	cases := []struct {
		name string
		f    keyward.ListFilter
		want []*keyward.Key
	}{
		{"owner", keyward.ListFilter{Owner: "alice"}, []*keyward.Key{expired, revoked, active}},
		{"active", keyward.ListFilter{Status: keyward.StatusActive}, []*keyward.Key{later, active}},
		{"disabled", keyward.ListFilter{Status: keyward.StatusDisabled}, []*keyward.Key{disabled}},
		{"revoked", keyward.ListFilter{Status: keyward.StatusRevoked}, []*keyward.Key{revoked}},
		{"expired", keyward.ListFilter{Status: keyward.StatusExpired}, []*keyward.Key{expired}},
		{"name ignoring case", keyward.ListFilter{NameContains: "ALPHA"}, []*keyward.Key{later, active}},
		{"name and owner", keyward.ListFilter{NameContains: "gamma", Owner: "alice"}, []*keyward.Key{revoked}},
		{"owner and status", keyward.ListFilter{Owner: "alice", Status: keyward.StatusActive}, []*keyward.Key{active}},
		{"no match", keyward.ListFilter{Owner: "carol"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Now = now
			got, err := s.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var g, w []string
			for _, k := range got {
				g = append(g, k.Name)
			}
			for _, k := range tc.want {
				w = append(w, k.Name)
			}
			if !slices.Equal(g, w) {
				t.Errorf("List(%+v) = %q, want %q", tc.f, g, w)
			}
		})
	}
}

func testListNameLiteral(t *testing.T, s keyward.Store) {
	names := []string{"100% done", "100 percent", "a_b", "axb", `back\slash`, "Ünïcode Key"}
	for i, n := range names {
		mustCreate(t, s, plain(t, n, base.Add(time.Duration(i)*time.Second)))
	}
	cases := map[string][]string{
		"%":      {"100% done"},
		"_":      {"a_b"},
		`\`:      {`back\slash`},
		"0% d":   {"100% done"},
		"ünï":    {"Ünïcode Key"},
		"CODE K": {"Ünïcode Key"},
	}
	for q, want := range cases {
		got, err := s.List(context.Background(), keyward.ListFilter{NameContains: q, Now: base})
		if err != nil {
			t.Fatal(err)
		}
		var g []string
		for _, k := range got {
			g = append(g, k.Name)
		}
		if q == "ünï" && len(g) == 0 {
			// Case folding beyond ASCII is best effort: SQLite's lower() is ASCII only.
			continue
		}
		if !slices.Equal(g, want) {
			t.Errorf("name contains %q = %q, want %q", q, g, want)
		}
	}
}

func auditOf(t *testing.T, s keyward.Store, keyID string) []keyward.AuditEntry {
	t.Helper()
	e, err := s.ListAudit(context.Background(), keyward.AuditFilter{KeyID: keyID})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testUpdate(t *testing.T, s keyward.Store) {
	k := sample(t, "before", base)
	mustCreate(t, s, k)
	later := base.Add(time.Minute)
	got, err := s.Update(context.Background(), k.ID, func(c *keyward.Key) (*keyward.AuditEntry, error) {
		c.Name = "after"
		c.Scopes = []string{"admin"}
		c.Metadata = json.RawMessage(`{"x":[1,2]}`)
		c.ExpiresAt = nil
		c.RateLimit = nil
		c.Remaining = nil
		c.Refill = nil
		c.RefilledAt = nil
		c.AllowedCIDRs = []string{}
		c.Enabled = false
		c.UpdatedAt = later
		c.Hash = "new hash"
		return audit(keyward.ActionUpdate, c.ID, later), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := k.Clone()
	want.Name, want.Scopes, want.Metadata, want.ExpiresAt = "after", []string{"admin"}, json.RawMessage(`{"x":[1,2]}`), nil
	want.RateLimit, want.Remaining, want.Refill, want.RefilledAt, want.AllowedCIDRs = nil, nil, nil, nil, []string{}
	want.Enabled, want.UpdatedAt, want.Hash = false, later, "new hash"
	equalKeys(t, got, want)
	equalKeys(t, mustGet(t, s, k.ID), want)
	entries := auditOf(t, s, k.ID)
	if len(entries) != 2 || entries[0].Action != keyward.ActionUpdate || entries[1].Action != keyward.ActionCreate {
		t.Fatalf("audit = %+v, want update then create", entries)
	}
	e := entries[0]
	if e.ID <= entries[1].ID || !e.At.Equal(later) || e.Actor != "tester" || e.ClientIP != "192.0.2.1" || string(e.Details) != `{"why":"test"}` {
		t.Errorf("audit entry = %+v", e)
	}
}

func testUpdateNoChange(t *testing.T, s keyward.Store) {
	k := plain(t, "same", base)
	mustCreate(t, s, k)
	got, err := s.Update(context.Background(), k.ID, func(c *keyward.Key) (*keyward.AuditEntry, error) {
		c.Name = "must not be written"
		return audit(keyward.ActionUpdate, c.ID, base), keyward.ErrNoChange
	})
	if err != nil {
		t.Fatalf("Update returning ErrNoChange: err = %v, want nil", err)
	}
	if got.Name != "same" || mustGet(t, s, k.ID).Name != "same" {
		t.Errorf("ErrNoChange wrote the key: %q", got.Name)
	}
	if n := len(auditOf(t, s, k.ID)); n != 1 {
		t.Errorf("ErrNoChange appended audit entries: %d entries, want 1", n)
	}
}

func testUpdateError(t *testing.T, s keyward.Store) {
	k := plain(t, "kept", base)
	mustCreate(t, s, k)
	boom := errors.New("boom")
	_, err := s.Update(context.Background(), k.ID, func(c *keyward.Key) (*keyward.AuditEntry, error) {
		c.Name = "lost"
		return audit(keyward.ActionUpdate, c.ID, base), boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want fn's error", err)
	}
	if mustGet(t, s, k.ID).Name != "kept" || len(auditOf(t, s, k.ID)) != 1 {
		t.Error("a failed update left a write behind")
	}
}

func testUpdateUnknown(t *testing.T, s keyward.Store) {
	called := false
	_, err := s.Update(context.Background(), newID(t), func(*keyward.Key) (*keyward.AuditEntry, error) {
		called = true
		return nil, nil
	})
	if !errors.Is(err, keyward.ErrNotFound) || called {
		t.Fatalf("Update(unknown) err = %v, fn called %v; want ErrNotFound and no call", err, called)
	}
}

func testRotate(t *testing.T, s keyward.Store) {
	k := sample(t, "old", base)
	mustCreate(t, s, k)
	var nextID string
	old, next, err := s.Rotate(context.Background(), k.ID, func(o *keyward.Key) (*keyward.Key, *keyward.AuditEntry, error) {
		n := o.Clone()
		n.ID = newID(t)
		nextID = n.ID
		n.Hash = "next hash"
		n.Replaces = keyward.Ptr(o.ID)
		o.ReplacedBy = keyward.Ptr(n.ID)
		o.ExpiresAt = keyward.Ptr(base.Add(time.Hour))
		return n, audit(keyward.ActionRotate, o.ID, base), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if old.ID != k.ID || next.ID != nextID {
		t.Fatalf("Rotate returned ids %s, %s; want %s, %s", old.ID, next.ID, k.ID, nextID)
	}
	o, n := mustGet(t, s, k.ID), mustGet(t, s, nextID)
	if o.ReplacedBy == nil || *o.ReplacedBy != nextID || !o.ExpiresAt.Equal(base.Add(time.Hour)) {
		t.Errorf("old key after rotate: replaced_by %v expires %v", o.ReplacedBy, o.ExpiresAt)
	}
	if n.Replaces == nil || *n.Replaces != k.ID || n.Hash != "next hash" || n.Name != "old" {
		t.Errorf("new key after rotate: %+v", n)
	}
	if e := auditOf(t, s, k.ID); len(e) != 2 || e[0].Action != keyward.ActionRotate {
		t.Errorf("audit after rotate: %+v", e)
	}
}

func testRotateError(t *testing.T, s keyward.Store) {
	k := plain(t, "old", base)
	taken := plain(t, "taken", base)
	mustCreate(t, s, k)
	mustCreate(t, s, taken)
	_, _, err := s.Rotate(context.Background(), k.ID, func(o *keyward.Key) (*keyward.Key, *keyward.AuditEntry, error) {
		n := o.Clone()
		n.ID = taken.ID
		o.ReplacedBy = keyward.Ptr(n.ID)
		return n, audit(keyward.ActionRotate, o.ID, base), nil
	})
	if !errors.Is(err, keyward.ErrConflict) {
		t.Fatalf("Rotate onto a taken id: err = %v, want ErrConflict", err)
	}
	if o := mustGet(t, s, k.ID); o.ReplacedBy != nil {
		t.Error("a failed rotate changed the old key")
	}
	if mustGet(t, s, taken.ID).Name != "taken" {
		t.Error("a failed rotate overwrote the key holding the id")
	}
	if n := len(auditOf(t, s, k.ID)); n != 1 {
		t.Errorf("a failed rotate appended audit entries: %d", n)
	}
	_, _, err = s.Rotate(context.Background(), newID(t), func(o *keyward.Key) (*keyward.Key, *keyward.AuditEntry, error) {
		return o, nil, nil
	})
	if !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("Rotate(unknown) err = %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	k := plain(t, "doomed", base)
	mustCreate(t, s, k)
	if err := s.RecordUsage(ctx, keyward.UsageBatch{Counts: []keyward.UsageCount{{KeyID: k.ID, Start: base.Truncate(time.Minute), Outcome: keyward.OutcomeValid, Count: 3}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, k.ID, audit(keyward.ActionDelete, k.ID, base)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, k.ID); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, k.ID, nil); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("Delete twice: err = %v, want ErrNotFound", err)
	}
	if e := auditOf(t, s, k.ID); len(e) != 2 || e[0].Action != keyward.ActionDelete {
		t.Errorf("audit after delete: %+v", e)
	}
	u, err := s.Usage(ctx, keyward.UsageQuery{KeyID: k.ID, From: base.Add(-time.Hour), To: base.Add(time.Hour), Bucket: time.Hour})
	if err != nil || len(u) != 1 || u[0].Count != 3 {
		t.Errorf("usage after delete = %+v, %v; want the 3 counts kept", u, err)
	}
	if err := s.RecordUsage(ctx, keyward.UsageBatch{LastUsed: map[string]time.Time{k.ID: base}}); err != nil {
		t.Errorf("RecordUsage with a deleted key's last use: %v", err)
	}
}

func testSpendCredits(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	k := plain(t, "credits", base)
	k.Remaining = keyward.Ptr[int64](5)
	mustCreate(t, s, k)
	steps := []struct {
		cost  int64
		left  int64
		spent bool
	}{{2, 3, true}, {3, 0, true}, {1, 0, false}, {0, 0, true}}
	for i, st := range steps {
		left, spent, err := s.SpendCredits(ctx, k.ID, st.cost, base)
		if err != nil || left != st.left || spent != st.spent {
			t.Fatalf("step %d: SpendCredits(cost %d) = %d, %v, %v; want %d, %v", i, st.cost, left, spent, err, st.left, st.spent)
		}
	}
	if got := mustGet(t, s, k.ID); got.Remaining == nil || *got.Remaining != 0 {
		t.Errorf("stored remaining = %v, want 0", got.Remaining)
	}
	unlimited := plain(t, "unlimited", base)
	mustCreate(t, s, unlimited)
	if left, spent, err := s.SpendCredits(ctx, unlimited.ID, 7, base); left != -1 || !spent || err != nil {
		t.Errorf("SpendCredits on an unlimited key = %d, %v, %v; want -1, true, nil", left, spent, err)
	}
	if _, _, err := s.SpendCredits(ctx, newID(t), 1, base); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("SpendCredits(unknown) err = %v, want ErrNotFound", err)
	}
}

func testSpendCreditsRefill(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	day, month := keyward.RefillBoundaries(base)
	daily := plain(t, "daily", base)
	daily.Remaining = keyward.Ptr[int64](0)
	daily.Refill = &keyward.Refill{Interval: keyward.RefillDaily, Amount: 10}
	daily.RefilledAt = keyward.Ptr(day)
	monthly := plain(t, "monthly", base)
	monthly.Remaining = keyward.Ptr[int64](1)
	monthly.Refill = &keyward.Refill{Interval: keyward.RefillMonthly, Amount: 3}
	monthly.RefilledAt = keyward.Ptr(month)
	mustCreate(t, s, daily)
	mustCreate(t, s, monthly)

	// Same day: no refill yet.
	if left, spent, _ := s.SpendCredits(ctx, daily.ID, 1, base.Add(time.Hour)); spent || left != 0 {
		t.Fatalf("same day: %d, %v; want 0, false", left, spent)
	}
	// Next day: refilled to 10, then 4 spent.
	nextDay := day.Add(24*time.Hour + time.Minute)
	if left, spent, _ := s.SpendCredits(ctx, daily.ID, 4, nextDay); !spent || left != 6 {
		t.Fatalf("next day: %d, %v; want 6, true", left, spent)
	}
	// Still that day: no second refill.
	if left, spent, _ := s.SpendCredits(ctx, daily.ID, 6, nextDay.Add(time.Hour)); !spent || left != 0 {
		t.Fatalf("later that day: %d, %v; want 0, true", left, spent)
	}
	got := mustGet(t, s, daily.ID)
	if got.RefilledAt == nil || !got.RefilledAt.Equal(day.Add(24*time.Hour)) {
		t.Errorf("refilled_at = %v, want %v", got.RefilledAt, day.Add(24*time.Hour))
	}
	// Monthly: a later day of the same month does not refill; the next month does.
	if left, spent, _ := s.SpendCredits(ctx, monthly.ID, 2, base.Add(48*time.Hour)); spent || left != 1 {
		t.Errorf("same month: %d, %v; want 1, false", left, spent)
	}
	if left, spent, _ := s.SpendCredits(ctx, monthly.ID, 2, month.AddDate(0, 1, 0)); !spent || left != 1 {
		t.Errorf("next month: %d, %v; want 1, true", left, spent)
	}
}

func testSpendConcurrent(t *testing.T, s keyward.Store) {
	k := plain(t, "contended", base)
	k.Remaining = keyward.Ptr[int64](50)
	mustCreate(t, s, k)
	var spent, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			left, ok, err := s.SpendCredits(context.Background(), k.ID, 1, base)
			switch {
			case err != nil:
				errs <- err
			case left < 0:
				errs <- fmt.Errorf("remaining went below zero: %d", left)
			case ok:
				spent.Add(1)
			default:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if spent.Load() != 50 || refused.Load() != 50 {
		t.Errorf("spent %d, refused %d; want 50 and 50", spent.Load(), refused.Load())
	}
	if got := mustGet(t, s, k.ID); *got.Remaining != 0 {
		t.Errorf("remaining = %d, want 0", *got.Remaining)
	}
}

func testUsage(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	k := plain(t, "used", base)
	other := plain(t, "other", base)
	mustCreate(t, s, k)
	mustCreate(t, s, other)
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	m := func(h, min int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(min)*time.Minute)
	}
	batch := keyward.UsageBatch{Counts: []keyward.UsageCount{
		{KeyID: k.ID, Start: m(10, 0), Outcome: keyward.OutcomeValid, Count: 5},
		{KeyID: k.ID, Start: m(10, 0), Outcome: keyward.OutcomeNotFound, Count: 1},
		{KeyID: k.ID, Start: m(10, 59), Outcome: keyward.OutcomeValid, Count: 2},
		{KeyID: k.ID, Start: m(11, 30), Outcome: keyward.OutcomeRateLimited, Count: 4},
		{KeyID: k.ID, Start: m(23, 59).Add(time.Minute), Outcome: keyward.OutcomeValid, Count: 9}, // next day
		{KeyID: other.ID, Start: m(10, 0), Outcome: keyward.OutcomeValid, Count: 100},
	}}
	if err := s.RecordUsage(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// A second flush of the same bucket adds to it.
	if err := s.RecordUsage(ctx, keyward.UsageBatch{Counts: []keyward.UsageCount{{KeyID: k.ID, Start: m(10, 0), Outcome: keyward.OutcomeValid, Count: 1}}}); err != nil {
		t.Fatal(err)
	}
	type row struct {
		start time.Time
		o     keyward.Outcome
		n     int64
	}
	read := func(from, to time.Time, bucket time.Duration) []row {
		t.Helper()
		got, err := s.Usage(ctx, keyward.UsageQuery{KeyID: k.ID, From: from, To: to, Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		var out []row
		for _, c := range got {
			if c.KeyID != k.ID {
				t.Errorf("usage of another key: %+v", c)
			}
			out = append(out, row{c.Start.UTC(), c.Outcome, c.Count})
		}
		slices.SortStableFunc(out, func(a, b row) int {
			if c := a.start.Compare(b.start); c != 0 {
				return c
			}
			return int(a.o) - int(b.o)
		})
		return out
	}
	cases := []struct {
		name     string
		from, to time.Time
		bucket   time.Duration
		want     []row
	}{
		{"minutes", day, day.Add(48 * time.Hour), time.Minute, []row{
			{m(10, 0), keyward.OutcomeNotFound, 1}, {m(10, 0), keyward.OutcomeValid, 6},
			{m(10, 59), keyward.OutcomeValid, 2}, {m(11, 30), keyward.OutcomeRateLimited, 4},
			{m(24, 0), keyward.OutcomeValid, 9},
		}},
		{"hours", day, day.Add(48 * time.Hour), time.Hour, []row{
			{m(10, 0), keyward.OutcomeNotFound, 1}, {m(10, 0), keyward.OutcomeValid, 8},
			{m(11, 0), keyward.OutcomeRateLimited, 4}, {m(24, 0), keyward.OutcomeValid, 9},
		}},
		{"days", day, day.Add(48 * time.Hour), 24 * time.Hour, []row{
			{day, keyward.OutcomeNotFound, 1}, {day, keyward.OutcomeRateLimited, 4},
			{day, keyward.OutcomeValid, 8}, {m(24, 0), keyward.OutcomeValid, 9},
		}},
		{"from inclusive, to exclusive", m(10, 59), m(11, 30), time.Minute, []row{
			{m(10, 59), keyward.OutcomeValid, 2},
		}},
		{"empty range", m(12, 0), m(13, 0), time.Hour, nil},
	}
	t.Run("all keys", func(t *testing.T) {
		got, err := s.Usage(ctx, keyward.UsageQuery{From: m(10, 0), To: m(10, 1), Bucket: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		sum := map[keyward.Outcome]int64{}
		for _, c := range got {
			sum[c.Outcome] += c.Count
		}
		if sum[keyward.OutcomeValid] != 106 || sum[keyward.OutcomeNotFound] != 1 {
			t.Errorf("usage of all keys in minute 10:00 = %v, want VALID 106 (6 + 100) and NOT_FOUND 1", sum)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := read(tc.from, tc.to, tc.bucket)
			if !slices.Equal(got, tc.want) {
				t.Errorf("usage = %v\nwant %v", got, tc.want)
			}
		})
	}
}

func testLastUsed(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	k := plain(t, "used", base)
	mustCreate(t, s, k)
	t1 := base.Add(time.Minute)
	if err := s.RecordUsage(ctx, keyward.UsageBatch{LastUsed: map[string]time.Time{k.ID: t1}}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, k.ID).LastUsedAt; got == nil || !got.Equal(t1) {
		t.Fatalf("last_used_at = %v, want %v", got, t1)
	}
	if err := s.RecordUsage(ctx, keyward.UsageBatch{LastUsed: map[string]time.Time{k.ID: base}}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, k.ID).LastUsedAt; got == nil || !got.Equal(t1) {
		t.Errorf("an older use moved last_used_at back to %v", got)
	}
}

func testAuditPagination(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	a, b := plain(t, "a", base), plain(t, "b", base)
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	for i := range 10 {
		id := a.ID
		if i%2 == 1 {
			id = b.ID
		}
		_, err := s.Update(ctx, id, func(k *keyward.Key) (*keyward.AuditEntry, error) {
			k.Description = fmt.Sprint(i)
			return audit(keyward.ActionUpdate, id, base.Add(time.Duration(i)*time.Second)), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListAudit(ctx, keyward.AuditFilter{})
	if err != nil || len(all) != 12 {
		t.Fatalf("ListAudit = %d entries, %v; want 12", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].ID <= all[i].ID {
			t.Fatalf("audit not newest first: ids %d then %d", all[i-1].ID, all[i].ID)
		}
	}
	var paged []int64
	before := int64(0)
	for {
		page, err := s.ListAudit(ctx, keyward.AuditFilter{KeyID: a.ID, Before: before, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.KeyID != a.ID {
				t.Errorf("filter by key_id returned an entry of %s", e.KeyID)
			}
			paged = append(paged, e.ID)
		}
		if len(page) < 2 {
			break
		}
		before = page[len(page)-1].ID
	}
	if len(paged) != 6 {
		t.Errorf("paging key a's audit gave %d entries, want 6 (create + 5 updates)", len(paged))
	}
}

func testCounts(t *testing.T, s keyward.Store) {
	now := base.Add(time.Hour)
	k1, k2, k3, k4 := plain(t, "1", base), plain(t, "2", base), plain(t, "3", base), plain(t, "4", base)
	k2.Enabled = false
	k3.RevokedAt = keyward.Ptr(base)
	k4.ExpiresAt = keyward.Ptr(base)
	for _, k := range []*keyward.Key{k1, k2, k3, k4} {
		mustCreate(t, s, k)
	}
	got, err := s.Counts(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[keyward.Status]int64{keyward.StatusActive: 1, keyward.StatusDisabled: 1, keyward.StatusRevoked: 1, keyward.StatusExpired: 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Counts = %v, want %v", got, want)
	}
}

func testPing(t *testing.T, s keyward.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping on an open store: %v", err)
	}
}

func testMigrateTwice(t *testing.T, s keyward.Store) {
	m, ok := s.(Migrator)
	if !ok {
		t.Skip("store has no schema to migrate")
	}
	k := plain(t, "survivor", base)
	mustCreate(t, s, k)
	for i := range 2 {
		if err := m.Migrate(context.Background()); err != nil {
			t.Fatalf("Migrate #%d on a migrated store: %v", i+1, err)
		}
	}
	equalKeys(t, mustGet(t, s, k.ID), k)
}

// service returns a Service on s with a fixed clock and a fast hasher.
func service(tb testing.TB, s keyward.Store, now time.Time) *keyward.Service {
	tb.Helper()
	p, err := keyhash.NewPepper([]byte("storetest pepper of thirty-two bytes or more"))
	if err != nil {
		tb.Fatal(err)
	}
	h, err := keyhash.NewHMAC(p)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := keyward.New(s, h, &keyward.Options{Now: func() time.Time { return now }, UsageFlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}

func testServiceQuota(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	svc := service(t, s, base)
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "quota", Remaining: keyward.Ptr[int64](50)})
	if err != nil {
		t.Fatal(err)
	}
	var counts [2]atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret})
			switch {
			case err != nil:
				t.Error(err)
			case r.Outcome == keyward.OutcomeValid:
				counts[0].Add(1)
			case r.Outcome == keyward.OutcomeUsageExceeded:
				counts[1].Add(1)
			default:
				t.Errorf("outcome %v", r.Outcome)
			}
		})
	}
	wg.Wait()
	if counts[0].Load() != 50 || counts[1].Load() != 50 {
		t.Errorf("VALID %d, USAGE_EXCEEDED %d; want 50 and 50", counts[0].Load(), counts[1].Load())
	}
}

func testServiceConcurrentRotate(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	svc := service(t, s, base)
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "rotate me"})
	if err != nil {
		t.Fatal(err)
	}
	var ok, conflict atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := svc.Rotate(ctx, iss.Key.ID, keyward.RotateParams{})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, keyward.ErrConflict):
				conflict.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != 9 {
		t.Errorf("10 concurrent rotations: %d succeeded, %d conflicted; want 1 and 9", ok.Load(), conflict.Load())
	}
	page, err := svc.List(ctx, keyward.ListParams{})
	if err != nil || len(page.Items) != 2 {
		t.Errorf("after concurrent rotations there are %d keys, want 2 (%v)", len(page.Items), err)
	}
}

func testServiceRotateRevoke(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	svc := service(t, s, base)
	for range 20 {
		iss, err := svc.Create(ctx, keyward.CreateParams{Name: "race"})
		if err != nil {
			t.Fatal(err)
		}
		var rot keyward.Issued
		var rotErr, revErr error
		var wg sync.WaitGroup
		wg.Go(func() { rot, rotErr = svc.Rotate(ctx, iss.Key.ID, keyward.RotateParams{}) })
		wg.Go(func() { _, revErr = svc.Revoke(ctx, iss.Key.ID) })
		wg.Wait()
		if revErr != nil {
			t.Fatalf("revoke: %v", revErr)
		}
		old, err := svc.Get(ctx, iss.Key.ID)
		if err != nil || old.RevokedAt == nil {
			t.Fatalf("old key not revoked: %+v %v", old, err)
		}
		switch {
		case rotErr == nil:
			// Rotation won the race: the successor exists, is linked and is live.
			if old.ReplacedBy == nil || *old.ReplacedBy != rot.Key.ID {
				t.Errorf("old key's replaced_by = %v, want %s", old.ReplacedBy, rot.Key.ID)
			}
			r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: rot.Secret})
			if err != nil || !r.Valid() {
				t.Errorf("successor verifies as %v, %v", r.Outcome, err)
			}
		case errors.Is(rotErr, keyward.ErrConflict):
			if old.ReplacedBy != nil {
				t.Errorf("rotation failed but replaced_by = %s", *old.ReplacedBy)
			}
		default:
			t.Fatalf("rotate: %v", rotErr)
		}
	}
}

// testServiceLifecycle drives the Service through create, verify, update,
// rotate, revoke and delete on the store.
func testServiceLifecycle(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	svc := service(t, s, base)
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "life", Owner: "o", Scopes: []string{"read"}, Metadata: json.RawMessage(`{"a": 1}`)})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(secret string, scopes ...string) keyward.Outcome {
		t.Helper()
		r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: secret, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return r.Outcome
	}
	if o := verify(iss.Secret, "read"); o != keyward.OutcomeValid {
		t.Fatalf("fresh key: %v", o)
	}
	if o := verify(iss.Secret, "write"); o != keyward.OutcomeInsufficientScope {
		t.Errorf("missing scope: %v", o)
	}
	if _, err := svc.Update(ctx, iss.Key.ID, keyward.UpdateParams{Enabled: keyward.Ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if o := verify(iss.Secret); o != keyward.OutcomeDisabled {
		t.Errorf("disabled key: %v", o)
	}
	if _, err := svc.Update(ctx, iss.Key.ID, keyward.UpdateParams{Enabled: keyward.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	rot, err := svc.Rotate(ctx, iss.Key.ID, keyward.RotateParams{GracePeriod: keyward.Ptr(keyward.Duration(0))})
	if err != nil {
		t.Fatal(err)
	}
	if o := verify(iss.Secret); o != keyward.OutcomeExpired {
		t.Errorf("old key after a rotation without grace: %v", o)
	}
	if o := verify(rot.Secret, "read"); o != keyward.OutcomeValid {
		t.Errorf("successor: %v", o)
	}
	if _, err := svc.Revoke(ctx, rot.Key.ID); err != nil {
		t.Fatal(err)
	}
	if o := verify(rot.Secret); o != keyward.OutcomeRevoked {
		t.Errorf("revoked successor: %v", o)
	}
	if err := svc.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, rot.Key.ID); err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Usage(ctx, keyward.UsageParams{KeyID: rot.Key.ID, Bucket: keyward.BucketMinute})
	if err != nil {
		t.Fatalf("usage of a deleted key: %v", err)
	}
	if rep.Totals["VALID"] != 1 || rep.Totals["REVOKED"] != 1 {
		t.Errorf("usage totals of the deleted key = %v, want VALID 1 and REVOKED 1", rep.Totals)
	}
	if _, err := svc.Usage(ctx, keyward.UsageParams{KeyID: newID(t)}); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("usage of an id that never existed: err = %v, want ErrNotFound", err)
	}
}

func testCreateBatch(t *testing.T, s keyward.Store) {
	bc, ok := s.(keyward.BatchCreator)
	if !ok {
		t.Skip("store does not create in batches; Service.Import falls back to Create")
	}
	ctx := context.Background()
	taken := plain(t, "taken", base)
	mustCreate(t, s, taken)
	dup := plain(t, "would overwrite", base)
	dup.ID = taken.ID
	fresh := []*keyward.Key{sample(t, "a", base), plain(t, "b", base.Add(time.Second)), dup}
	audits := []*keyward.AuditEntry{audit(keyward.ActionCreate, fresh[0].ID, base), audit(keyward.ActionCreate, fresh[1].ID, base), audit(keyward.ActionCreate, dup.ID, base)}
	n, err := bc.CreateBatch(ctx, fresh, audits)
	if err != nil || n != 2 {
		t.Fatalf("CreateBatch = %d, %v; want 2 inserted (one id taken)", n, err)
	}
	equalKeys(t, mustGet(t, s, fresh[0].ID), fresh[0])
	if got := mustGet(t, s, taken.ID); got.Name != "taken" {
		t.Errorf("CreateBatch overwrote an existing key: %q", got.Name)
	}
	if e := auditOf(t, s, taken.ID); len(e) != 1 {
		t.Errorf("a skipped key got an audit entry: %d entries", len(e))
	}
	if n, err := bc.CreateBatch(ctx, fresh[:2], audits[:2]); err != nil || n != 0 {
		t.Errorf("CreateBatch again = %d, %v; want 0 (all skipped)", n, err)
	}
}
