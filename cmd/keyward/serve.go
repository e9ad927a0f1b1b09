package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	redisbus "github.com/keyward/keyward/cache/redis"
	"github.com/keyward/keyward/internal/gcfloor"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/ratelimit"
	redislimit "github.com/keyward/keyward/ratelimit/redis"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/server/web"
)

// serveConfig is everything `keyward serve` is configured with.
type serveConfig struct {
	addr            string
	grpcAddr        string
	databaseURL     string
	redisURL        string
	pepperFile      string
	adminToken      string
	allowQueryKey   bool
	trustedProxies  []string
	cacheTTL        time.Duration
	cacheSize       int
	cacheWarm       bool
	staleTTL        time.Duration
	tlsCert         string
	tlsKey          string
	logFormat       string
	logLevel        string
	accessLog       string
	hasher          string
	usageFlush      time.Duration
	creditLease     time.Duration
	shutdownTimeout time.Duration
	expiryWarning   time.Duration
	leakPublicKeys  string
	leakAction      string
	policy          policyFlags
	lenient         []*lenientValue // every flag: bad values, reported by validate
}

func (a *app) serveCmd() *cobra.Command {
	var c serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP server",
		Long: `Run keyward's HTTP server: the admin API (/v1/keys, /v1/audit), the verify endpoint
(/v1/keys/verify), forward auth for proxies (/v1/auth), /healthz, /readyz, /metrics,
the API docs (/docs, /openapi.json) and the admin web page (/). With --grpc-addr it
also answers Envoy's external authorization over gRPC, as /v1/auth answers.

--default-key-lifetime and --max-key-lifetime set the key lifetime policy, which
serve records in the database at start for every instance and the keys verbs
(GET /v1/policy and keyward policy show it).

With no configuration it keeps keys in keyward.db (SQLite) in the current directory,
creates a random pepper beside it, and on first start creates an admin key and prints it once.`,
		Example: `  keyward serve
  KEYWARD_ADMIN_TOKEN=$(openssl rand -hex 32) keyward serve --addr 0.0.0.0:8080
  keyward serve --database-url postgres://keyward@db/keyward --redis-url redis://cache:6379/0 --pepper-file /run/secrets/pepper`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd.Context(), c) },
	}
	f := cmd.Flags()
	f.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&c.grpcAddr, "grpc-addr", "", "also answer Envoy's ext_authz over gRPC (envoy.service.auth.v3.Authorization/Check) on this host:port (off by default)")
	f.StringVar(&c.databaseURL, "database-url", "sqlite:keyward.db", "sqlite:<path> or postgres://user@host/db")
	f.StringVar(&c.redisURL, "redis-url", "", "redis://host:port/db: shares cache invalidations and rate limits between instances (off by default)")
	f.StringVar(&c.pepperFile, "pepper-file", "", "file with the pepper(s), current first (default: KEYWARD_PEPPER, else <sqlite file>.pepper)")
	f.StringVar(&c.adminToken, "admin-token", "", "an admin credential of at least 32 characters (prefer KEYWARD_ADMIN_TOKEN: flags show in ps)")
	f.BoolVar(&c.allowQueryKey, "allow-query-key", false, "accept keys in the api_key query parameter on /v1/auth (URLs end up in logs)")
	f.StringSliceVar(&c.trustedProxies, "trusted-proxies", nil, "CIDRs of proxies whose X-Forwarded-For is believed, comma-separated")
	f.DurationVar(&c.cacheTTL, "cache-ttl", 5*time.Minute, "how long a verified key is cached; changes made elsewhere arrive within about 1 s through the database's change log, and this bounds what it could miss")
	f.IntVar(&c.cacheSize, "cache-size", cache.DefaultMaxKeys, "how many verified keys the cache holds (about 1 KiB each); size it to your working set")
	f.BoolVar(&c.cacheWarm, "cache-warm", true, "at start, load the keys used within the last --cache-ttl into the cache in the background, so that a restart under load does not read each key in use on its first request")
	f.DurationVar(&c.staleTTL, "stale-ttl", 5*time.Minute, "how long cached keys keep verifying while the database is unreachable")
	f.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key, serve HTTPS")
	f.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	f.StringVar(&c.logFormat, "log-format", "text", "text or json")
	f.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&c.accessLog, "access-log", "default", "which requests get an access line: default (admin requests and rejections, rejections bounded per code), all, or off")
	f.StringVar(&c.hasher, "hasher", "hmac", "hmac (HMAC-SHA256 with the pepper), argon2id or bcrypt, for new keys; every scheme still verifies")
	f.DurationVar(&c.usageFlush, "usage-flush", time.Second, "how often usage counts and last-used times are written")
	f.DurationVar(&c.creditLease, "credit-lease", keyward.DefaultCreditLease, "how long credits taken ahead by a busy key are kept once it stops using them (docs/metered-api.md); 0 turns leases off: every spend of credits is a database write")
	f.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to drain requests on SIGINT/SIGTERM")
	c.eventFlags(f)
	c.policy.register(f)
	c.lenient = lenientFlags(f)
	return cmd
}

