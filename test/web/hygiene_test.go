package web

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testserver"
	"github.com/keyward/keyward/internal/testsqlite"
	"github.com/keyward/keyward/store/sqlite"
)

// TestHygieneCard: the overview's hygiene card counts the active keys never
// used, unused for 90 days, expiring within 7 days and without expiry; a
// click on a count shows the keys list with that filter, which the list's
// own filter form keeps.
func TestHygieneCard(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	srv, db := startServer(t)
	ids := map[string]string{}
	for name, body := range map[string]map[string]any{
		"dusty": {}, "fresh": {}, "gone": {},
		"soon": {"expires_in": "100h"}, "later": {"expires_in": "400h"},
	} {
		body["name"] = name
		r := srv.Do(t, "POST", "/v1/keys", adminToken, body)
		if r.Status != 201 {
			t.Fatalf("create %s: %d %s", name, r.Status, r.Body)
		}
		var iss struct {
			Key struct {
				ID string `json:"id"`
			} `json:"key"`
		}
		r.JSON(t, &iss)
		ids[name] = iss.Key.ID
	}
	if r := srv.Do(t, "POST", "/v1/keys/"+ids["gone"]+"/revoke", adminToken, nil); r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	// dusty and gone were created 120 days ago, and never used; the others
	// were used just now. The API sets neither time: the test writes them.
	raw := testsqlite.Open(t, db)
	raw.SetMaxOpenConns(1) // one connection, so that it keeps the pragma
	if _, err := raw.Exec(`PRAGMA busy_timeout = 10000`); err != nil {
		t.Fatal(err) // the server writes too (usage, webhook leases): wait for it
	}
	old := time.Now().Add(-120 * 24 * time.Hour).UnixMilli()
	for _, name := range []string{"dusty", "gone"} {
		if _, err := raw.Exec(`UPDATE keys SET created_at = ? WHERE id = ?`, old, ids[name]); err != nil {
			t.Fatal(err)
		}
	}
	st, err := sqlite.Open(context.Background(), db, &sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = st.RecordUsage(context.Background(), keyward.UsageBatch{LastUsed: map[string]time.Time{ids["fresh"]: now, ids["soon"]: now, ids["later"]: now}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	b.do("opening the overview", chromedp.Navigate(srv.URL+"/#/overview"))
	b.signIn(adminToken)
	b.do("loading the hygiene card", chromedp.WaitVisible(chromedp.CSS(`#hygiene[aria-busy="false"]`)))
	for id, want := range map[string]string{
		"never-used": "Never used 1", "unused": "Unused for 90 days 1", "expiring": "Expiring within 7 days 1", "no-expiry": "No expiry 2",
	} {
		if got := strings.Join(strings.Fields(b.text("#hygiene-"+id)), " "); got != want {
			t.Errorf("hygiene card %s: %q, want %q", id, got, want)
		}
	}

	listed := func() string {
		t.Helper()
		b.do("loading the keys", chromedp.WaitVisible(chromedp.CSS(`#keys-body[aria-busy="false"]`)))
		return b.text("#keys-body")
	}
	b.do("clicking unused for 90 days", chromedp.Click(chromedp.CSS("#hygiene-unused")), chromedp.WaitVisible(chromedp.CSS("#keys-hygiene")))
	if loc := run(b, "location", chromedp.Location()); !strings.HasSuffix(loc, "#/keys?status=active&unused_for=2160h") {
		t.Errorf("the card links to %s", loc)
	}
	if rows := listed(); !strings.Contains(rows, "dusty") || strings.Contains(rows, "fresh") || strings.Contains(rows, "gone") || strings.Contains(rows, "soon") {
		t.Errorf("keys unused for 90 days: %q, want dusty alone", rows)
	}
	if n := b.text("#keys-hygiene"); !strings.Contains(n, "not used for 90 days") {
		t.Errorf("the list says %q", n)
	}
	// The list's filter form keeps the filter. The list stays visible while
	// the form navigates, so the step waits for the new address itself.
	b.do("filtering by name",
		chromedp.SendKeys(chromedp.CSS("#filter-q"), "dust"),
		chromedp.Submit(chromedp.CSS("#filter-q")),
	)
	loc := b.waitLocation("q=dust")
	b.do("loading the filtered list", chromedp.WaitVisible(chromedp.CSS("#keys-hygiene")))
	if !strings.Contains(loc, "unused_for=2160h") {
		t.Errorf("after the filter form: %s, want unused_for and q", loc)
	}
	if rows := listed(); !strings.Contains(rows, "dusty") {
		t.Errorf("keys unused for 90 days named dust: %q", rows)
	}

	b.do("back to the overview", chromedp.Navigate(srv.URL+"/#/overview"), chromedp.WaitVisible(chromedp.CSS(`#hygiene[aria-busy="false"]`)))
	b.do("clicking expiring within 7 days", chromedp.Click(chromedp.CSS("#hygiene-expiring")), chromedp.WaitVisible(chromedp.CSS("#keys-hygiene")))
	if rows := listed(); !strings.Contains(rows, "soon") || strings.Contains(rows, "later") || strings.Contains(rows, "dusty") {
		t.Errorf("keys expiring within 7 days: %q, want soon alone", rows)
	}
	b.do("back to the overview", chromedp.Navigate(srv.URL+"/#/overview"), chromedp.WaitVisible(chromedp.CSS(`#hygiene[aria-busy="false"]`)))
	b.do("clicking no expiry", chromedp.Click(chromedp.CSS("#hygiene-no-expiry")), chromedp.WaitVisible(chromedp.CSS("#keys-hygiene")))
	if rows := listed(); !strings.Contains(rows, "dusty") || !strings.Contains(rows, "fresh") || strings.Contains(rows, "gone") || strings.Contains(rows, "soon") {
		t.Errorf("active keys without expiry: %q, want dusty and fresh", rows)
	}
}

// TestKeyFormFollowsThePolicy: under a default and a maximum key lifetime,
// the new key form offers the default (and takes it), and disables "Never
// expires" and the choices beyond the maximum.
func TestKeyFormFollowsThePolicy(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	db := filepath.Join(t.TempDir(), "web.db")
	srv := testserver.Start(t, nil, "--database-url", "sqlite:"+db, "--admin-token", adminToken,
		"--default-key-lifetime", "720h", "--max-key-lifetime", "2160h")
	b.do("opening the page", chromedp.Navigate(srv.URL+"/#/keys"))
	b.signIn(adminToken)
	b.do("opening the create dialog",
		chromedp.WaitVisible(chromedp.CSS(`#keys-body[aria-busy="false"]`)),
		chromedp.Click(chromedp.CSS("#new-key")),
		chromedp.WaitVisible(chromedp.CSS("#f-name")),
		waitText("#f-expiry-help", "90 days at most"),
	)
	type option struct {
		Value    string `json:"value"`
		Text     string `json:"text"`
		Disabled bool   `json:"disabled"`
		Hidden   bool   `json:"hidden"`
	}
	state := run(b, "reading the expiry choices", chromedp.Evaluate[struct {
		Value   string   `json:"value"`
		Options []option `json:"options"`
	}](`({ value: document.getElementById('f-expiry').value,
		options: [...document.getElementById('f-expiry').options].map((o) => ({ value: o.value, text: o.textContent, disabled: o.disabled, hidden: o.hidden })) })`))
	if state.Value != "policy" {
		t.Errorf("the expiry of a new key is %q, want the policy's default", state.Value)
	}
	for _, o := range state.Options {
		off := o.Value == "" || o.Value == "8760h" || o.Value == "keep"
		if o.Disabled != off {
			t.Errorf("expiry choice %q (%s): disabled %v, want %v", o.Value, o.Text, o.Disabled, off)
		}
		if o.Value == "policy" && (o.Hidden || o.Text != "Policy default: in 30 days") {
			t.Errorf("the policy's choice: %+v", o)
		}
	}
	before := time.Now()
	b.do("creating a key",
		chromedp.SendKeys(chromedp.CSS("#f-name"), "by default"),
		chromedp.Click(chromedp.CSS("#key-form-submit")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")),
	)
	var page struct {
		Items []struct {
			Name      string     `json:"name"`
			ExpiresAt *time.Time `json:"expires_at"`
		} `json:"items"`
	}
	srv.Do(t, "GET", "/v1/keys", adminToken, nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].ExpiresAt == nil ||
		page.Items[0].ExpiresAt.Before(before.Add(720*time.Hour).Truncate(time.Second)) || page.Items[0].ExpiresAt.After(time.Now().Add(720*time.Hour)) {
		t.Errorf("the key created with the policy's default: %+v, want it to expire in 720h", page.Items)
	}
}

// waitLocation waits until the page's address contains part (reading it
// again while a navigation makes it unreadable) and returns it.
func (b *browser) waitLocation(part string) string {
	b.tb.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		cancel()
		if err == nil && strings.Contains(loc, part) {
			return loc
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("the address never held %s: %q, %v", part, loc, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
