// Command load measures keyward serve on loopback: it builds the server,
// fills a database with N keys, starts the server on it, and drives a
// bounded load through /v1/auth over many keys (a mix of valid, unknown and
// rate-limited), next to a static handler of the same server (/healthz) in
// the same run. It prints requests per second, p50 and p99 latency and the
// server's allocations per request, and can write them as JSON for
// bench/plot. It lives in the bench module; from the repository's root:
//
//	go -C bench run ./load -keys 10000 -duration 10s
//	go -C bench run ./load -keys 1000000 -json out/keys-1000000.json
//	go -C bench run ./load -soak 10m -rate 2000      # heap must stay flat
//
// (go -C runs it in bench/, so relative paths start there.) It builds
// keyward from the checkout that holds this file, wherever it runs.
//
// Nothing but Go is needed; the load generator is in this program.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/bench/internal/harness"
)

const (
	adminToken = "load-harness-admin-token-of-32-characters"
	pepper     = "load-harness-pepper-of-at-least-32-bytes"
)

type config struct {
	keys        int
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	valid       int // percent of requests with a valid key
	unknown     int // percent with a well-formed key that does not exist
	limited     int // percent with a key whose rate limit is spent
	cacheTTL    string
	cacheSize   int
	dist        string
	soak        time.Duration
	rate        int
	jsonOut     string
	workdir     string
	databaseURL string // "": SQLite; else a PostgreSQL server
	instances   int
	redisURL    string
	sameRequest bool // /healthz gets the valid keys' Authorization headers too
	noWarm      bool // the servers start with --cache-warm=false
	restart     bool // restart the servers after the warm-up
}

// Result is one measured scenario.
type Result struct {
	Name         string  `json:"name"`
	Keys         int     `json:"keys"`
	Requests     int64   `json:"requests"`
	RPS          float64 `json:"rps"`
	P50Ms        float64 `json:"p50_ms"`
	P90Ms        float64 `json:"p90_ms"`
	P99Ms        float64 `json:"p99_ms"`
	AllocsPerReq float64 `json:"allocs_per_request"`
	// CPUPerReqUs is the servers' CPU time per request, in microseconds
	// (process_cpu_seconds_total; the usage flushes included).
	CPUPerReqUs float64 `json:"cpu_us_per_request"`
	// CacheHitRatio is hits / (hits + misses) of the verified-key cache
	// during the scenario; 0 when it made no lookup.
	CacheHitRatio float64 `json:"cache_hit_ratio"`
	// RefreshesPerSec is the background reloads of cached keys in use
	// (keyward_cache_refreshes_total) per second, all instances together.
	RefreshesPerSec float64 `json:"cache_refreshes_per_second"`
	Errors          int64   `json:"errors"`
	Codes           map[int]int64
	// UsageRowsPerSec is the usage rows (counts and last-used times) each
	// instance wrote per second during the scenario.
	UsageRowsPerSec []float64 `json:"usage_rows_per_second"`
}

// Report is what -json writes.
type Report struct {
	Keys      int               `json:"keys"`
	Store     string            `json:"store"`
	Instances int               `json:"instances"`
	CacheTTL  string            `json:"cache_ttl"`
	Mix       string            `json:"mix"`
	Dist      string            `json:"dist"`
	Results   []Result          `json:"results"`
	Ratios    map[string]string `json:"ratios"`
	Machine   string            `json:"machine"`
	// SameRequest is whether /healthz got the valid keys' headers too.
	SameRequest bool        `json:"same_request"`
	Soak        *SoakResult `json:"soak,omitempty"`
}