// serveInputs is serve's configuration, checked.
type serveInputs struct {
	db        dbURL
	proxies   []netip.Prefix
	peppers   []keyhash.Pepper
	newPepper string           // a pepper file to create (see findPeppers)
	cert      *tls.Certificate // nil: plain HTTP
	// leaks is nil when POST /v1/leaks/github answers 404.
	leaks *server.LeakConfig
}

// validate checks every input before anything is created or printed: the
// flags (bad values included, see lenientValue), the pepper (pepperEnv is
// KEYWARD_PEPPER) and the TLS pair. It reports every problem at once, as
// bad usage.
func (c *serveConfig) validate(pepperEnv string) (serveInputs, error) {
	var in serveInputs
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	for _, v := range c.lenient {
		if v.err != nil {
			add("%v", v.err)
		}
	}
	if !validHostPort(c.addr) {
		add("--addr %q: want host:port with a port of 0-65535, e.g. 127.0.0.1:8080", c.addr)
	}
	if c.grpcAddr != "" && !validHostPort(c.grpcAddr) {
		add("--grpc-addr %q: want host:port with a port of 0-65535, e.g. 127.0.0.1:9191", c.grpcAddr)
	}
	if c.shutdownTimeout < 0 {
		add("--shutdown-timeout must not be negative, got %v", c.shutdownTimeout)
	}
	u, err := parseDatabaseURL(c.databaseURL)
	if err != nil {
		add("%v", err)
	} else if in.peppers, in.newPepper, err = findPeppers(u, pepperSource{env: pepperEnv, file: c.pepperFile}); err != nil {
		add("%v", err)
	}
	in.db = u
	if c.redisURL != "" {
		if _, err := goredis.ParseURL(c.redisURL); err != nil {
			add("--redis-url: %s", redisURLError(err))
		}
	}
	if c.adminToken != "" && len(c.adminToken) < server.MinAdminTokenLength {
		add("--admin-token / KEYWARD_ADMIN_TOKEN: at least %d characters, got %d", server.MinAdminTokenLength, len(c.adminToken))
	}
	in.proxies = parseProxies(c.trustedProxies, add)
	if c.cacheTTL <= 0 {
		add("--cache-ttl must be positive, got %v", c.cacheTTL)
	}
	if c.cacheSize < 1 {
		add("--cache-size must be at least 1, got %d", c.cacheSize)
	}
	if c.creditLease < 0 {
		add("--credit-lease must not be negative, got %v", c.creditLease)
	}
	if c.staleTTL < 0 {
		add("--stale-ttl must not be negative, got %v", c.staleTTL)
	}
	in.cert = c.loadTLS(add)
	if c.logFormat != "text" && c.logFormat != "json" {
		add("--log-format must be text or json, got %q", c.logFormat)
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		add("--log-level: %v", err)
	}
	if _, err := server.ParseAccessLog(c.accessLog); err != nil {
		add("--access-log must be all, default or off, got %q", c.accessLog)
	}
	switch c.hasher {
	case "hmac", "argon2id", "bcrypt":
	default:
		add("--hasher must be hmac, argon2id or bcrypt, got %q", c.hasher)
	}
	if c.usageFlush <= 0 || c.usageFlush > time.Minute {
		add("--usage-flush must be between 1ns and 1m, got %v", c.usageFlush)
	}
	c.checkEvents(&in, add)
	c.policy.check(add)
	if len(probs) > 0 {
		for i, p := range probs {
			probs[i] = c.nameSource(p)
		}
		return in, &usageError{msg: "invalid configuration:\n  " + strings.Join(probs, "\n  ")}
	}
	return in, nil
}

