package docs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/store/memory"
	"github.com/keyward/keyward/webhook"
)

// TestGoWebhookReceiverIsTheProgram: the Go receiver of docs/webhooks.md is
// the whole of examples/webhookreceiver/main.go, which its test runs
// against keyward's deliveries and forged ones.
func TestGoWebhookReceiverIsTheProgram(t *testing.T) {
	blocks := fencedBlocks(t, filepath.Join(root, "docs", "webhooks.md"), "## A receiver in Go", "go")
	if len(blocks) != 1 {
		t.Fatalf("docs/webhooks.md's Go receiver has %d Go blocks, want 1", len(blocks))
	}
	program, err := os.ReadFile(filepath.Join(root, "examples", "webhookreceiver", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if blocks[0].text != string(program) {
		t.Error("docs/webhooks.md's Go receiver differs from examples/webhookreceiver/main.go: copy the file into the doc")
	}
}

// pythonHarness runs the receiver of the doc (receiver.py beside it): it
// prints what verify says of each case of the first line of standard input,
// listens on a free port (printed), and serves the Receiver with the secret
// of the next line.
const pythonHarness = `
import json, sys
import receiver
from http.server import HTTPServer
for case in json.loads(sys.stdin.readline()):
    print(receiver.verify(case["secret"], case["headers"], case["body"].encode(), case["now"]), flush=True)
srv = HTTPServer(("127.0.0.1", 0), receiver.Receiver)
print(srv.server_address[1], flush=True)
receiver.SECRET = sys.stdin.readline().strip()
srv.serve_forever()
`

// TestPythonWebhookReceiverAsDocumented runs the Python receiver of
// docs/webhooks.md: its verify accepts a signed delivery and rejects a
// wrong secret, a changed body, an old timestamp and missing headers; its
// server takes the deliveries of keyward's dispatcher (204), printing each
// event once.
func TestPythonWebhookReceiverAsDocumented(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	blocks := fencedBlocks(t, filepath.Join(root, "docs", "webhooks.md"), "## A receiver in Python", "python")
	if len(blocks) != 1 {
		t.Fatalf("docs/webhooks.md's Python receiver has %d blocks, want 1", len(blocks))
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "receiver.py"), []byte(blocks[0].text), 0o644)
	os.WriteFile(filepath.Join(dir, "harness.py"), []byte(pythonHarness), 0o644)

	ctx := context.Background()
	store := memory.New()
	svc := testkit.NewService(t, store, nil, nil)
	secret, err := keyward.NewWebhookSecret()
	if err != nil {
		t.Fatal(err)
	}
	body := `{"id":"evt_1","type":"webhook.test","timestamp":"2026-01-02T03:04:05Z","data":{}}`
	now := time.Now()
	headers := func(secret, body string, at time.Time) map[string]string {
		sig, _ := webhook.Sign(secret, "evt_1", at, []byte(body))
		return map[string]string{"webhook-id": "evt_1", "webhook-timestamp": fmt.Sprint(at.Unix()), "webhook-signature": "v0,x " + sig}
	}
	other, _ := keyward.NewWebhookSecret()
	type check struct {
		Secret  string            `json:"secret"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
		Now     int64             `json:"now"`
	}
	cases := []check{
		{secret, headers(secret, body, now), body, now.Unix()},
		{secret, headers(other, body, now), body, now.Unix()},
		{secret, headers(secret, body, now), strings.Replace(body, "test", "fake", 1), now.Unix()},
		{secret, headers(secret, body, now.Add(-6*time.Minute)), body, now.Unix()},
		{secret, map[string]string{"webhook-id": "evt_1"}, body, now.Unix()},
	}
	want := []string{"True", "False", "False", "False", "False"}
	in, _ := json.Marshal(cases)

	cmd := exec.Command(python, "harness.py")
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	fmt.Fprintf(stdin, "%s\n", in)
	lines := bufio.NewScanner(out)
	next := func() string {
		if !lines.Scan() {
			t.Fatalf("the Python receiver stopped:\n%s", stderr.String())
		}
		return lines.Text()
	}
	for i, w := range want {
		if got := next(); got != w {
			t.Errorf("verify of case %d: %s, want %s", i, got, w)
		}
	}
	port := next()

	c, err := svc.CreateWebhook(ctx, keyward.WebhookParams{URL: "http://127.0.0.1:" + port + "/hooks", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(stdin, "%s\n", c.Secret)
	if _, err := svc.Create(ctx, keyward.CreateParams{Name: "billing"}); err != nil {
		t.Fatal(err)
	}
	d := webhook.New(store, nil)
	defer d.Close(ctx)
	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if got := next(); !strings.Contains(got, " key.created ") {
		t.Errorf("the receiver printed %q, want the key.created event", got)
	}
	if n, _ := d.RunOnce(ctx); n != 0 {
		t.Errorf("%d attempts after the first: the receiver did not answer 2xx", n)
	}
}
