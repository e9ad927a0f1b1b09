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
	env := map[string]string{"KEYWARD_GRPC_ADDR": "127.0.0.1:0", "KEYWARD_ADMIN_TOKEN": admin}
	db := "sqlite:" + filepath.Join(t.TempDir(), "k.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	listening := make(chan struct{ URL, GRPC string }, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				URL  string `json:"url"`
				GRPC string `json:"grpc_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "keyward listening" {
				listening <- struct{ URL, GRPC string }{line.URL, line.GRPC}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database-url", db, "--log-format", "json", "--log-level", "info"},
			strings.NewReader(""), io.Discard, pw, func(k string) string { return env[k] })
		pw.Close()
	}()
	var where struct{ URL, GRPC string }
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

	body := `{"name":"envoy client","owner":"acme","scopes":["invoices:read"]}`
	req, _ := http.NewRequest(http.MethodPost, where.URL+"/v1/keys", strings.NewReader(body))
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

	conn, err := grpc.NewClient(where.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
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
	ok := check(iss.Secret).GetOkResponse()
	if ok == nil {
		t.Fatal("the new key is not allowed")
	}
	got := map[string]string{}
	for _, h := range ok.GetHeaders() {
		got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	if got["x-keyward-key-id"] != iss.Key.ID || got["x-keyward-owner"] != "acme" || got["x-keyward-scopes"] != "invoices:read" {
		t.Errorf("upstream headers %v", got)
	}
	if d := check("kw_garbage").GetDeniedResponse(); d == nil || d.GetStatus().GetCode() != 401 {
		t.Errorf("a bad key: %v, want a denied 401", d)
	}

	cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve after its context ended: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of its context ending")
	}
	if c, err := net.DialTimeout("tcp", where.GRPC, time.Second); err == nil {
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