func main() {
	var c config
	flag.IntVar(&c.keys, "keys", 10000, "keys in the store")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured run")
	flag.IntVar(&c.concurrency, "concurrency", 32, "concurrent connections")
	flag.DurationVar(&c.warmup, "warmup", 5*time.Second, "mixed load before the measured runs (a server that has run for a while has its working set cached; at 1,000,000 keys a minute or more gets closer to that)")
	flag.IntVar(&c.valid, "valid", 80, "percent of requests with a valid key")
	flag.IntVar(&c.unknown, "unknown", 10, "percent with a well-formed key that does not exist")
	flag.IntVar(&c.limited, "limited", 10, "percent with a rate-limited key (mostly 429)")
	flag.StringVar(&c.cacheTTL, "cache-ttl", "", "the server's --cache-ttl (default: the server's default; 1ns: every verification reads the store)")
	flag.IntVar(&c.cacheSize, "cache-size", 0, "the server's --cache-size (0: its default)")
	flag.StringVar(&c.dist, "dist", "zipf", "how valid keys are picked: zipf (a few keys carry most traffic, as in production) or uniform (the worst case for a cache)")
	flag.DurationVar(&c.soak, "soak", 0, "run a soak at -rate requests per second for this long instead, and check the heap stays flat")
	flag.IntVar(&c.rate, "rate", 2000, "requests per second in the soak")
	flag.StringVar(&c.jsonOut, "json", "", "also write the results to this JSON file")
	flag.StringVar(&c.workdir, "workdir", "", "where to keep the binary and databases (default: a temp dir; databases are reused by key count)")
	flag.StringVar(&c.databaseURL, "database-url", "", "a postgres:// URL of a PostgreSQL server to run on, in a database keyward_load_<keys> made there (default: SQLite in -workdir)")
	flag.IntVar(&c.instances, "instances", 1, "keyward serve processes sharing the database (more than 1 needs PostgreSQL and -redis-url); the load spreads over them")
	flag.StringVar(&c.redisURL, "redis-url", "", "Redis shared by the instances (cache invalidations and rate limits)")
	flag.BoolVar(&c.sameRequest, "same-request", true, "send /healthz the Authorization headers of the valid-keys scenario too, drawn the same way, so that a ratio compares what the server does with the same request bytes (false: /healthz without a key, as runs before this flag)")
	warm := flag.Bool("cache-warm", true, "the server's --cache-warm: at start it loads the keys used within its cache TTL")
	flag.BoolVar(&c.restart, "restart", false, "after the warm-up, restart the servers (SIGTERM, then start again, as a deploy under traffic) and first measure valid keys on the just-restarted servers")
	flag.Parse()
	c.noWarm = !*warm
	if c.instances > 1 && (c.databaseURL == "" || c.redisURL == "") {
		log.Fatal("-instances above 1 needs -database-url (PostgreSQL) and -redis-url")
	}
	if c.valid+c.unknown+c.limited != 100 {
		log.Fatal("-valid, -unknown and -limited must add up to 100")
	}
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

func run(c config) error {
	work := c.workdir
	if work == "" {
		work = filepath.Join(os.TempDir(), "keyward-load")
	}
	os.MkdirAll(work, 0o755)
	bin, err := harness.Build(work)
	if err != nil {
		return err
	}
	var db string
	var secrets []string
	if c.databaseURL != "" {
		db, secrets, err = seedPostgres(bin, work, c.databaseURL, c.keys)
	} else {
		db, secrets, err = seed(bin, work, c.keys)
	}
	if err != nil {
		return err
	}
	srv, err := startCluster(bin, db, c.instances, c.serveOpts())
	if err != nil {
		return err
	}
	defer func() { srv.stop() }()
	limitedKeys, err := makeLimited(srv.servers[0], 20)
	if err != nil {
		return err
	}
	validKey, pick, err := chooseKeys(c, secrets, limitedKeys)
	if err != nil {
		return err
	}
	storeName := "SQLite"
	if c.databaseURL != "" {
		storeName = "PostgreSQL"
	}
	report := Report{Keys: c.keys, Store: storeName, Instances: c.instances, CacheTTL: cmp.Or(c.cacheTTL, "default"), Dist: c.dist, Mix: fmt.Sprintf("valid %d%%, unknown %d%%, rate-limited %d%%", c.valid, c.unknown, c.limited),
		Ratios: map[string]string{}, Machine: fmt.Sprintf("%d CPUs, %s", runtime.NumCPU(), runtime.Version()), SameRequest: c.sameRequest}
	if c.soak > 0 {
		s, err := soak(srv.servers[0], c, pick)
		report.Soak = &s
		if err2 := write(c.jsonOut, report); err2 != nil {
			return err2
		}
		return err
	}
	// Warm up: every valid key once would take long at 1M; warm what the
	// load will use, at a bounded cost.
	drive(srv.urls(), c.warmup, c.concurrency, "/v1/auth", pick)
	var restarted []Result
	if c.restart {
		srv.stop()
		again, err := startCluster(bin, db, c.instances, c.serveOpts())
		if err != nil {
			srv = &cluster{} // stopped already
			return err
		}
		srv = again
		restarted = append(restarted, measure(srv, "/v1/auth (valid keys), just restarted", c, "/v1/auth", validKey))
	}
	var staticKey func(*rand.Rand) string // nil: no Authorization header
	if c.sameRequest {
		staticKey = validKey
	}
	static := measure(srv, "static handler (/healthz)", c, "/healthz", staticKey)
	auth := measure(srv, "/v1/auth (mixed keys)", c, "/v1/auth", pick)
	validOnly := measure(srv, "/v1/auth (valid keys only)", c, "/v1/auth", validKey)
	static2 := measure(srv, "static handler (/healthz), again", c, "/healthz", staticKey)
	report.Results = append(restarted, static, auth, validOnly, static2)
	base := (static.RPS + static2.RPS) / 2
	report.Ratios["mixed / static"] = fmt.Sprintf("%.2f", auth.RPS/base)
	report.Ratios["valid / static"] = fmt.Sprintf("%.2f", validOnly.RPS/base)
	cpuBase := (static.CPUPerReqUs + static2.CPUPerReqUs) / 2
	report.Ratios["valid / static by server CPU"] = fmt.Sprintf("%.2f", cpuBase/max(validOnly.CPUPerReqUs, 1e-9))
	printReport(c, report)
	return write(c.jsonOut, report)
}

// chooseKeys returns the draw of a valid key (c.dist over secrets) and the
// draw of the mixed scenario's key (valid, unknown and rate-limited in c's
// shares).
func chooseKeys(c config, secrets, limitedKeys []string) (validKey, pick func(*rand.Rand) string, err error) {
	switch c.dist {
	case "uniform":
		validKey = func(r *rand.Rand) string { return secrets[r.IntN(len(secrets))] }
	case "zipf":
		// Rank k is picked with probability proportional to 1/(1+k)^1.1;
		// a table of draws made once keeps the workers lock-free.
		z := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, uint64(len(secrets)-1))
		table := make([]uint32, 1<<20)
		for i := range table {
			table[i] = uint32(z.Uint64())
		}
		validKey = func(r *rand.Rand) string { return secrets[table[r.IntN(len(table))]] }
	default:
		return nil, nil, fmt.Errorf("-dist must be zipf or uniform, got %q", c.dist)
	}
	pick = func(r *rand.Rand) string {
		p := r.IntN(100)
		switch {
		case p < c.valid:
			return validKey(r)
		case p < c.valid+c.unknown:
			return unknownKey(r)
		default:
			return limitedKeys[r.IntN(len(limitedKeys))]
		}
	}
	return validKey, pick, nil
}

