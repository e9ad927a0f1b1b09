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
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
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

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
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
	bin := filepath.Join(work, "keyward")
	log.Printf("building keyward (without -race) into %s", bin)
	build := exec.Command("go", "build", "-o", bin, "./cmd/keyward")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	srv, err := start(bin, work)
	if err != nil {
		return err
	}
	defer srv.stop()
	key, err := createKey(srv.url)
	if err != nil {
		return err
	}

	hc := newHTTPFace(srv.url, key, c.conc)
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

// face is one way of asking keyward about a request.
type face interface {
	// worker returns a function that sends one request and returns ""
	// if it passed, else what happened (a status, an error).
	worker(i int) func(context.Context) string
}

// drive runs conc workers of f for d and returns the requests answered,
// those that failed (errors or refusals) and why, and the latencies.
func drive(f face, conc int, d time.Duration) (int64, int64, map[string]int64, []time.Duration) {
	deadline := time.Now().Add(d)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var n, failed atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	why := map[string]int64{}
	var wg sync.WaitGroup
	for i := range conc {
		wg.Go(func() {
			do := f.worker(i)
			lat := make([]time.Duration, 0, 1<<15)
			mine := map[string]int64{}
			for time.Now().Before(deadline) {
				t0 := time.Now()
				w := do(ctx)
				if !time.Now().Before(deadline) {
					break // cut off by the end of the run: not counted
				}
				lat = append(lat, time.Since(t0))
				n.Add(1)
				if w != "" {
					failed.Add(1)
					mine[w]++
				}
			}
			mu.Lock()
			all = append(all, lat...)
			for k, v := range mine {
				why[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return n.Load(), failed.Load(), why, all
}

type httpFace struct {
	url, key string
	tr       *http.Transport
	client   *http.Client
}

func newHTTPFace(url, key string, conc int) *httpFace {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	return &httpFace{url: url, key: key, tr: tr, client: &http.Client{Transport: tr}}
}

func (h *httpFace) worker(int) func(context.Context) string {
	return func(ctx context.Context) string {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/v1/auth?scopes=read", nil)
		req.Header.Set("Authorization", "Bearer "+h.key)
		resp, err := h.client.Do(req)
		if err != nil {
			return err.Error()
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.Status + " " + resp.Header.Get("X-Keyward-Code")
		}
		return ""
	}
}

func (h *httpFace) close() { h.tr.CloseIdleConnections() }

type grpcFace struct {
	conns   []*grpc.ClientConn
	clients []authv3.AuthorizationClient
	req     *authv3.CheckRequest
}

func newGRPCFace(addr, key string, conns int) (*grpcFace, error) {
	g := &grpcFace{req: &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/things", Host: "api.example", Scheme: "http", Protocol: "HTTP/1.1",
			Headers: map[string]string{":authority": "api.example", ":method": "GET", ":path": "/things", "authorization": "Bearer " + key, "user-agent": "grpcload"},
		}},
		ContextExtensions: map[string]string{"scopes": "read"},
	}}}
	for range conns {
		// Each NewClient is its own HTTP/2 connection.
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		g.conns = append(g.conns, cc)
		g.clients = append(g.clients, authv3.NewAuthorizationClient(cc))
	}
	return g, nil
}

func (g *grpcFace) worker(i int) func(context.Context) string {
	client := g.clients[i%len(g.clients)]
	return func(ctx context.Context) string {
		resp, err := client.Check(ctx, g.req)
		if err != nil {
			return "gRPC error " + status.Code(err).String()
		}
		if resp.GetOkResponse() == nil {
			return fmt.Sprintf("denied %d %s", resp.GetDeniedResponse().GetStatus().GetCode(), resp.GetStatus().GetMessage())
		}
		return ""
	}
}

func (g *grpcFace) close() {
	for _, c := range g.conns {
		c.Close()
	}
}

type server struct {
	cmd  *exec.Cmd
	url  string
	grpc string
}

func freePort() int {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs keyward serve with warn-level logs (no access log line per
// request, which would weigh on /v1/auth only) and waits until it is ready.
func start(bin, work string) (*server, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	grpcAddr := fmt.Sprintf("127.0.0.1:%d", freePort())
	cmd := exec.Command(bin, "serve", "--addr", addr, "--grpc-addr", grpcAddr, "--database-url", "sqlite:"+filepath.Join(work, "grpcload.db"),
		"--admin-token", adminToken, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "KEYWARD_PEPPER="+pepper)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://" + addr, grpc: grpcAddr}
	for range 600 {
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("keyward serve did not become ready within 30s")
}

// syscalls returns the read and write system calls the server made so far
// (Linux: /proc/<pid>/io), or 0 where that cannot be read.
func (s *server) syscalls() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", s.cmd.Process.Pid))
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

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

var cpuRe = regexp.MustCompile(`(?m)^process_cpu_seconds_total ([0-9.e+]+)$`)

// cpuSeconds reads the server's CPU time (user and system) from /metrics.
func (s *server) cpuSeconds() float64 {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := cpuRe.FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// createKey creates the key both faces present: scope "read", an owner, no
// rate limit (every request passes and spends nothing but a usage count).
func createKey(url string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/keys", strings.NewReader(`{"name":"grpcload","owner":"acme","scopes":["read"]}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var iss struct{ Secret string }
	if err := json.NewDecoder(resp.Body).Decode(&iss); err != nil || iss.Secret == "" {
		return "", fmt.Errorf("creating the key: %d %v", resp.StatusCode, err)
	}
	return iss.Secret, nil
}