// nameSource names the environment variable in a problem about a flag whose
// value came from it: "--log-format must be ..." becomes
// "KEYWARD_LOG_FORMAT (--log-format) must be ...".
func (c *serveConfig) nameSource(problem string) string {
	for _, v := range c.lenient {
		if !strings.HasPrefix(v.source, "KEYWARD_") {
			continue
		}
		flag := "--" + strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(v.source, "KEYWARD_"), "_", "-"))
		if rest, ok := strings.CutPrefix(problem, flag); ok && (rest == "" || rest[0] == ' ' || rest[0] == ':') {
			return v.source + " (" + flag + ")" + rest
		}
	}
	return problem
}

// validHostPort reports whether addr is host:port with a port number
// net.Listen takes (a number of 0-65535, or a service name).
func validHostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if n, err := strconv.Atoi(port); err == nil {
		return n >= 0 && n <= 65535
	}
	return port != ""
}

// parseProxies parses --trusted-proxies: CIDRs, or addresses.
func parseProxies(list []string, add func(string, ...any)) []netip.Prefix {
	var proxies []netip.Prefix
	for _, p := range list {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			if a, aerr := netip.ParseAddr(p); aerr == nil {
				pre, err = netip.PrefixFrom(a, a.BitLen()), nil
			}
		}
		if err != nil {
			add("--trusted-proxies: %q is not a CIDR", p)
			continue
		}
		proxies = append(proxies, pre.Masked())
	}
	return proxies
}

// loadTLS loads the certificate and key, if given: a broken pair is found
// before anything is created or printed, not when the first connection
// comes.
func (c *serveConfig) loadTLS(add func(string, ...any)) *tls.Certificate {
	if c.tlsCert == "" && c.tlsKey == "" {
		return nil
	}
	if c.tlsCert == "" || c.tlsKey == "" {
		add("--tls-cert and --tls-key go together")
		for _, f := range []string{c.tlsCert, c.tlsKey} {
			if _, err := os.Stat(f); f != "" && err != nil {
				add("TLS file %s: %v", f, errors.Unwrap(err))
			}
		}
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		add("--tls-cert %s, --tls-key %s: %v", c.tlsCert, c.tlsKey, err)
		return nil
	}
	return &cert
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	lvl, _ := parseLevel(level)
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// gcFloor is how far the heap grows beyond the live heap before a collection,
// at least (internal/gcfloor): a server with a small cache collects every
// 64 MB of garbage instead of every 2-4 MB, which under load saves about a
// sixth of the CPU /healthz costs (docs/benchmarks.md).
const gcFloor = 64 << 20

// serve checks every input, then sets up, in this order: the listener, the
// database (created and migrated), the pepper (created if need be), the
// Service and the HTTP server. Only when all that worked does it create the
// first admin key and print it, and say it is listening.
func (a *app) serve(ctx context.Context, c serveConfig) error {
	in, err := c.validate(a.getenv("KEYWARD_PEPPER"))
	if err != nil {
		return err
	}
	log := newLogger(a.stderr, c.logFormat, c.logLevel)
	defer gcfloor.Start(gcFloor)()
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", c.addr, err)
	}
	defer ln.Close()
	grpcLn, err := listenGRPC(c.grpcAddr)
	if err != nil {
		return err
	}
	if grpcLn != nil {
		defer grpcLn.Close()
	}
	base, err := openStore(ctx, in.db, openOptions{migrate: true})
	if err != nil {
		return err
	}
	if in.newPepper != "" {
		if err := noKeysWithoutPepper(ctx, base, in.newPepper); err != nil {
			base.Close()
			return err
		}
		if in.peppers, err = createPepper(in.newPepper, log); err != nil {
			base.Close()
			return err
		}
	}
	hasher, err := buildHasher(c.hasher, in.peppers)
	if err != nil {
		base.Close()
		return err
	}
	var done cleanup
	defer done.run()
	svc, handler, err := a.assemble(ctx, c, in, base, hasher, log, &done)
	if err != nil {
		return err
	}
	hs := handler.NewHTTPServer(c.addr)
	if in.cert != nil {
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*in.cert}}
	}
	if err := recordPolicy(ctx, svc, c.policy.policy(), log); err != nil {
		return err
	}
	if err := a.bootstrapAdmin(ctx, svc, c.adminToken != "", log); err != nil {
		return err
	}
	scheme := "http"
	if in.cert != nil {
		scheme = "https"
	}
	attrs := []any{"url", scheme + "://" + ln.Addr().String(), "database", in.db.kind, "redis", c.redisURL != "", "version", buildVersion()}
	if grpcLn != nil {
		attrs = append(attrs, "grpc_addr", grpcLn.Addr().String())
	}
	ctx, stopGRPC := startGRPC(ctx, grpcLn, svc, c, in, log)
	log.Info("keyward listening", attrs...)
	err = runServer(ctx, hs, ln, in.cert != nil, c.shutdownTimeout, log)
	if gerr := stopGRPC(); err == nil {
		err = gerr
	}
	return err
}

