// Package storetest is the conformance suite for [keyward.Store]
// implementations. A store passes it by calling [Run] from its tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) keyward.Store {
//			s := memory.New()
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// (store/memory's test; a store with a schema opens a fresh database
// instead).
//
// A decorator (a Store that wraps another, as package cache and package
// metrics do) calls [RunDecorator], which also proves that it passes every
// method through and that fresh reads see writes made behind its back.
//
// Each subtest gets a fresh, empty store from the factory and states one
// clause of the Store contract.
package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
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
		{"GetFreshSeesTheLatestWrite", testGetFresh},
		{"FreshKeyReadsShareNothing", testFreshKeys},
		{"ReloadKeyAnswersAsGetButLastUse", testReloadKey},
		{"ListOrderAndPagination", testListPagination},
		{"ListFilters", testListFilters},
		{"ListNameSearchIsLiteral", testListNameLiteral},
		{"ListUnusedSinceAndNeverUsed", testListUnusedSince},
		{"ListExpiresByAndNoExpiry", testListExpiresBy},
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
		{"UsageConcurrentFlushes", testUsageConcurrent},
		{"LastUsedWithCounts", testLastUsedWithCounts},
		{"UsageLargeBatch", testUsageLargeBatch},
		{"AuditPagination", testAuditPagination},
		{"Counts", testCounts},
		{"Ping", testPing},
		{"MigrateTwiceIsNoOp", testMigrateTwice},
		{"CreateBatchSkipsTakenIDs", testCreateBatch},
		{"KeyIDsListsEachIDOnce", testKeyIDs},
		{"RecentKeysAreTheKeysInUse", testRecentKeys},
		{"OwnerPutGetReplace", testOwnerPutGet},
		{"OwnerUpdate", testOwnerUpdate},
		{"OwnerListDelete", testOwnerListDelete},
		{"RolesAndDeleteWhileInUse", testRoles},
		{"SpendCreditsOfKeyAndOwner", testSpendOwnerCredits},
		{"RefundCredits", testRefundCredits},
		{"ServiceCreditLeasesOfTwoInstances", testServiceCreditLeases},
		{"OwnerUsage", testOwnerUsage},
		{"Settings", testSettings},
		{"RoleInUseAfterEveryWrite", testRoleInUseAfterEveryWrite},
		{"SpendCreditsOfKeyAndOwnerConcurrent", testSpendKeyAndOwnerConcurrent},
		{"ServiceOwnerQuotaConcurrent", testServiceOwnerQuota},
		{"ServiceQuotaConcurrent", testServiceQuota},
		{"ServiceConcurrentRotate", testServiceConcurrentRotate},
		{"ServiceConcurrentRotateRevoke", testServiceRotateRevoke},
		{"ServiceLifecycle", testServiceLifecycle},
		{"EventsWrittenWithAuditEntry", testEventsWithAudit},
		{"EventsOfEveryWrite", testEventsEveryWrite},
		{"EventsFailedWriteLeavesNeither", testEventsFailedWrite},
		{"AppendEventsDedupe", testAppendEventsDedupe},
		{"EventsAfter", testEventsAfter},
		{"ListExpiring", testListExpiring},
		{"WebhookCRUD", testWebhookCRUD},
		{"FanOutFollowsFilters", testFanOutFilters},
		{"ClaimLeaseRecord", testClaimLeaseRecord},
		{"ConcurrentClaimersDisjoint", testConcurrentClaimers},
		{"PruneEvents", testPruneEvents},
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
		RateLimit: &keyward.RateLimit{Limit: 10, Period: keyward.Duration(time.Minute)},
		RateLimits: []keyward.NamedRateLimit{
			{Name: keyward.DefaultLimitName, Limit: 10, Period: keyward.Duration(time.Minute)},
			{Name: "daily", Limit: 1000, Period: keyward.Duration(24 * time.Hour)},
		},
		Roles:        []string{"reader", "billing:admin"},
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
		AllowedCIDRs: []string{}, RateLimits: []keyward.NamedRateLimit{}, Roles: []string{},
		Enabled: true, CreatedAt: created, UpdatedAt: created, Hash: "h",
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