// printReport prints the results and ratios of a run as a table.
func printReport(c config, report Report) {
	fmt.Printf("\nkeyward serve on loopback (%d instance(s)), %d keys in %s, %s key choice, cache TTL %s, %d connections, %s each, key header to /healthz: %v (%s)\n", c.instances, c.keys, report.Store, c.dist, cmp.Or(c.cacheTTL, "the default"), c.concurrency, c.duration, c.sameRequest, report.Machine)
	fmt.Printf("%-36s %10s %9s %9s %9s %12s %11s %10s %10s %-22s %s\n", "scenario", "req/s", "p50 ms", "p90 ms", "p99 ms", "allocs/req", "CPU µs/req", "cache hit", "refresh/s", "usage rows/s each", "answers")
	for _, r := range report.Results {
		rows := make([]string, len(r.UsageRowsPerSec))
		for i, v := range r.UsageRowsPerSec {
			rows[i] = strconv.FormatFloat(v, 'f', 0, 64)
		}
		fmt.Printf("%-36s %10.0f %9.3f %9.3f %9.3f %12.1f %11.1f %9.1f%% %10.0f %-22s %v\n", r.Name, r.RPS, r.P50Ms, r.P90Ms, r.P99Ms, r.AllocsPerReq, r.CPUPerReqUs, 100*r.CacheHitRatio, r.RefreshesPerSec, strings.Join(rows, " "), r.Codes)
	}
	fmt.Printf("ratios: mixed / static %s, valid / static %s; by server CPU per request, valid / static %s\n", report.Ratios["mixed / static"], report.Ratios["valid / static"], report.Ratios["valid / static by server CPU"])
}