// warmCache loads the keys used within the last ttl into the cache (see
// cache.Store.Warm) and logs how many, and how long it took.
func warmCache(ctx context.Context, cached *cache.Store, recent keyward.RecentKeys, ttl time.Duration, log *slog.Logger) {
	began := time.Now()
	n, err := cached.Warm(ctx, recent, began.Add(-ttl))
	if err != nil && !errors.Is(err, keyward.ErrClosed) && ctx.Err() == nil {
		log.Warn("cache: warming failed; keys load on their first request", "keys", n, "err", err)
		return
	}
	log.Info("cache: warmed with the keys in use", "keys", n, "used_within", ttl.String(), "took_ms", time.Since(began).Milliseconds())
}

// settingsRefresh bounds how long a server takes to see what reaches it
// through no change log: legacy key formats recorded by a keys import, and
// the memory that a key id is unknown.
const settingsRefresh = 30 * time.Second

// assemble builds the Service on base, with the cache, the invalidation bus,
// the rate limiter and the metrics, and the HTTP handler for it. It closes
// base if it fails; otherwise done closes everything, base last.
func (a *app) assemble(ctx context.Context, c serveConfig, in serveInputs, base keyward.Store, hasher keyward.Hasher, log *slog.Logger, done *cleanup) (*keyward.Service, *server.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	instrumented, err := metrics.InstrumentStore(base, reg)
	if err != nil {
		base.Close()
		return nil, nil, err
	}
	bus, limiter, limiterStats := a.sharing(ctx, c.redisURL, log, done)
	// Changes written by other processes (the CLI, instances without a
	// shared Redis) reach the cache through the database's events outbox
	// within about a second; --cache-ttl is the bound for what it misses.
	feed := cache.Follow(ctx, bus, base, &cache.FollowOptions{Logger: log})
	cached, err := cache.New(instrumented, &cache.Options{TTL: c.cacheTTL, StaleTTL: c.staleTTL, MaxKeys: c.cacheSize, Bus: feed, Logger: log,
		NegativeTTL: min(c.cacheTTL, settingsRefresh)})
	if err != nil {
		feed.Close()
		base.Close()
		return nil, nil, err
	}
	done.add(func() { cached.Close() }) // closes the store too, last
	done.add(feed.Close)                // stops reading the store before it is closed
	if recent, ok := base.(keyward.RecentKeys); ok && c.cacheWarm {
		go warmCache(ctx, cached, recent, c.cacheTTL, log)
	}
	opts := &keyward.Options{Limiter: limiter, Logger: log, UsageFlushInterval: c.usageFlush, LookupTime: cached.LookupTime,
		// Legacy key formats recorded by a keys import are a setting, which
		// no change log carries: re-read every settingsRefresh.
		LegacyFormatsRefresh: min(c.cacheTTL, settingsRefresh), CreditLease: c.creditLease}
	if c.creditLease == 0 {
		opts.CreditLease = -1 // off
	}
	c.serviceEvents(opts, startDispatcher(base, log, done)) // the dispatcher stops after the Service, before the store
	svc, err := keyward.New(cached, hasher, opts)
	if err != nil {
		return nil, nil, err
	}
	done.add(func() {
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Close(fctx); err != nil {
			log.Error("flushing usage at shutdown", "err", err)
		}
	})
	reg.MustRegister(metrics.NewCollector(metrics.Sources{
		Verifications: svc.Stats,
		Cache: func() metrics.CacheStats {
			s := cached.Stats()
			return metrics.CacheStats{Hits: s.Hits, Misses: s.Misses, StaleServed: s.StaleServed, NegativeHits: s.NegativeHits, BudgetDenials: s.BudgetDenials, LoadErrors: s.LoadErrors, Refreshes: s.Refreshes, Size: s.Size}
		},
		Limiter:    limiterStats,
		BusHealthy: func() bool { return feed.Healthy() && bus.Healthy() }, // the change log, and Redis when set
		Leases:     svc.CreditLeaseStats,
	}))
	srv, err := server.New(server.Config{
		Service: svc, AdminToken: c.adminToken, TrustedProxies: in.proxies, AllowQueryKey: c.allowQueryKey,
		Logger: log, AccessLog: server.AccessLog(c.accessLog), Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Ready: base.Ping, WebUI: web.Handler(), Version: buildVersion(), Leaks: in.leaks,
	})
	return svc, srv, err
}

