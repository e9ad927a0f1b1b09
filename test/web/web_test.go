// Package web drives keyward's admin page (server/web) in a real browser,
// Debian's Chromium through chromedp, against a real `keyward serve`.
//
// TestAdminPage, TestKeyActions, TestOwnerPage and TestRolesEditor are the
// browser tests. TestScreenshots writes the README's screenshots when asked:
//
//	KEYWARD_SCREENSHOTS=docs/img go -C test/web test -run Screenshots .
//
// (a relative directory is taken from the repository's root).
package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/keyward/keyward/internal/testserver"
)

// chromium is Debian's Chromium; without it the tests skip.
const chromium = "/usr/bin/chromium"

const adminToken = "web-test-admin-token-0123456789abcdefghij"

// browser is a headless Chromium tab.
type browser struct {
	tb  testing.TB
	ctx context.Context
}

// newBrowser starts Chromium with a new empty profile, showing a
// width×height viewport; it is closed when the test ends.
func newBrowser(tb testing.TB, width, height int64) *browser {
	tb.Helper()
	if _, err := os.Stat(chromium); err != nil {
		tb.Skipf("the browser test needs Chromium at %s (apt-get install chromium): %v", chromium, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("hide-scrollbars", true),
		// Loopback only: every other host name fails to resolve.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(int(width), int(height)),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	// Cleanups run last-in first-out: the tab, then the browser (waiting for
	// it to exit), then the profile directory of TempDir above.
	tb.Cleanup(cancelAlloc)
	tb.Cleanup(cancelTab)
	// The first call starts the browser and binds it to tabCtx, which has no
	// deadline; each step below has its own.
	if err := chromedp.Do(tabCtx, chromedp.EmulateViewport(width, height)); err != nil {
		tb.Fatalf("starting %s: %v", chromium, err)
	}
	// Uncaught exceptions and console errors (a Content-Security-Policy
	// violation among them) fail the test. Failed requests are left out:
	// the tests cause 401s on purpose.
	var mu sync.Mutex
	var problems []string
	err := chromedp.Listen(tabCtx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			p = "exception: " + ev.ExceptionDetails.Text
			if e := ev.ExceptionDetails.Exception; e != nil {
				p += " " + e.Description
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
				p = fmt.Sprintf("console (%s): %s", ev.Entry.Source, ev.Entry.Text)
			}
		}
		if p != "" {
			mu.Lock()
			problems = append(problems, p)
			mu.Unlock()
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			tb.Errorf("in the page: %s", p)
		}
	})
	return &browser{tb: tb, ctx: tabCtx}
}

// stepTimeout bounds one group of browser actions.
const stepTimeout = 30 * time.Second

// do runs actions, failing the test with what for context.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.tb.Fatalf("%s: %v", what, err)
	}
}