func write(path string, v any) error {
	if path == "" {
		return nil
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	b, _ := json.MarshalIndent(v, "", "  ")
	return os.WriteFile(path, b, 0o644)
}

// serveOpts are the flags of the keyward serve processes.
type serveOpts struct {
	redisURL, cacheTTL string
	cacheSize          int
	noWarm             bool
}

func (c config) serveOpts() serveOpts {
	return serveOpts{redisURL: c.redisURL, cacheTTL: c.cacheTTL, cacheSize: c.cacheSize, noWarm: c.noWarm}
}

// startServer runs keyward serve with warn-level logs (no access log line per
// request, which would otherwise dominate the measurement).
func startServer(bin, db string, o serveOpts) (*harness.Server, error) {
	addr := harness.FreeAddr()
	args := []string{"serve", "--addr", addr, "--database-url", db, "--admin-token", adminToken, "--log-level", "warn"}
	if o.cacheTTL != "" {
		args = append(args, "--cache-ttl", o.cacheTTL)
	}
	if o.redisURL != "" {
		args = append(args, "--redis-url", o.redisURL)
	}
	if o.cacheSize > 0 {
		args = append(args, "--cache-size", strconv.Itoa(o.cacheSize))
	}
	if o.noWarm {
		args = append(args, "--cache-warm=false")
	}
	return harness.Start(bin, addr, pepper, args...)
}

// makeLimited creates keys with a tiny rate limit: after the first request
// they answer 429.
func makeLimited(s *harness.Server, n int) ([]string, error) {
	var out []string
	for i := range n {
		secret, err := s.CreateKey(adminToken, fmt.Sprintf(`{"name":"limited %d","rate_limit":{"limit":1,"period":"1h"}}`, i))
		if err != nil {
			return nil, err
		}
		out = append(out, secret)
	}
	return out, nil
}

func unknownKey(r *rand.Rand) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [56]byte
	for i := range b {
		b[i] = alphabet[r.IntN(62)]
	}
	return keyward.Token{Prefix: "kw", ID: string(b[:16]), Secret: string(b[16:])}.String()
}

// drive sends requests from conc workers for d, each with a key from pick
// (nil: no key), worker w to urls[w%len(urls)], and returns the latencies
// and the status counts.
func drive(urls []string, d time.Duration, conc int, path string, pick func(*rand.Rand) string) ([]time.Duration, map[int]int64, int64) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	var lat []time.Duration
	codes := map[int]int64{}
	var errs atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 99))
			url := urls[w%len(urls)]
			local := make([]time.Duration, 0, 1<<16)
			lc := map[int]int64{}
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", url+path, nil)
				if pick != nil {
					req.Header.Set("Authorization", "Bearer "+pick(r))
				}
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(start))
				lc[resp.StatusCode]++
			}
			mu.Lock()
			lat = append(lat, local...)
			for k, v := range lc {
				codes[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return lat, codes, errs.Load()
}

func measure(s *cluster, name string, c config, path string, pick func(*rand.Rand) string) Result {
	const hitsName, missesName = `keyward_cache_requests_total{result="hit"}`, `keyward_cache_requests_total{result="miss"}`
	mallocs := s.sum("go_memstats_mallocs_total")
	cpu := s.sum("process_cpu_seconds_total")
	refreshes := s.sum("keyward_cache_refreshes_total")
	hits, misses := s.sum(hitsName), s.sum(missesName)
	rows := s.usageRows()
	start := time.Now()
	lat, codes, errs := drive(s.urls(), c.duration, c.concurrency, path, pick)
	elapsed := time.Since(start)
	allocs := s.sum("go_memstats_mallocs_total") - mallocs
	cpu = s.sum("process_cpu_seconds_total") - cpu
	refreshes = s.sum("keyward_cache_refreshes_total") - refreshes
	hits, misses = s.sum(hitsName)-hits, s.sum(missesName)-misses
	for i, v := range s.usageRows() {
		rows[i] = (v - rows[i]) / elapsed.Seconds()
	}
	ratio := 0.0
	if hits+misses > 0 {
		ratio = hits / (hits + misses)
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	n := int64(len(lat))
	log.Printf("%s: %d requests", name, n)
	return Result{Name: name, Keys: c.keys, Requests: n, RPS: float64(n) / elapsed.Seconds(), P50Ms: q(0.5), P90Ms: q(0.9), P99Ms: q(0.99),
		AllocsPerReq: allocs / float64(max(n, 1)), CPUPerReqUs: cpu * 1e6 / float64(max(n, 1)), CacheHitRatio: ratio, RefreshesPerSec: refreshes / elapsed.Seconds(), Errors: errs, Codes: codes, UsageRowsPerSec: rows}
}
