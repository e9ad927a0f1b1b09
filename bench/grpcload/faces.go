package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

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
