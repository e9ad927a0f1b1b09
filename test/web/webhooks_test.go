package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/webhook"
)

// flakyReceiver is a webhook receiver that answers 500 to its first
// delivery and 200 after, and records the event types of the deliveries
// whose signature checks with its secret.
type flakyReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	n      int      // deliveries
	good   []string // event types of the deliveries that checked
}

func newFlakyReceiver(t *testing.T) *flakyReceiver {
	r := &flakyReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.n++
		if r.n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if webhook.Verify(r.secret, req.Header, body, time.Now()) == nil {
			var ev struct{ Type string }
			json.Unmarshal(body, &ev)
			r.good = append(r.good, ev.Type)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// attemptRow is the selector of the deliveries row of an attempt.
func attemptRow(n int) string {
	return `#deliveries-body tr[data-attempt="` + string(rune('0'+n)) + `"]`
}

// TestWebhooksPage creates an endpoint in the page (its signing secret
// shown once, then gone from the page and the API), sends a test event to a
// receiver that fails once, and follows its deliveries in the endpoint's
// page: the 500 with its next attempt, then the 200 of the retry, whose
// signature the receiver checked with the secret the page showed. Then an
// edit, a disable and a delete.
func TestWebhooksPage(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	srv, _ := startServer(t)
	recv := newFlakyReceiver(t)

	b.do("opening the webhooks", chromedp.Navigate(srv.URL+"/#/webhooks"))
	b.signIn(adminToken)
	b.do("creating an endpoint",
		chromedp.WaitVisible(chromedp.CSS(`#hooks-body[aria-busy="false"]`)),
		chromedp.Click(chromedp.CSS("#new-hook")),
		chromedp.WaitVisible(chromedp.CSS("#w-url")),
		chromedp.SendKeys(chromedp.CSS("#w-url"), recv.srv.URL+"/hooks"),
		chromedp.SendKeys(chromedp.CSS("#w-description"), "billing sync"),
		chromedp.Click(chromedp.CSS("#hook-form-submit")),
		chromedp.WaitVisible(chromedp.CSS("#hook-secret-value")),
	)
	secret := b.text("#hook-secret-value")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the page shows the secret %q, want whsec_...", secret)
	}
	recv.mu.Lock()
	recv.secret = secret
	recv.mu.Unlock()
	b.do("closing the secret", chromedp.Click(chromedp.CSS("#hook-secret-done")), waitText("#view h1", "billing sync"))
	if html := run(b, "reading the page", chromedp.Evaluate[string](`document.documentElement.outerHTML`)); strings.Contains(html, secret) {
		t.Error("the secret is still in the page after its dialog closed")
	}
	if r := srv.Do(t, "GET", "/v1/webhooks", adminToken, nil); r.Status != 200 || strings.Contains(string(r.Body), secret) || !strings.Contains(string(r.Body), "billing sync") {
		t.Errorf("GET /v1/webhooks: %d %s", r.Status, r.Body)
	}

	b.do("sending a test event",
		chromedp.WaitVisible(chromedp.CSS(`#deliveries-body[aria-busy="false"]`)),
		waitText("#deliveries-body", "No delivery attempts yet"),
		chromedp.Click(chromedp.CSS("#hook-test")),
		chromedp.WaitVisible(chromedp.CSS(attemptRow(1))),
	)
	first := b.text(attemptRow(1))
	if !strings.Contains(first, "webhook.test") || !strings.Contains(first, "500") || strings.Contains(first, "Done") {
		t.Errorf("the first attempt's row: %q; want webhook.test, 500 and a next attempt", first)
	}
	b.do("waiting for the retry", chromedp.WaitVisible(chromedp.CSS(attemptRow(2))))
	second := b.text(attemptRow(2))
	if !strings.Contains(second, "webhook.test") || !strings.Contains(second, "200") || !strings.Contains(second, "Done") {
		t.Errorf("the retry's row: %q; want webhook.test, 200, done", second)
	}
	png := run(b, "screenshot", chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(artifactDir(t), "webhook-page.png"), png, 0o644); err != nil {
		t.Error(err)
	}
	recv.mu.Lock()
	good := strings.Join(recv.good, " ")
	recv.mu.Unlock()
	if good != "webhook.test" {
		t.Errorf("the receiver checked %q, want the one webhook.test signed with the secret the page showed", good)
	}

	b.do("editing the endpoint",
		chromedp.Click(chromedp.CSS("#hook-edit")),
		chromedp.WaitVisible(chromedp.CSS("#w-all")),
		chromedp.Click(chromedp.CSS("#w-all")), // all events off: choose one
		chromedp.Click(chromedp.CSS(`#w-events-list input[value="key.created"]`)),
		chromedp.Click(chromedp.CSS(`#w-events-list input[value="key.revoked"]`)),
		chromedp.Click(chromedp.CSS(`#w-events-list input[value="webhook.test"]`)),
		chromedp.Click(chromedp.CSS("#hook-form-submit")),
		chromedp.WaitNotVisible(chromedp.CSS("#hook-dialog")),
		waitText("#hook-events", "key.revoked"),
	)
	if ev := b.text("#hook-events"); strings.Contains(ev, "All events") || strings.Contains(ev, "key.updated") || !strings.Contains(ev, "key.created") {
		t.Errorf("events after the edit: %q", ev)
	}
	b.do("disabling it", chromedp.Click(chromedp.CSS("#hook-toggle")), waitText("#hook-status", "Disabled"))
	if dis := run(b, "reading the test button", chromedp.Evaluate[bool](`document.getElementById('hook-test').disabled`)); !dis {
		t.Error("a disabled endpoint's test button is enabled")
	}
	b.do("deleting it",
		chromedp.Click(chromedp.CSS("#hook-delete")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS(`#hooks-body[aria-busy="false"]`)),
		waitText("#hooks-body", "No endpoints yet"),
	)
}