// run runs one action that returns a value.
func run[T any](b *browser, what string, action chromedp.Action[T]) T {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.tb.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitText waits until the element of a selector holds a text; the page
// renders asynchronously, so an element may still be from the last view.
func waitText(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.PollFunction[chromedp.Void](`(sel, text) => document.querySelector(sel)?.textContent.includes(text)`,
		chromedp.WithPollingArgs(sel, text), chromedp.WithPollingMutation())
}

func (b *browser) text(sel string) string {
	b.tb.Helper()
	return run(b, "reading "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// signIn signs in with the admin token and waits for the page behind the
// current hash to load.
func (b *browser) signIn(token string) {
	b.tb.Helper()
	b.do("signing in",
		chromedp.WaitVisible(chromedp.CSS("#signin-token")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('signin-token').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#signin-token"), token),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#topbar")),
	)
}

func startServer(tb testing.TB) (*testserver.Server, string) {
	tb.Helper()
	db := filepath.Join(tb.TempDir(), "web.db")
	srv := testserver.Start(tb, nil, "--database-url", "sqlite:"+db, "--admin-token", adminToken)
	return srv, db
}

// chartState is what a drawn chart says about itself.
type chartState struct {
	Valid    string `json:"valid"`
	Limited  string `json:"limited"`
	Rejected string `json:"rejected"`
	Total    string `json:"total"`
	Label    string `json:"label"`
	Bars     int    `json:"bars"`
}

const readChart = `(() => {
	const f = document.querySelector('#usage figure.chart');
	if (!f) return null;
	return { ...f.dataset, label: f.querySelector('svg').getAttribute('aria-label'), bars: f.querySelectorAll('g.bar').length };
})()`

// artifactDir is where test artifacts go: $KEYWARD_ARTIFACTS, else a
// temporary directory.
func artifactDir(tb testing.TB) string {
	if dir := os.Getenv("KEYWARD_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		return dir
	}
	return tb.TempDir()
}

func TestAdminPage(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	srv, _ := startServer(t)

	signInWithWrongToken(t, b, srv)
	b.signIn(adminToken)
	b.do("loading the keys", chromedp.WaitVisible(chromedp.CSS(`#keys-body[aria-busy="false"]`)))
	if loc := run(b, "location", chromedp.Location()); strings.Contains(loc, adminToken) {
		t.Errorf("the admin token is in the URL: %s", loc)
	}
	checkDialogFocus(t, b)
	secret, id := createKeyInPage(t, b)
	revokeInPage(t, b, srv, secret)

	png := run(b, "screenshot", chromedp.CaptureScreenshot())
	path := filepath.Join(artifactDir(t), "key-page.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the key page: %s", path)

	// The keys table finds the key by name and status.
	b.do("filtering the keys",
		chromedp.Navigate(srv.URL+"/#/keys?q=browser&status=revoked"),
		chromedp.WaitVisible(chromedp.CSS(`#keys-body[aria-busy="false"]`)),
	)
	if row := b.text("#keys-body"); !strings.Contains(row, "browser test") || !strings.Contains(row, id) || !strings.Contains(row, "team-web") {
		t.Errorf("keys table: %q", row)
	}
	signOutAfterBadToken(t, b)
}

// signInWithWrongToken opens the page and signs in with a wrong token: a
// readable error, not JSON, and no sign-in.
func signInWithWrongToken(t *testing.T, b *browser, srv *testserver.Server) {
	t.Helper()
	b.do("opening the page", chromedp.Navigate(srv.URL+"/#/keys"))
	b.do("signing in with a wrong token",
		chromedp.WaitVisible(chromedp.CSS("#signin-token")),
		chromedp.SendKeys(chromedp.CSS("#signin-token"), "not-the-admin-token-0123456789abcdef"),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#signin-error strong")),
	)
	if msg := b.text("#signin-error"); !strings.Contains(msg, "not accepted") || !strings.Contains(msg, "credential is not valid") || strings.Contains(msg, "{") {
		t.Errorf("wrong token: error %q", msg)
	}

}

// checkDialogFocus checks the keyboard in the create dialog: the dialog
// takes focus, Shift+Tab wraps, Escape closes it, and focus returns.
func checkDialogFocus(t *testing.T, b *browser) {
	t.Helper()
	focused := func() string {
		t.Helper()
		return run(b, "reading the focus", chromedp.Evaluate[string](`document.activeElement.id`))
	}
	b.do("opening the create dialog", chromedp.Click(chromedp.CSS("#new-key")), chromedp.WaitVisible(chromedp.CSS("#f-name")))
	if f := focused(); f != "f-name" {
		t.Errorf("in the create dialog, focus is on %q, want f-name", f)
	}
	b.do("pressing Shift+Tab", chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(kb.ModifierShift)))
	if f := focused(); f != "key-form-submit" {
		t.Errorf("Shift+Tab from the first field went to %q, want the dialog's last button", f)
	}
	b.do("pressing Escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.CSS("#key-dialog")))
	if f := focused(); f != "new-key" {
		t.Errorf("after Escape, focus is on %q, want new-key", f)
	}

}

// createKeyInPage fails a create with an expiry in the past ("field:
// message"), then creates a key, whose secret is shown once and leaves the
// page with its dialog; it returns the secret and the key's id.
func createKeyInPage(t *testing.T, b *browser) (secret, id string) {
	t.Helper()
	// A validation error from the API reads as "field: message".
	b.do("creating a key that expires in the past",
		chromedp.Click(chromedp.CSS("#new-key")),
		chromedp.WaitVisible(chromedp.CSS("#f-name")),
		chromedp.SendKeys(chromedp.CSS("#f-name"), "browser test"),
		chromedp.SetValue(chromedp.CSS("#f-expiry"), "date"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('f-expiry').dispatchEvent(new Event('change'))`),
		chromedp.SetValue(chromedp.CSS("#f-expires-at"), "2001-02-03T04:05"),
		chromedp.Click(chromedp.CSS("#key-form-submit")),
		chromedp.WaitVisible(chromedp.CSS("#key-form-error li")),
	)
	if msg := b.text("#key-form-error"); !strings.Contains(msg, "expires_at: ") || strings.Contains(msg, "{") {
		t.Errorf("validation error: %q", msg)
	}

	// Create a key; its secret is shown once.
	b.do("creating a key",
		chromedp.SetValue(chromedp.CSS("#f-expiry"), "720h"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('f-expiry').dispatchEvent(new Event('change'))`),
		chromedp.SendKeys(chromedp.CSS("#f-owner"), "team-web"),
		chromedp.SendKeys(chromedp.CSS("#f-scopes"), "invoices:read"),
		chromedp.Click(chromedp.CSS("#key-form-submit")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")),
	)
	secret = b.text("#secret-value")
	if !strings.HasPrefix(secret, "kw_") {
		t.Fatalf("secret %q", secret)
	}
	if w := b.text("#secret-warning"); !strings.Contains(w, "you will not see it again") {
		t.Errorf("secret warning: %q", w)
	}
	stored := run(b, "reading storage", chromedp.Evaluate[string](`JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + location.href`))
	if strings.Contains(stored, secret) {
		t.Errorf("the secret is stored or in the URL: %s", stored)
	}

	// Closing the dialog leads to the key's page, and the secret leaves the page.
	b.do("closing the secret",
		chromedp.Click(chromedp.CSS("#secret-done")),
		chromedp.WaitVisible(chromedp.CSS(`#usage[aria-busy="false"] figure.chart`)),
	)
	loc := run(b, "location", chromedp.Location())
	_, id, ok := strings.Cut(loc, "#/keys/")
	if !ok || !strings.HasPrefix(secret, "kw_"+id+"_") {
		t.Fatalf("after creating, at %s: want the page of the new key (secret %s...)", loc, secret[:20])
	}
	if html := run(b, "reading the page", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, secret) {
		t.Error("the secret is still in the page after its dialog closed")
	}
	if s := b.text("#key-status"); !strings.EqualFold(s, "active") {
		t.Errorf("status %q, want active", s)
	}

	return secret, id
}

// revokeInPage checks that the secret works, revokes the key in the page,
// and waits for the key's chart to show the two verifications and its audit
// log the creation and the revocation.
func revokeInPage(t *testing.T, b *browser, srv *testserver.Server, secret string) {
	t.Helper()
	// The secret works, until the key is revoked in the page.
	if r := srv.Do(t, "GET", "/v1/auth", secret, nil); r.Status != 200 {
		t.Fatalf("/v1/auth with the new key: %d %s", r.Status, r.Body)
	}
	b.do("revoking",
		chromedp.Click(chromedp.CSS("#action-revoke")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS("#key-status.badge-revoked")),
		chromedp.WaitVisible(chromedp.CSS(`#usage[aria-busy="false"] figure.chart`)),
	)
	if r := srv.Do(t, "GET", "/v1/auth", secret, nil); r.Status != 401 || r.Header.Get("X-Keyward-Code") != "REVOKED" {
		t.Fatalf("/v1/auth with the revoked key: %d %s %s", r.Status, r.Header.Get("X-Keyward-Code"), r.Body)
	}

	// The chart shows both verifications, one valid and one rejected, once
	// the server has flushed its usage counts.
	got := waitChart(t, b, func(c chartState) bool { return c.Valid == "1" && c.Rejected == "1" })
	if got.Total != "2" || got.Limited != "0" || got.Bars < 1 || !strings.Contains(got.Label, "2 verifications, 1 valid, 0 rate limited, 1 rejected") {
		t.Errorf("chart: %+v", got)
	}
	legend := b.text("#usage .chart-legend")
	if !strings.Contains(legend, "Valid 1") || !strings.Contains(legend, "Rejected 1") {
		t.Errorf("chart legend: %q", legend)
	}
	// The audit log lists the creation and the revocation.
	if audit := b.text("#audit-body"); !strings.Contains(audit, "Created") || !strings.Contains(audit, "Revoked") {
		t.Errorf("audit log: %q", audit)
	}

}

// signOutAfterBadToken checks that a token the API stops accepting sends the
// page back to sign-in, and that signing out forgets the token.
func signOutAfterBadToken(t *testing.T, b *browser) {
	t.Helper()
	// A token the API stops accepting sends the page back to sign-in.
	b.do("using a bad stored token",
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('keyward.adminToken', 'not-the-admin-token-0123456789abcdef')`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#signin-error strong")),
	)
	if msg := b.text("#signin-error"); !strings.Contains(msg, "sign in again") {
		t.Errorf("after a 401: %q", msg)
	}

	// Sign out forgets the token.
	b.signIn(adminToken)
	b.do("signing out",
		chromedp.WaitVisible(chromedp.CSS(`#keys-body[aria-busy="false"]`)),
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#signin-token")),
	)
	if n := run(b, "reading storage", chromedp.Evaluate[int](`sessionStorage.length`)); n != 0 {
		t.Errorf("after sign-out sessionStorage holds %d items", n)
	}
}

// TestKeyActions edits, disables, enables, rotates and deletes a key in the
// page.
func TestKeyActions(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	srv, _ := startServer(t)
	id := createOrdersKey(t, srv)

	b.do("opening the key", chromedp.Navigate(srv.URL+"/#/keys/"+id))
	b.signIn(adminToken)
	editKeyInPage(t, b, srv, id)
	b.do("disabling", chromedp.Click(chromedp.CSS("#action-toggle")), chromedp.WaitVisible(chromedp.CSS("#key-status.badge-disabled")))
	b.do("enabling", chromedp.Click(chromedp.CSS("#action-toggle")), chromedp.WaitVisible(chromedp.CSS("#key-status.badge-active")))
	rotateKeyInPage(t, b, srv, id)
	deleteOldKeyInPage(t, b, srv, id)
	checkKeyPaging(t, b, srv)
}

// usageLoaded waits until the key page's usage chart has loaded.
func usageLoaded() chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(`#usage[aria-busy="false"] figure.chart`))
}

// createOrdersKey creates the key "orders" of team-a with a rate limit
// through the API and returns its id.
func createOrdersKey(t *testing.T, srv *testserver.Server) string {
	t.Helper()
	r := srv.Do(t, "POST", "/v1/keys", adminToken, map[string]any{"name": "orders", "owner": "team-a", "rate_limit": map[string]any{"limit": 5, "period": "1m"}})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var iss struct {
		Key struct {
			ID string `json:"id"`
		} `json:"key"`
	}
	r.JSON(t, &iss)
	return iss.Key.ID
}

// editKeyInPage renames the open key to orders-v2 and gives it metadata in
// the edit dialog, and checks through the API that the name and metadata
// changed and the rate limit stayed.
func editKeyInPage(t *testing.T, b *browser, srv *testserver.Server, id string) {
	t.Helper()
	b.do("editing",
		usageLoaded(),
		chromedp.Click(chromedp.CSS("#action-edit")),
		chromedp.WaitVisible(chromedp.CSS("#f-name")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('f-name').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#f-name"), "orders-v2"),
		chromedp.SendKeys(chromedp.CSS("#f-metadata"), `{"plan": "pro"}`),
		chromedp.Click(chromedp.CSS("#key-form-submit")),
		chromedp.WaitNotVisible(chromedp.CSS("#key-dialog")),
	)
	// The page shows the new name once it has reloaded the key.
	b.do("waiting for the new name", waitText("#view h1", "orders-v2"))
	var got struct {
		Name      string         `json:"name"`
		Enabled   bool           `json:"enabled"`
		Metadata  map[string]any `json:"metadata"`
		RateLimit map[string]any `json:"rate_limit"`
	}
	srv.Do(t, "GET", "/v1/keys/"+id, adminToken, nil).JSON(t, &got)
	if got.Name != "orders-v2" || got.Metadata["plan"] != "pro" || got.RateLimit == nil {
		t.Errorf("after editing: %+v", got)
	}
}

// rotateKeyInPage rotates the open key, checks that the dialog shows a new
// secret (not naming the old id) once and that /v1/auth accepts it, and
// closes the dialog onto the new key, which links to the old one.
func rotateKeyInPage(t *testing.T, b *browser, srv *testserver.Server, id string) {
	t.Helper()
	b.do("rotating",
		usageLoaded(),
		chromedp.Click(chromedp.CSS("#action-rotate")),
		chromedp.WaitVisible(chromedp.CSS("#rotate-grace")),
		chromedp.Click(chromedp.CSS("#rotate-submit")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")),
	)
	secret := b.text("#secret-value")
	if title := b.text("#secret-title"); title != "Key rotated" || !strings.HasPrefix(secret, "kw_") || strings.Contains(secret, id) {
		t.Errorf("rotation dialog %q with secret %q", title, secret)
	}
	b.do("closing the secret", chromedp.Click(chromedp.CSS("#secret-done")), chromedp.WaitVisible(chromedp.CSS(`.details a[href="#/keys/`+id+`"]`)))
	if r := srv.Do(t, "GET", "/v1/auth", secret, nil); r.Status != 200 {
		t.Errorf("/v1/auth with the rotated secret: %d %s", r.Status, r.Body)
	}
}

// deleteOldKeyInPage deletes the rotated-out key id from its page and
// checks that the API no longer has it and the keys list shows only the
// new orders-v2.
func deleteOldKeyInPage(t *testing.T, b *browser, srv *testserver.Server, id string) {
	t.Helper()
	b.do("deleting the old key",
		chromedp.Navigate(srv.URL+"/#/keys/"+id),
		chromedp.WaitVisible(chromedp.CSS(".notice")), // only the old key has one
		usageLoaded(),
		chromedp.Click(chromedp.CSS("#action-delete")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS(`#keys-body[aria-busy="false"]`)),
	)
	if r := srv.Do(t, "GET", "/v1/keys/"+id, adminToken, nil); r.Status != 404 {
		t.Errorf("after deleting: %d", r.Status)
	}
	if rows := b.text("#keys-body"); strings.Contains(rows, id) || !strings.Contains(rows, "orders-v2") {
		t.Errorf("keys after deleting the old one: %q", rows)
	}
}

// checkKeyPaging creates 22 keys and checks that a search shows them in two
// pages of 20, newest first, and that previous goes back to the first page.
func checkKeyPaging(t *testing.T, b *browser, srv *testserver.Server) {
	t.Helper()
	// Paging: 22 keys are two pages of 20; previous goes back by a
	// remembered cursor.
	for i := range 22 {
		if r := srv.Do(t, "POST", "/v1/keys", adminToken, map[string]any{"name": fmt.Sprintf("bulk-%02d", i)}); r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
	}
	page := func(want string) {
		t.Helper()
		b.do("waiting for "+want, waitText("#page-info", want), chromedp.WaitVisible(chromedp.CSS(`#keys-body[aria-busy="false"]`)))
	}
	b.do("searching", chromedp.Navigate(srv.URL+"/#/keys?q=bulk"))
	page("Keys 1–20 · page 1")
	first := b.text("#keys-body tr:first-child a")
	b.do("next page", chromedp.Click(chromedp.CSS("#page-next")))
	page("Keys 21–22 · page 2")
	if rows := b.text("#keys-body"); !strings.Contains(rows, "bulk-00") || strings.Contains(rows, first) {
		t.Errorf("second page: %q", rows)
	}
	b.do("previous page", chromedp.Click(chromedp.CSS("#page-prev")))
	page("Keys 1–20 · page 1")
	if got := b.text("#keys-body tr:first-child a"); got != first || first != "bulk-21" {
		t.Errorf("back on the first page, the first key is %q (was %q, want bulk-21)", got, first)
	}
}