// sharing returns the invalidation bus and the rate limiter: in-process, or
// on Redis when redisURL is set (already checked). done closes what it opens.
func (a *app) sharing(ctx context.Context, redisURL string, log *slog.Logger, done *cleanup) (cache.Bus, keyward.Limiter, func() metrics.LimiterStats) {
	if redisURL == "" {
		l := ratelimit.NewLocal()
		return cache.NewLocalBus(), l, func() metrics.LimiterStats {
			al, de := l.Stats()
			return metrics.LimiterStats{Allowed: al, Denied: de}
		}
	}
	opts, _ := goredis.ParseURL(redisURL)
	opts.Protocol = 2 // see package cache/redis
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, time.Second, time.Second
	// Every verification of a rate-limited key is one Redis round trip: a
	// burst of concurrent requests must find a connection rather than queue
	// for one until the limiter's deadline (which it would take for Redis
	// being down, and decide locally, per instance).
	opts.PoolSize = max(opts.PoolSize, 128)
	redisLogger.Store(log)
	client := goredis.NewClient(opts)
	done.add(func() { client.Close() })
	rb := redisbus.New(client, &redisbus.Options{Logger: log})
	done.add(func() { rb.Close() })
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if err := rb.WaitReady(wctx); err != nil {
		log.Error("Redis is not reachable yet; starting with the fallback TTL and local rate limits", "err", err)
	}
	cancel()
	rl := redislimit.New(client, &redislimit.Options{Logger: log})
	return rb, rl, func() metrics.LimiterStats {
		al, de, fb := rl.Stats()
		return metrics.LimiterStats{Allowed: al, Denied: de, Fallbacks: fb, Degraded: rl.Degraded()}
	}
}

// runServer serves on ln until ctx is done, then drains requests for at
// most timeout.
func runServer(ctx context.Context, hs *http.Server, ln net.Listener, useTLS bool, timeout time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	// Deadlines from one sweep every half second instead of a timer each
	// (server.CoarseDeadlines), below TLS too.
	ln = server.CoarseDeadlines(ln)
	go func() {
		if useTLS {
			errc <- hs.ServeTLS(ln, "", "") // the pair is in hs.TLSConfig
		} else {
			// net/http's own 400 and 431 in problem+json, as every error
			// (under TLS they stay text/plain: docs/security.md).
			errc <- hs.Serve(server.ProblemListener(ln))
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests, then flushing usage")
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Error("draining requests", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
