// Command grpcload compares the cost of Envoy's gRPC check
// (envoy.service.auth.v3.Authorization/Check, keyward serve --grpc-addr)
// with that of /v1/auth on one keyward serve: N concurrent gRPC Check calls
// against N concurrent HTTP GET /v1/auth calls over keep-alive connections,
// both with one valid, cached key, in ABBA rounds (gRPC, HTTP, HTTP, gRPC,
// ...) so that drift on a shared machine weighs on both alike. It prints
// requests per second and the server's CPU time per request (from its
// process_cpu_seconds_total) for each run and their ratios. It lives in the
// bench module; from the repository's root:
//
//	go -C bench run ./grpcload -conc 32 -duration 5s -rounds 2
//
// It builds keyward (without -race) from the checkout that holds this file
// and runs it on a fresh SQLite database in a temporary directory, on
// 127.0.0.1 only.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/bench/internal/harness"
)

const (
	adminToken = "grpcload-admin-token-of-at-least-32-characters"
	pepper     = "grpcload-pepper-of-at-least-32-bytes-long"
)

type config struct {
	conc      int
	grpcConns int
	duration  time.Duration
	rounds    int
	workdir   string
}

// run is one measured run of one face.
type run struct {
	face     string
	requests int64
	failed   int64 // errors and answers other than a pass
	why      map[string]int64
	rps      float64
	cpuUs    float64 // server CPU microseconds per request
	sysc     float64 // server read and write system calls per request
	p50, p99 time.Duration
}

func main() {
	var c config
	flag.IntVar(&c.conc, "conc", 32, "concurrent callers of each face")
	flag.IntVar(&c.grpcConns, "grpc-conns", 2, "gRPC connections the callers share (Envoy keeps a few per worker)")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "length of each run")
	flag.IntVar(&c.rounds, "rounds", 2, "ABBA rounds (each: gRPC, HTTP, HTTP, gRPC)")
	flag.StringVar(&c.workdir, "workdir", "", "where to build keyward and keep its database (default: a new temp dir)")
	flag.Parse()
	if c.conc < 1 || c.grpcConns < 1 || c.rounds < 1 || c.duration <= 0 {
		log.Fatal("-conc, -grpc-conns, -rounds and -duration must be positive")
	}
	if err := measure(c); err != nil {
		log.Fatal(err)
	}
}

func measure(c config) error {
	work := c.workdir
	if work == "" {
		dir, err := os.MkdirTemp("", "keyward-grpcload-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	bin, err := harness.Build(work)
	if err != nil {
		return err
	}
	srv, err := start(bin, work)
	if err != nil {
		return err
	}
	defer srv.Stop()
	// The key both faces present: scope "read", an owner, no rate limit
	// (every request passes and spends nothing but a usage count).
	key, err := srv.CreateKey(adminToken, `{"name":"grpcload","owner":"acme","scopes":["read"]}`)
	if err != nil {
		return err
	}

	hc := newHTTPFace(srv.URL, key, c.conc)
	defer hc.close()
	gc, err := newGRPCFace(srv.grpc, key, c.grpcConns)
	if err != nil {
		return err
	}
	defer gc.close()
	faces := map[string]face{"grpc": gc, "http": hc}

	// Warm up both faces (connections, the key in the cache, the CPU's clocks).
	drive(faces["grpc"], c.conc, 2*time.Second)
	drive(faces["http"], c.conc, 2*time.Second)

	var runs []run
	for r := range c.rounds {
		for _, name := range []string{"grpc", "http", "http", "grpc"} {
			before, sysBefore := srv.cpuSeconds(), srv.syscalls()
			n, failed, why, lat := drive(faces[name], c.conc, c.duration)
			cpu, sysc := srv.cpuSeconds()-before, srv.syscalls()-sysBefore
			slices.Sort(lat)
			x := run{face: name, requests: n, failed: failed, why: why, rps: float64(n) / c.duration.Seconds(),
				cpuUs: 1e6 * cpu / float64(max(n, 1)), sysc: float64(sysc) / float64(max(n, 1)), p50: pct(lat, 0.50), p99: pct(lat, 0.99)}
			runs = append(runs, x)
			log.Printf("round %d %-4s %9.0f req/s  server CPU %6.1f µs/req  %4.2f syscalls/req  p50 %v  p99 %v  failed %d %v",
				r+1, name, x.rps, x.cpuUs, x.sysc, x.p50.Round(time.Microsecond), x.p99.Round(time.Microsecond), failed, why)
		}
	}
	report(c, runs)
	return nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// report prints the mean of each face over its runs, and the ratios.
func report(c config, runs []run) {
	sum := map[string]*run{"grpc": {face: "grpc"}, "http": {face: "http"}}
	count := map[string]float64{}
	for _, r := range runs {
		s := sum[r.face]
		s.requests += r.requests
		s.failed += r.failed
		s.rps += r.rps
		s.cpuUs += r.cpuUs
		s.sysc += r.sysc
		count[r.face]++
	}
	for name, s := range sum {
		s.rps /= count[name]
		s.cpuUs /= count[name]
		s.sysc /= count[name]
	}
	g, h := sum["grpc"], sum["http"]
	fmt.Printf("\nkeyward serve on 127.0.0.1, one valid cached key (scope checked), %d callers per face, %d gRPC connections, %d ABBA rounds of %s runs (%d CPUs, %s)\n",
		c.conc, c.grpcConns, c.rounds, c.duration, runtime.NumCPU(), runtime.Version())
	fmt.Printf("%-34s %10s %16s %16s %10s\n", "face", "req/s", "server µs/req", "syscalls/req", "failed")
	fmt.Printf("%-34s %10.0f %16.1f %16.2f %10d\n", "gRPC Authorization/Check", g.rps, g.cpuUs, g.sysc, g.failed)
	fmt.Printf("%-34s %10.0f %16.1f %16.2f %10d\n", "HTTP GET /v1/auth (keep-alive)", h.rps, h.cpuUs, h.sysc, h.failed)
	fmt.Printf("cost of a gRPC check / cost of a /v1/auth request: %.2fx by throughput (HTTP req/s / gRPC req/s), %.2fx by server CPU per request\n",
		h.rps/g.rps, g.cpuUs/h.cpuUs)
}

// server is keyward serve with its gRPC listener.
type server struct {
	*harness.Server
	grpc string // the address of its gRPC listener
}

// start runs keyward serve with warn-level logs (no access log line per
// request, which would weigh on /v1/auth only) and waits until it is ready.
func start(bin, work string) (*server, error) {
	addr, grpcAddr := harness.FreeAddr(), harness.FreeAddr()
	s, err := harness.Start(bin, addr, pepper, "serve", "--addr", addr, "--grpc-addr", grpcAddr,
		"--database-url", "sqlite:"+filepath.Join(work, "grpcload.db"), "--admin-token", adminToken, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	return &server{Server: s, grpc: grpcAddr}, nil
}

// syscalls returns the read and write system calls the server made so far
// (Linux: /proc/<pid>/io), or 0 where that cannot be read.
func (s *server) syscalls() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", s.Pid()))
	if err != nil {
		return 0
	}
	var n int64
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && (k == "syscr" || k == "syscw") {
			x, _ := strconv.ParseInt(v, 10, 64)
			n += x
		}
	}
	return n
}

// cpuSeconds reads the server's CPU time (user and system) from /metrics.
func (s *server) cpuSeconds() float64 { return s.Metric("process_cpu_seconds_total") }
