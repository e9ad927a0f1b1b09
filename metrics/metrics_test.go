package metrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/store/memory"
	"github.com/keyward/keyward/store/storetest"
)

func TestCollector(t *testing.T) {
	c := metrics.NewCollector(metrics.Sources{
		Verifications: func() map[keyward.Outcome]uint64 {
			return map[keyward.Outcome]uint64{keyward.OutcomeValid: 7, keyward.OutcomeNotFound: 2}
		},
		Cache:      func() metrics.CacheStats { return metrics.CacheStats{Hits: 5, Misses: 1, Refreshes: 2, Size: 3} },
		Limiter:    func() metrics.LimiterStats { return metrics.LimiterStats{Allowed: 4, Degraded: true} },
		BusHealthy: func() bool { return true },
		Leases:     func() keyward.CreditLeaseStats { return keyward.CreditLeaseStats{Held: 1500, Taken: 3, GivenBack: 700} },
	})
	want := `
# HELP keyward_verifications_total Key verifications by outcome.
# TYPE keyward_verifications_total counter
keyward_verifications_total{outcome="NOT_FOUND"} 2
keyward_verifications_total{outcome="VALID"} 7
# HELP keyward_ratelimit_degraded 1 while the shared limiter decides locally.
# TYPE keyward_ratelimit_degraded gauge
keyward_ratelimit_degraded 1
# HELP keyward_cache_keys Keys held in the verified-key cache.
# TYPE keyward_cache_keys gauge
keyward_cache_keys 3
# HELP keyward_cache_refreshes_total Background reloads of cached keys in use, before their TTL ends.
# TYPE keyward_cache_refreshes_total counter
keyward_cache_refreshes_total 2
# HELP keyward_credit_leases_held Credits this instance holds in leases, taken from the database ahead of busy keys' spends and not spent yet.
# TYPE keyward_credit_leases_held gauge
keyward_credit_leases_held 1500
# HELP keyward_credit_leases_returned_total Credits of leases given back to the database unspent.
# TYPE keyward_credit_leases_returned_total counter
keyward_credit_leases_returned_total 700
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "keyward_verifications_total", "keyward_ratelimit_degraded", "keyward_cache_keys", "keyward_cache_refreshes_total",
		"keyward_credit_leases_held", "keyward_credit_leases_returned_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c); n != 18 {
		t.Errorf("%d metrics collected, want 18 (2 outcomes, 8 cache, 4 limiter, 1 bus, 3 leases)", n)
	}
}

func TestInstrumentStore(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := metrics.InstrumentStore(memory.New(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.Get(ctx, "0123456789abcdef") // not found: an answer, not an error
	s.Ping(ctx)
	n, err := testutil.GatherAndCount(reg, "keyward_store_duration_seconds")
	if err != nil || n != 2 {
		t.Errorf("store duration series = %d, %v; want 2 (get, ping)", n, err)
	}
	if n, _ := testutil.GatherAndCount(reg, "keyward_store_errors_total"); n != 0 {
		t.Errorf("a not-found answer counted as a store error")
	}
}

func TestInstrumentStoreCountsUsageRows(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := metrics.InstrumentStore(memory.New(), reg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	b := keyward.UsageBatch{
		Counts: []keyward.UsageCount{
			{KeyID: "0123456789abcdef", Start: now, Outcome: keyward.OutcomeValid, Count: 5},
			{KeyID: "0123456789abcdef", Start: now, Outcome: keyward.OutcomeRateLimited, Count: 1},
			{KeyID: "fedcba9876543210", Start: now, Outcome: keyward.OutcomeValid, Count: 2},
		},
		LastUsed: map[string]time.Time{"0123456789abcdef": now, "fedcba9876543210": now},
	}
	for range 2 {
		if err := s.RecordUsage(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP keyward_usage_rows_written_total Rows written by usage flushes: counts (one per key, minute and outcome) and last_used (one per key used since the last flush).
# TYPE keyward_usage_rows_written_total counter
keyward_usage_rows_written_total{kind="counts"} 6
keyward_usage_rows_written_total{kind="last_used"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "keyward_usage_rows_written_total"); err != nil {
		t.Error(err)
	}
}

func TestConformance(t *testing.T) {
	storetest.RunDecorator(t, func(*testing.T) keyward.Store { return memory.New() },
		func(t *testing.T, next keyward.Store) keyward.Store {
			s, err := metrics.InstrumentStore(next, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
}

// freshMemory says its key reads return new instances.
type freshMemory struct{ *memory.Store }

func (freshMemory) ReturnsFreshKeys() bool { return true }

// TestInstrumentStoreReportsFreshKeysOfTheStoreBehind: the instrumented
// store passes its instances through, so it says what the store behind it
// says (keyward.FreshKeyReader), and a cache in front keeps them uncopied.
func TestInstrumentStoreReportsFreshKeysOfTheStoreBehind(t *testing.T) {
	for _, tc := range []struct {
		next keyward.Store
		want bool
	}{{memory.New(), false}, {freshMemory{memory.New()}, true}} {
		s, err := metrics.InstrumentStore(tc.next, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		if got := s.ReturnsFreshKeys(); got != tc.want {
			t.Errorf("over %T: ReturnsFreshKeys() = %v, want %v", tc.next, got, tc.want)
		}
	}
}
