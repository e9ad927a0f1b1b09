package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

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
		"Ü":      {"Ünïcode Key"},
		"üN":     {"Ünïcode Key"},
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

func testCreateBatch(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	taken := plain(t, "taken", base)
	mustCreate(t, s, taken)
	dup := plain(t, "would overwrite", base)
	dup.ID = taken.ID
	fresh := []*keyward.Key{sample(t, "a", base), plain(t, "b", base.Add(time.Second)), dup}
	audits := []*keyward.AuditEntry{audit(keyward.ActionCreate, fresh[0].ID, base), audit(keyward.ActionCreate, fresh[1].ID, base), audit(keyward.ActionCreate, dup.ID, base)}
	n, err := s.CreateBatch(ctx, fresh, audits)
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
	if n, err := s.CreateBatch(ctx, fresh[:2], audits[:2]); err != nil || n != 0 {
		t.Errorf("CreateBatch again = %d, %v; want 0 (all skipped)", n, err)
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

func testKeyIDs(t *testing.T, s keyward.Store) {
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 5 {
		k := plain(t, fmt.Sprintf("k%d", i), base.Add(time.Duration(i)*time.Second))
		mustCreate(t, s, k)
		want[k.ID] = true
	}
	gone := plain(t, "deleted", base)
	mustCreate(t, s, gone)
	if err := s.Delete(ctx, gone.ID, nil); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	err := s.KeyIDs(ctx, func(id string) error {
		got[id]++
		return nil
	})
	if errors.Is(err, keyward.ErrUnsupported) {
		t.Skip("the store does not list its ids (allowed: a caching Store then runs without its filter)")
	}
	if err != nil {
		t.Fatalf("KeyIDs: %v", err)
	}
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Errorf("KeyIDs gave %s %d times; want each stored id once and no deleted one", id, n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("KeyIDs gave %d ids, want %d", len(got), len(want))
	}
	stop := errors.New("enough")
	calls := 0
	err = s.KeyIDs(ctx, func(string) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("KeyIDs after fn's error: %d calls, err %v; want 1 call and fn's own error", calls, err)
	}
}

func testGetFresh(t *testing.T, s keyward.Store) {
	checkFreshGet(t, s, s, "after", "fresh Get after an update", "the updated key")
}

// checkFreshGet creates a key through read and reads it (read may keep a
// copy now), renames it to name through write (read itself, or the store
// behind it), and checks that a fresh Get through read sees the new name;
// what and want describe the Get and its expected result in the failure.
func checkFreshGet(t *testing.T, read, write keyward.Store, name, what, want string) {
	t.Helper()
	ctx := context.Background()
	k := plain(t, "before", base)
	mustCreate(t, read, k)
	mustGet(t, read, k.ID) // a decorator may keep a copy now
	if _, err := write.Update(ctx, k.ID, func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.Name = name
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := read.Get(keyward.NewFreshContext(ctx), k.ID)
	if err != nil || got.Name != name {
		t.Errorf("%s = %v, %v; want %s", what, got, err, want)
	}
}
