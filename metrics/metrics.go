// Package metrics exports keyward's counters to Prometheus
// (github.com/prometheus/client_golang). All metric names start with
// "keyward_".
//
// It reads the counters the other packages keep (a Service's outcomes, a
// cache's hits, a limiter's decisions) through plain functions, so it
// depends on none of them; cmd/keyward wires them. [InstrumentStore] times
// every call that reaches the store.
package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward"
)

// CacheStats are the counters of a verified-key cache.
type CacheStats struct {
	Hits, Misses, StaleServed, NegativeHits, BudgetDenials, LoadErrors uint64
	// Refreshes counts the background reloads of keys in use.
	Refreshes uint64
	Size      int
}

// LimiterStats are the counters of a rate limiter.
type LimiterStats struct {
	Allowed, Denied, Fallbacks uint64
	// Degraded reports whether a shared limiter currently decides locally.
	Degraded bool
}

// Sources are the functions the collector reads at each scrape; nil ones are
// skipped.
type Sources struct {
	Verifications func() map[keyward.Outcome]uint64
	Cache         func() CacheStats
	Limiter       func() LimiterStats
	// BusHealthy reports whether the invalidation bus is up.
	BusHealthy func() bool
	// Leases reports the credit leases (keyward.Service.CreditLeaseStats).
	Leases func() keyward.CreditLeaseStats
}

var (
	descVerifications = prometheus.NewDesc("keyward_verifications_total", "Key verifications by outcome.", []string{"outcome"}, nil)
	descCache         = prometheus.NewDesc("keyward_cache_requests_total", "Verified-key cache lookups by result (hit, miss, stale: served during a store outage, negative: a known-unknown id, budget_denied: an id outside the filter of existing ids, past the lookup budget).", []string{"result"}, nil)
	descCacheErrors   = prometheus.NewDesc("keyward_cache_load_errors_total", "Store errors while loading keys into the cache.", nil, nil)
	descCacheRefresh  = prometheus.NewDesc("keyward_cache_refreshes_total", "Background reloads of cached keys in use, before their TTL ends.", nil, nil)
	descCacheSize     = prometheus.NewDesc("keyward_cache_keys", "Keys held in the verified-key cache.", nil, nil)
	descLimiter       = prometheus.NewDesc("keyward_ratelimit_decisions_total", "Rate-limit decisions by result.", []string{"result"}, nil)
	descFallbacks     = prometheus.NewDesc("keyward_ratelimit_fallbacks_total", "Rate-limit decisions made locally because the shared limiter (Redis) failed.", nil, nil)
	descDegraded      = prometheus.NewDesc("keyward_ratelimit_degraded", "1 while the shared limiter decides locally.", nil, nil)
	descBus           = prometheus.NewDesc("keyward_invalidation_bus_up", "1 while the invalidation bus delivers events.", nil, nil)
	descLeaseHeld     = prometheus.NewDesc("keyward_credit_leases_held", "Credits this instance holds in leases, taken from the database ahead of busy keys' spends and not spent yet.", nil, nil)
	descLeaseTaken    = prometheus.NewDesc("keyward_credit_leases_taken_total", "Credit leases taken from the database.", nil, nil)
	descLeaseBack     = prometheus.NewDesc("keyward_credit_leases_returned_total", "Credits of leases given back to the database unspent.", nil, nil)
)

// Collector is a prometheus.Collector over Sources.
type Collector struct{ src Sources }

// NewCollector returns a collector reading src at each scrape.
func NewCollector(src Sources) *Collector { return &Collector{src: src} }

// Describe sends the descriptors of every metric the collector may emit.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVerifications, descCache, descCacheErrors, descCacheRefresh, descCacheSize, descLimiter, descFallbacks, descDegraded, descBus, descLeaseHeld, descLeaseTaken, descLeaseBack} {
		ch <- d
	}
}

