package extauthz_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/extauthz"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

// switchStore is a store that can be made unreachable.
type switchStore struct {
	keyward.Store
	down atomic.Bool
}

var errDown = errors.New("store is down")

func (s *switchStore) Get(ctx context.Context, id string) (*keyward.Key, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.Get(ctx, id)
}

// env is one Service behind both faces: /v1/auth of package server over
// HTTP, and the ext_authz Check over gRPC on a real 127.0.0.1 listener,
// called through a real gRPC client.
type env struct {
	svc     *keyward.Service
	clock   *testkit.Clock
	store   *switchStore
	httpURL string
	client  authv3.AuthorizationClient
}

type envOptions struct {
	authz         *extauthz.Options
	allowQueryKey bool // for /v1/auth; set authz.AllowQueryKey for the check
}

func newEnv(tb testing.TB, o envOptions) *env {
	tb.Helper()
	e := &env{clock: testkit.NewClock(testkit.Base), store: &switchStore{Store: memory.New()}}
	e.svc = testkit.NewService(tb, e.store, nil, &keyward.Options{Limiter: ratelimit.NewLocal(), Now: e.clock.Now})

	srv, err := server.New(server.Config{Service: e.svc, AllowQueryKey: o.allowQueryKey})
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(hs.Close)
	e.httpURL = hs.URL

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	gs := grpc.NewServer()
	extauthz.New(e.svc, o.authz).Register(gs)
	go gs.Serve(ln)
	tb.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	e.client = authv3.NewAuthorizationClient(conn)
	return e
}

func (e *env) create(tb testing.TB, p keyward.CreateParams) keyward.Issued {
	tb.Helper()
	if p.Name == "" {
		p.Name = "test key"
	}
	iss, err := e.svc.Create(context.Background(), p)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return iss
}

// call is one request a proxy asks about: its header fields (lower-case
// names, as Envoy sends them), the route's context extensions (the query
// parameters of /v1/auth), and its request target.
type call struct {
	headers map[string]string
	ext     map[string]string
	path    string // default /things
	source  string // the downstream address Envoy reports; default 127.0.0.1, the HTTP test client's
	noSrc   bool   // report no source address at all
}

func bearer(key string) map[string]string { return map[string]string{"authorization": "Bearer " + key} }

// request builds the CheckRequest Envoy would send for c.
func (c call) request() *authv3.CheckRequest {
	path := c.path
	if path == "" {
		path = "/things"
	}
	attrs := &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: path, Host: "api.example", Scheme: "http", Protocol: "HTTP/1.1", Headers: c.headers,
		}},
		ContextExtensions: c.ext,
	}
	if !c.noSrc {
		src := c.source
		if src == "" {
			src = "127.0.0.1"
		}
		attrs.Source = &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: src, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 54321}},
		}}}
	}
	return &authv3.CheckRequest{Attributes: attrs}
}

// answer is a response as the client of the proxy sees it, headers for the
// upstream included (they are on /v1/auth's 200).
type answer struct {
	status int
	header http.Header
	body   string
}

// viaHTTP asks /v1/auth about c: the context extensions become its query
// parameters, and the query of c's path is added (for api_key).
func (e *env) viaHTTP(tb testing.TB, c call) answer {
	tb.Helper()
	q := url.Values{}
	for k, v := range c.ext {
		q.Set(k, v)
	}
	raw := q.Encode()
	if _, pq, ok := strings.Cut(c.path, "?"); ok {
		raw = strings.TrimPrefix(raw+"&"+pq, "&")
	}
	req, _ := http.NewRequest(http.MethodGet, e.httpURL+"/v1/auth?"+raw, nil)
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	h := resp.Header.Clone()
	h.Del("Date")
	h.Del("Content-Length")
	return answer{status: resp.StatusCode, header: h, body: string(body)}
}

// check sends c through the gRPC client.
func (e *env) check(tb testing.TB, c call) *authv3.CheckResponse {
	tb.Helper()
	resp, err := e.client.Check(context.Background(), c.request())
	if err != nil {
		tb.Fatalf("Check: %v", err)
	}
	return resp
}

// viaGRPC asks the Check about c and returns what Envoy would make of the
// answer: for OK, status 200 with the headers for the upstream and those
// for the client; for a denial, its status, headers and body. It checks
// that the gRPC status agrees with the kind of answer.
func (e *env) viaGRPC(tb testing.TB, c call) answer {
	tb.Helper()
	return toAnswer(tb, e.check(tb, c))
}

func toAnswer(tb testing.TB, resp *authv3.CheckResponse) answer {
	tb.Helper()
	a := answer{header: http.Header{}}
	switch r := resp.GetHttpResponse().(type) {
	case *authv3.CheckResponse_OkResponse:
		if resp.GetStatus().GetCode() != 0 {
			tb.Errorf("ok_response with gRPC status %d", resp.GetStatus().GetCode())
		}
		a.status = http.StatusOK
		for _, o := range append(r.OkResponse.GetHeaders(), r.OkResponse.GetResponseHeadersToAdd()...) {
			a.header.Add(o.GetHeader().GetKey(), o.GetHeader().GetValue())
		}
	case *authv3.CheckResponse_DeniedResponse:
		if resp.GetStatus().GetCode() == 0 {
			tb.Errorf("denied_response with gRPC status OK: Envoy would let the request through")
		}
		a.status = int(r.DeniedResponse.GetStatus().GetCode())
		for _, o := range r.DeniedResponse.GetHeaders() {
			a.header.Add(o.GetHeader().GetKey(), o.GetHeader().GetValue())
		}
		a.body = r.DeniedResponse.GetBody()
	default:
		tb.Fatalf("answer with neither ok_response nor denied_response: %v", resp)
	}
	return a
}

// sameAnswer reports differences between the answer of /v1/auth and that
// of the Check.
func sameAnswer(tb testing.TB, httpA, grpcA answer) {
	tb.Helper()
	if httpA.status != grpcA.status {
		tb.Errorf("status: /v1/auth %d, Check %d", httpA.status, grpcA.status)
	}
	for k, v := range httpA.header {
		if g := grpcA.header[k]; strings.Join(g, "\n") != strings.Join(v, "\n") {
			tb.Errorf("header %s: /v1/auth %q, Check %q", k, v, g)
		}
	}
	for k, v := range grpcA.header {
		if _, ok := httpA.header[k]; !ok {
			tb.Errorf("header %s: only the Check has it (%q)", k, v)
		}
	}
	if httpA.body != grpcA.body {
		tb.Errorf("body:\n/v1/auth %s\nCheck    %s", httpA.body, grpcA.body)
	}
}

// unknownKey is a well-formed key that no store holds.
func unknownKey() string {
	return keyward.Token{Prefix: "kw", ID: "0123456789ABCDEF", Secret: strings.Repeat("x", 40)}.String()
}
