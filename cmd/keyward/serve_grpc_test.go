package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestServeGRPCCheck runs keyward serve in-process with KEYWARD_GRPC_ADDR
// (the environment variable of --grpc-addr): it says where the gRPC check
// listens, answers a real gRPC client for a key created through the HTTP
// API (OK with the X-Keyward-* headers; a denied 401 for a bad key), and
// stops cleanly with the HTTP server when its context ends.
func TestServeGRPCCheck(t *testing.T) {
	const admin = "serve-grpc-test-admin-token-32-characters"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	where, exited := startServeWithGRPC(t, ctx, admin)
	keyID, secret := createKeyOverHTTP(t, where.URL, admin)
	checkGRPCAnswers(t, ctx, where.GRPC, keyID, secret)

	cancel()
	checkServeStopped(t, exited, where.GRPC)
}

// listenAddrs are the addresses of the "keyward listening" log line: the
// HTTP server's URL and the gRPC check's address.
type listenAddrs struct{ URL, GRPC string }

// startServeWithGRPC runs keyward serve in-process on a new SQLite database
// with KEYWARD_GRPC_ADDR and the admin token from the environment, until ctx
// ends; it waits for the "keyward listening" line, checks that it names the
// gRPC address, and returns the addresses and the channel run's result
// arrives on.
func startServeWithGRPC(t *testing.T, ctx context.Context, admin string) (listenAddrs, <-chan error) {
	t.Helper()
	env := map[string]string{"KEYWARD_GRPC_ADDR": "127.0.0.1:0", "KEYWARD_ADMIN_TOKEN": admin}
	db := "sqlite:" + filepath.Join(t.TempDir(), "k.db")
	pr, pw := io.Pipe()
	listening := make(chan listenAddrs, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				URL  string `json:"url"`
				GRPC string `json:"grpc_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "keyward listening" {
				listening <- listenAddrs{line.URL, line.GRPC}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database-url", db, "--log-format", "json", "--log-level", "info"},
			strings.NewReader(""), io.Discard, pw, func(k string) string { return env[k] })
		pw.Close()
	}()
	var where listenAddrs
	select {
	case where = <-listening:
	case err := <-exited:
		t.Fatalf("serve exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not listen within 60s")
	}
	if where.GRPC == "" {
		t.Fatal(`the "keyward listening" line has no grpc_addr`)
	}
	return where, exited
}

// createKeyOverHTTP creates a key of owner acme with the scope
// invoices:read through the HTTP API at url, checks the 201, and returns
// the key's id and secret.
func createKeyOverHTTP(t *testing.T, url, admin string) (id, secret string) {
	t.Helper()
	body := `{"name":"envoy client","owner":"acme","scopes":["invoices:read"]}`
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/keys", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var iss struct {
		Key    struct{ ID string }
		Secret string
	}
	json.NewDecoder(resp.Body).Decode(&iss)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || iss.Secret == "" {
		t.Fatalf("creating a key: %d", resp.StatusCode)
	}
	return iss.Key.ID, iss.Secret
}

// checkGRPCAnswers checks, with a real gRPC client of the check at addr,
// that the key allows GET /invoices with scope invoices:read and passes the
// X-Keyward-* headers upstream, and that a bad key gets a denied 401. The
// client's connection stays open until the test ends, so serve must stop
// with it open.
func checkGRPCAnswers(t *testing.T, ctx context.Context, addr, keyID, secret string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := authv3.NewAuthorizationClient(conn)
	check := func(key string) *authv3.CheckResponse {
		t.Helper()
		resp, err := client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/invoices", Headers: map[string]string{"authorization": "Bearer " + key}}},
			ContextExtensions: map[string]string{"scopes": "invoices:read"},
		}})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return resp
	}
	ok := check(secret).GetOkResponse()
	if ok == nil {
		t.Fatal("the new key is not allowed")
	}
	got := map[string]string{}
	for _, h := range ok.GetHeaders() {
		got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	if got["x-keyward-key-id"] != keyID || got["x-keyward-owner"] != "acme" || got["x-keyward-scopes"] != "invoices:read" {
		t.Errorf("upstream headers %v", got)
	}
	if d := check("kw_garbage").GetDeniedResponse(); d == nil || d.GetStatus().GetCode() != 401 {
		t.Errorf("a bad key: %v, want a denied 401", d)
	}
}

// checkServeStopped checks, once serve's context has ended, that run
// returns without error within 30s and the gRPC port at addr no longer
// accepts connections.
func checkServeStopped(t *testing.T, exited <-chan error, addr string) {
	t.Helper()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve after its context ended: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of its context ending")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the gRPC port still accepts connections after serve returned")
	}
}

// TestServeGRPCAddrProblems: a --grpc-addr that is not host:port is bad
// usage (exit 2) reported with the other problems; one that cannot be
// listened on fails the start (exit 1) naming it.
func TestServeGRPCAddrProblems(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "serve", "--grpc-addr", "nowhere", "--log-format", "xml")
	if code != 2 || !strings.Contains(stderr, `--grpc-addr "nowhere"`) || !strings.Contains(stderr, "--log-format") {
		t.Errorf("bad --grpc-addr: exit %d, stderr %q; want 2 naming it and --log-format", code, stderr)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	db := "sqlite:" + filepath.Join(t.TempDir(), "k.db")
	code, _, stderr = runCLI(t, nil, "serve", "--addr", "127.0.0.1:0", "--grpc-addr", taken.Addr().String(), "--database-url", db)
	if code != 1 || !strings.Contains(stderr, "--grpc-addr "+taken.Addr().String()) {
		t.Errorf("--grpc-addr in use: exit %d, stderr %q; want 1 naming it", code, stderr)
	}
	if strings.Contains(stderr, "admin key") {
		t.Errorf("serve created an admin key before failing to listen: %q", stderr)
	}
}