// Collect reads the sources.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	if f := c.src.Verifications; f != nil {
		for o, n := range f() {
			counter(descVerifications, n, o.String())
		}
	}
	if f := c.src.Cache; f != nil {
		s := f()
		counter(descCache, s.Hits, "hit")
		counter(descCache, s.Misses, "miss")
		counter(descCache, s.StaleServed, "stale")
		counter(descCache, s.NegativeHits, "negative")
		counter(descCache, s.BudgetDenials, "budget_denied")
		counter(descCacheErrors, s.LoadErrors)
		counter(descCacheRefresh, s.Refreshes)
		gauge(descCacheSize, float64(s.Size))
	}
	if f := c.src.Limiter; f != nil {
		s := f()
		counter(descLimiter, s.Allowed, "allowed")
		counter(descLimiter, s.Denied, "denied")
		counter(descFallbacks, s.Fallbacks)
		gauge(descDegraded, b2f(s.Degraded))
	}
	if f := c.src.BusHealthy; f != nil {
		gauge(descBus, b2f(f()))
	}
	if f := c.src.Leases; f != nil {
		s := f()
		gauge(descLeaseHeld, float64(s.Held))
		counter(descLeaseTaken, s.Taken)
		counter(descLeaseBack, s.GivenBack)
	}
}

// Store times the calls to the store it wraps: keyward_store_duration_seconds
// and keyward_store_errors_total by operation, and counts the rows usage
// flushes write (keyward_usage_rows_written_total: one per key, minute and
// outcome counted, and one last-used time per key). It is a keyward.Store: the
// methods it does not time (owner and role administration, the background
// id listing) pass through by embedding.
type Store struct {
	keyward.Store
	next     keyward.Store
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	// usageCounts and usageLastUsed count the rows of usage batches written.
	usageCounts, usageLastUsed prometheus.Counter
}

var _ keyward.Store = (*Store)(nil)

// InstrumentStore wraps next and registers its metrics with reg.
func InstrumentStore(next keyward.Store, reg prometheus.Registerer) (*Store, error) {
	s := &Store{
		Store: next, next: next,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyward_store_duration_seconds",
			Help:    "Latency of store calls by operation.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_store_errors_total",
			Help: "Failed store calls by operation (not-found and conflict answers are not failures).",
		}, []string{"op"}),
	}
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_usage_rows_written_total",
		Help: "Rows written by usage flushes: counts (one per key, minute and outcome) and last_used (one per key used since the last flush).",
	}, []string{"kind"})
	s.usageCounts, s.usageLastUsed = rows.WithLabelValues("counts"), rows.WithLabelValues("last_used")
	for _, c := range []prometheus.Collector{s.duration, s.errors, rows} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) observe(op string, start time.Time, err error) {
	s.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !isAnswer(err) {
		s.errors.WithLabelValues(op).Inc()
	}
}

// isAnswer tells errors that are the store's answer from failures.
func isAnswer(err error) bool {
	return errors.Is(err, keyward.ErrNotFound) || errors.Is(err, keyward.ErrConflict) || errors.Is(err, keyward.ErrInvalid)
}

// Create times Create.
func (s *Store) Create(ctx context.Context, k *keyward.Key, a *keyward.AuditEntry) error {
	start := time.Now()
	err := s.next.Create(ctx, k, a)
	s.observe("create", start, err)
	return err
}

// CreateBatch times CreateBatch.
func (s *Store) CreateBatch(ctx context.Context, keys []*keyward.Key, audit []*keyward.AuditEntry) (int, error) {
	start := time.Now()
	n, err := s.next.CreateBatch(ctx, keys, audit)
	s.observe("create_batch", start, err)
	return n, err
}

// Get times Get.
func (s *Store) Get(ctx context.Context, id string) (k *keyward.Key, err error) {
	start := time.Now()
	k, err = s.next.Get(ctx, id)
	s.observe("get", start, err)
	return k, err
}

// ReloadKey times the store's ReloadKey (keyward.KeyReloader), or Get when
// it has none: Get's answer meets ReloadKey's contract.
func (s *Store) ReloadKey(ctx context.Context, id string) (k *keyward.Key, err error) {
	start := time.Now()
	if r, ok := s.next.(keyward.KeyReloader); ok {
		k, err = r.ReloadKey(ctx, id)
	} else {
		k, err = s.next.Get(ctx, id)
	}
	s.observe("reload", start, err)
	return k, err
}

// ReturnsFreshKeys reports what the store behind it reports
// (keyward.FreshKeyReader): its reads pass the instances through.
func (s *Store) ReturnsFreshKeys() bool {
	f, ok := s.next.(keyward.FreshKeyReader)
	return ok && f.ReturnsFreshKeys()
}

// List times List.
func (s *Store) List(ctx context.Context, f keyward.ListFilter) (ks []*keyward.Key, err error) {
	start := time.Now()
	ks, err = s.next.List(ctx, f)
	s.observe("list", start, err)
	return ks, err
}

// CountKeys times CountKeys.
func (s *Store) CountKeys(ctx context.Context, f keyward.ListFilter) (n int64, err error) {
	start := time.Now()
	n, err = s.next.CountKeys(ctx, f)
	s.observe("count_keys", start, err)
	return n, err
}

// Update times Update.
func (s *Store) Update(ctx context.Context, id string, fn func(*keyward.Key) (*keyward.AuditEntry, error)) (k *keyward.Key, err error) {
	start := time.Now()
	k, err = s.next.Update(ctx, id, fn)
	s.observe("update", start, err)
	return k, err
}

// Rotate times Rotate.
func (s *Store) Rotate(ctx context.Context, id string, fn func(*keyward.Key) (*keyward.Key, *keyward.AuditEntry, error)) (o, n *keyward.Key, err error) {
	start := time.Now()
	o, n, err = s.next.Rotate(ctx, id, fn)
	s.observe("rotate", start, err)
	return o, n, err
}

// Delete times Delete.
func (s *Store) Delete(ctx context.Context, id string, a *keyward.AuditEntry) error {
	start := time.Now()
	err := s.next.Delete(ctx, id, a)
	s.observe("delete", start, err)
	return err
}

// SpendCredits times SpendCredits.
func (s *Store) SpendCredits(ctx context.Context, sp keyward.CreditSpend) (keyward.CreditBalance, error) {
	start := time.Now()
	b, err := s.next.SpendCredits(ctx, sp)
	s.observe("spend_credits", start, err)
	return b, err
}

// RefundCredits times RefundCredits.
func (s *Store) RefundCredits(ctx context.Context, r keyward.CreditRefund) (keyward.CreditRefunded, error) {
	if r.Amount == 0 {
		return keyward.RefundCredits(ctx, s.next, r)
	}
	start := time.Now()
	b, err := keyward.RefundCredits(ctx, s.next, r)
	s.observe("refund_credits", start, err)
	return b, err
}

// GetOwner times GetOwner.
func (s *Store) GetOwner(ctx context.Context, name string) (*keyward.Owner, error) {
	start := time.Now()
	o, err := s.next.GetOwner(ctx, name)
	s.observe("get_owner", start, err)
	return o, err
}

// GetRole times GetRole.
func (s *Store) GetRole(ctx context.Context, name string) (*keyward.Role, error) {
	start := time.Now()
	r, err := s.next.GetRole(ctx, name)
	s.observe("get_role", start, err)
	return r, err
}

// RecordUsage times RecordUsage and counts the rows of a batch written.
func (s *Store) RecordUsage(ctx context.Context, b keyward.UsageBatch) error {
	start := time.Now()
	err := s.next.RecordUsage(ctx, b)
	s.observe("record_usage", start, err)
	if err == nil {
		s.usageCounts.Add(float64(len(b.Counts)))
		s.usageLastUsed.Add(float64(len(b.LastUsed)))
	}
	return err
}

// Usage times Usage.
func (s *Store) Usage(ctx context.Context, q keyward.UsageQuery) ([]keyward.UsageCount, error) {
	start := time.Now()
	u, err := s.next.Usage(ctx, q)
	s.observe("usage", start, err)
	return u, err
}

// ListAudit times ListAudit.
func (s *Store) ListAudit(ctx context.Context, f keyward.AuditFilter) ([]keyward.AuditEntry, error) {
	start := time.Now()
	a, err := s.next.ListAudit(ctx, f)
	s.observe("list_audit", start, err)
	return a, err
}

// Counts times Counts.
func (s *Store) Counts(ctx context.Context, now time.Time) (map[keyward.Status]int64, error) {
	start := time.Now()
	c, err := s.next.Counts(ctx, now)
	s.observe("counts", start, err)
	return c, err
}

// Ping times Ping.
func (s *Store) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.next.Ping(ctx)
	s.observe("ping", start, err)
	return err
}
