package web

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/keyward/keyward/internal/testserver"
)

// owner is an owner record as the API shows it.
type owner struct {
	Name       string `json:"name"`
	KeyCount   int64  `json:"key_count"`
	Remaining  *int64 `json:"remaining"`
	RateLimits []struct {
		Name   string `json:"name"`
		Limit  int64  `json:"limit"`
		Period string `json:"period"`
	} `json:"rate_limits"`
}

// createKey creates a key through the API and returns its id and secret.
func createKey(tb testing.TB, srv *testserver.Server, body map[string]any) (id, secret string) {
	tb.Helper()
	r := srv.Do(tb, "POST", "/v1/keys", adminToken, body)
	if r.Status != 201 {
		tb.Fatalf("creating %v: %d %s", body["name"], r.Status, r.Body)
	}
	var iss struct {
		Key struct {
			ID string `json:"id"`
		} `json:"key"`
		Secret string `json:"secret"`
	}
	r.JSON(tb, &iss)
	return iss.Key.ID, iss.Secret
}

// setField replaces the value of an input.
func setField(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(sel)+`).value = ''`),
		chromedp.SendKeys(chromedp.CSS(sel), value),
	)
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// lastLimitRow is the CSS selector of a field of the last row of a limits
// editor (#f-limits or #o-limits).
func lastLimitRow(editor, field string) string {
	return editor + ` .limit-row:last-child [name="limit_` + field + `"]`
}

// addLimit adds a named limit in a limits editor of the open form.
func addLimit(editor, name, limit, period string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Click(chromedp.CSS(editor+"-add")),
		setField(lastLimitRow(editor, "name"), name),
		chromedp.SendKeys(chromedp.CSS(lastLimitRow(editor, "limit")), limit),
		chromedp.SetValue(chromedp.CSS(lastLimitRow(editor, "period")), period),
	)
}

// TestOwnerPage creates an owner record with a shared limit and credits in
// the page (its name needs URL-escaping), gives it two keys, one through
// the page and one through the API, and checks the owner's page: key count,
// credits, limits, keys, usage, a top-up; then the list and a deletion.
func TestOwnerPage(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	srv, _ := startServer(t)
	const name = "acme corp/eu"
	ownerURL := srv.URL + "/#/owners/" + url.PathEscape(name)

	createOwnerInPage(t, b, srv, name)
	giveOwnerTwoKeys(t, b, srv, name, ownerURL)
	checkOwnerPage(t, b, srv, name, ownerURL)
	// The list finds it by name.
	b.do("searching the owners",
		chromedp.Navigate(srv.URL+"/#/owners?q=CORP"),
		chromedp.WaitVisible(chromedp.CSS(`#owners-body[aria-busy="false"]`)),
	)
	row := b.text("#owners-body")
	for _, want := range []string{name, "2", "daily: 1,000 per day", "1,200"} {
		if !strings.Contains(row, want) {
			t.Errorf("owners list %q lacks %q", row, want)
		}
	}

	// Deleting asks first; the keys keep their owner string.
	b.do("deleting",
		chromedp.Navigate(ownerURL),
		chromedp.WaitVisible(chromedp.CSS("#action-delete")),
		chromedp.Click(chromedp.CSS("#action-delete")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
	)
	if txt := b.text("#confirm-text"); !strings.Contains(txt, "2 keys") {
		t.Errorf("the confirmation says %q", txt)
	}
	b.do("confirming", chromedp.Click(chromedp.CSS("#confirm-ok")), chromedp.WaitVisible(chromedp.CSS(`#owners-body[aria-busy="false"]`)))
	if r := srv.Do(t, "GET", "/v1/owners/"+url.PathEscape(name), adminToken, nil); r.Status != 404 {
		t.Errorf("after deleting, GET the owner: %d", r.Status)
	}
	b.do("opening the owner without a record",
		chromedp.Navigate(ownerURL),
		chromedp.WaitVisible(chromedp.CSS("#owner-no-record")),
		chromedp.WaitVisible(chromedp.CSS(`#owner-keys-body[aria-busy="false"]`)),
	)
	if keys := b.text("#owner-keys-body"); !strings.Contains(keys, "acme-production") {
		t.Errorf("the keys of a deleted owner: %q", keys)
	}
}

// createOwnerInPage creates the owner record name with a shared daily limit
// of 1,000 and 500 credits in the page, and checks that a second "New
// owner" of the same name does not replace it.
func createOwnerInPage(t *testing.T, b *browser, srv *testserver.Server, name string) {
	t.Helper()
	b.do("opening the owners", chromedp.Navigate(srv.URL+"/#/owners"))
	b.signIn(adminToken)
	b.do("creating an owner",
		chromedp.WaitVisible(chromedp.CSS(`#owners-body[aria-busy="false"]`)),
		chromedp.Click(chromedp.CSS("#new-owner")),
		chromedp.WaitVisible(chromedp.CSS("#o-name")),
		chromedp.SendKeys(chromedp.CSS("#o-name"), name),
		addLimit("#o-limits", "daily", "1000", "24h"),
		chromedp.SendKeys(chromedp.CSS("#o-remaining"), "500"),
		chromedp.Click(chromedp.CSS("#owner-form-submit")),
		chromedp.WaitNotVisible(chromedp.CSS("#owner-dialog")),
		waitText("#view h1", name),
		chromedp.WaitVisible(chromedp.CSS("#owner-credits")),
	)
	if loc := run(b, "location", chromedp.Location()); !strings.HasSuffix(loc, "#/owners/acme%20corp%2Feu") {
		t.Errorf("the owner's page is at %s, want its name URL-escaped", loc)
	}
	var got owner
	if r := srv.Do(t, "GET", "/v1/owners/"+url.PathEscape(name), adminToken, nil); r.Status != 200 {
		t.Fatalf("GET the owner: %d %s", r.Status, r.Body)
	} else {
		r.JSON(t, &got)
	}
	if got.Remaining == nil || *got.Remaining != 500 || len(got.RateLimits) != 1 || got.RateLimits[0].Name != "daily" || got.RateLimits[0].Limit != 1000 {
		t.Errorf("the owner created in the page: %+v", got)
	}

	// A second "New owner" of the same name does not replace the record.
	b.do("creating it again",
		chromedp.Navigate(srv.URL+"/#/owners"),
		chromedp.WaitVisible(chromedp.CSS(`#owners-body[aria-busy="false"]`)),
		chromedp.Click(chromedp.CSS("#new-owner")),
		chromedp.WaitVisible(chromedp.CSS("#o-name")),
		chromedp.SendKeys(chromedp.CSS("#o-name"), name),
		chromedp.Click(chromedp.CSS("#owner-form-submit")),
		chromedp.WaitVisible(chromedp.CSS("#owner-form-error li")),
	)
	if msg := b.text("#owner-form-error"); !strings.Contains(msg, "exists already") {
		t.Errorf("creating an existing owner: %q", msg)
	}
	b.do("closing the form", chromedp.Click(chromedp.CSS("#owner-dialog [data-close]")), chromedp.WaitNotVisible(chromedp.CSS("#owner-dialog")))

}

// giveOwnerTwoKeys creates a key of the owner through its page (the form
// comes with the owner filled in) and one through the API, and sends three
// verifications, for the owner's chart.
func giveOwnerTwoKeys(t *testing.T, b *browser, srv *testserver.Server, name, ownerURL string) {
	t.Helper()
	b.do("creating a key from the owner's page",
		chromedp.Navigate(ownerURL),
		chromedp.WaitVisible(chromedp.CSS(`#owner-keys-body[aria-busy="false"]`)),
		chromedp.Click(chromedp.CSS("#owner-new-key")),
		chromedp.WaitVisible(chromedp.CSS("#f-name")),
		chromedp.SendKeys(chromedp.CSS("#f-name"), "acme-production"),
		chromedp.Click(chromedp.CSS("#key-form-submit")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")),
	)
	secret1 := b.text("#secret-value")
	b.do("closing the secret", chromedp.Click(chromedp.CSS("#secret-done")), waitText("#view h1", "acme-production"))
	_, secret2 := createKey(t, srv, map[string]any{"name": "acme-staging", "owner": name, "rate_limits": []map[string]any{{"name": "burst", "limit": 10, "period": "1s"}}})

	for _, s := range []string{secret1, secret2, secret2} {
		if r := srv.Do(t, "GET", "/v1/auth", s, nil); r.Status != 200 {
			t.Fatalf("/v1/auth: %d %s", r.Status, r.Body)
		}
	}

}

// checkOwnerPage checks the owner's page (key count, credits, limits, keys,
// usage), tops its credits up, and opens a key of the owner, whose page shows
// its own limits, its owner's and the shared credits.
func checkOwnerPage(t *testing.T, b *browser, srv *testserver.Server, name, ownerURL string) {
	t.Helper()
	b.do("opening the owner",
		chromedp.Navigate(ownerURL),
		waitText("#view h1", name),
		chromedp.WaitVisible(chromedp.CSS(`#owner-keys-body[aria-busy="false"]`)),
	)
	if n := b.text("#owner-key-count"); n != "2" {
		t.Errorf("key count %q, want 2", n)
	}
	if c := b.text("#owner-credits"); c != "497" {
		t.Errorf("credits %q, want 497 (500 less 3 requests)", c)
	}
	if l := b.text("#owner-limit-chips"); !strings.Contains(l, "daily: 1,000 per day") {
		t.Errorf("shared limits %q", l)
	}
	if l := b.text("#owner-limits"); !strings.Contains(l, "daily") || !strings.Contains(l, "1,000 per day") {
		t.Errorf("limits table %q", l)
	}
	if keys := b.text("#owner-keys-body"); !strings.Contains(keys, "acme-production") || !strings.Contains(keys, "acme-staging") {
		t.Errorf("the owner's keys: %q", keys)
	}
	got2 := waitChart(t, b, func(c chartState) bool { return c.Valid == "3" })
	if !strings.Contains(got2.Label, "all keys of "+name) {
		t.Errorf("owner chart label %q", got2.Label)
	}

	// Top-up: the new balance shows.
	b.do("topping up",
		chromedp.Click(chromedp.CSS("#action-topup")),
		chromedp.WaitVisible(chromedp.CSS("#topup-balance")),
		setField("#topup-balance", "1200"),
		chromedp.Click(chromedp.CSS("#topup-submit")),
		chromedp.WaitNotVisible(chromedp.CSS("#topup-dialog")),
		waitText("#owner-credits", "1,200"),
	)
	var got owner
	srv.Do(t, "GET", "/v1/owners/"+url.PathEscape(name), adminToken, nil).JSON(t, &got)
	if got.Remaining == nil || *got.Remaining != 1200 {
		t.Errorf("after the top-up the owner has %v credits", got.Remaining)
	}

	// A key's page shows its own limits and its owner's, and the shared credits.
	b.do("opening a key of the owner",
		chromedp.Click(chromedp.CSS(`#owner-keys-body a[href^="#/keys/"]`)),
		chromedp.WaitVisible(chromedp.CSS("#limits-body")),
	)
	if l := b.text("#limits-body"); !strings.Contains(l, "This key") || !strings.Contains(l, "Owner "+name) || !strings.Contains(l, "daily") {
		t.Errorf("the key's limits: %q", l)
	}
	if c := b.text("#key-owner-credits"); c != "1,200" {
		t.Errorf("the key's owner credits %q", c)
	}

}

// waitChart reloads the chart of #usage until ok holds (the server flushes
// usage every 200ms here), for at most 5s.
func waitChart(t *testing.T, b *browser, ok func(chartState) bool) chartState {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		b.do("reloading the chart",
			chromedp.Click(chromedp.CSS("#usage-refresh")),
			chromedp.WaitVisible(chromedp.CSS(`#usage[aria-busy="false"] figure.chart`)),
		)
		got := run(b, "reading the chart", chromedp.Evaluate[chartState](readChart))
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5s the chart shows %+v", got)
		}
		<-tick.C
	}
}

// TestRolesEditor creates a role in the editor, gives it to a key in the key
// form (with a named limit), sees the key's page show the role and its
// effective scopes, is refused the role's deletion with the 409 message
// while the key has it, then replaces the role and deletes it.
func TestRolesEditor(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	srv, _ := startServer(t)
	id, secret := createKey(t, srv, map[string]any{"name": "reports-bot", "scopes": []string{"reports:read"}})

	createRoleInPage(t, b, srv)
	giveKeyTheRole(t, b, srv, id, secret)
	replaceAndDeleteRole(t, b, srv, id)
}

// createRoleInPage creates the role invoices-reader in the editor, and sees
// a badly named one refused with the API's message on the name field.
func createRoleInPage(t *testing.T, b *browser, srv *testserver.Server) {
	t.Helper()
	b.do("opening the roles", chromedp.Navigate(srv.URL+"/#/roles"))
	b.signIn(adminToken)
	b.do("creating a role",
		chromedp.WaitVisible(chromedp.CSS(`#roles-body[aria-busy="false"]`)),
		chromedp.Click(chromedp.CSS("#new-role")),
		chromedp.WaitVisible(chromedp.CSS("#r-name")),
		chromedp.SendKeys(chromedp.CSS("#r-name"), "invoices-reader"),
		chromedp.SendKeys(chromedp.CSS("#r-description"), "Reads and exports invoices"),
		chromedp.SendKeys(chromedp.CSS("#r-scopes"), "invoices:read, invoices:export"),
		chromedp.Click(chromedp.CSS("#role-form-submit")),
		chromedp.WaitNotVisible(chromedp.CSS("#role-dialog")),
		waitText("#roles-body", "invoices-reader"),
	)
	if row := b.text(`#roles-body tr[data-role="invoices-reader"]`); !strings.Contains(row, "Reads and exports invoices") || !strings.Contains(row, "invoices:export") {
		t.Errorf("role row %q", row)
	}

	// A bad name reads as the API's message, on the name.
	b.do("creating a badly named role",
		chromedp.Click(chromedp.CSS("#new-role")),
		chromedp.WaitVisible(chromedp.CSS("#r-name")),
		chromedp.SendKeys(chromedp.CSS("#r-name"), "Bad Name"),
		chromedp.Click(chromedp.CSS("#role-form-submit")),
		chromedp.WaitVisible(chromedp.CSS("#role-form-error li")),
	)
	if msg := b.text("#role-form-error"); !strings.Contains(msg, "name: must match") || strings.Contains(msg, `"location"`) {
		t.Errorf("bad role name: %q", msg)
	}
	if inv := run(b, "reading aria-invalid", chromedp.Evaluate[string](`document.getElementById('r-name').getAttribute('aria-invalid') || ''`)); inv != "true" {
		t.Errorf("the name field is not marked invalid (%q)", inv)
	}
	b.do("closing the editor", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.CSS("#role-dialog")))

}

// giveKeyTheRole gives the key id the role invoices-reader and a named limit
// in the key form, and checks the key's page, the API and the server's
// decision.
func giveKeyTheRole(t *testing.T, b *browser, srv *testserver.Server, id, secret string) {
	t.Helper()
	// The key form offers the role; the key gets it and a named limit.
	b.do("editing the key",
		chromedp.Navigate(srv.URL+"/#/keys/"+id),
		chromedp.WaitVisible(chromedp.CSS("#action-edit")),
		chromedp.Click(chromedp.CSS("#action-edit")),
		chromedp.WaitVisible(chromedp.CSS(`#f-roles-list input[value="invoices-reader"]`)),
		chromedp.Click(chromedp.CSS(`#f-roles-list input[value="invoices-reader"]`)),
		addLimit("#f-limits", "burst", "10", "1s"),
		chromedp.Click(chromedp.CSS("#key-form-submit")),
		chromedp.WaitNotVisible(chromedp.CSS("#key-dialog")),
		waitText("#key-roles", "invoices-reader"),
	)
	eff := b.text("#key-effective-scopes")
	for _, s := range []string{"reports:read", "invoices:read", "invoices:export"} {
		if !strings.Contains(eff, s) {
			t.Errorf("effective scopes %q lack %s", eff, s)
		}
	}
	if l := b.text("#limits-body"); !strings.Contains(l, "burst") || !strings.Contains(l, "10 per second") {
		t.Errorf("the key's limits: %q", l)
	}
	var k struct {
		Roles      []string `json:"roles"`
		RateLimits []struct {
			Name  string `json:"name"`
			Limit int64  `json:"limit"`
		} `json:"rate_limits"`
	}
	srv.Do(t, "GET", "/v1/keys/"+id, adminToken, nil).JSON(t, &k)
	if !slices.Equal(k.Roles, []string{"invoices-reader"}) || len(k.RateLimits) != 1 || k.RateLimits[0].Name != "burst" || k.RateLimits[0].Limit != 10 {
		t.Errorf("the key after the form: %+v", k)
	}
	// The server agrees: the role's scope is granted.
	if r := srv.Do(t, "GET", "/v1/auth?scopes=invoices:export", secret, nil); r.Status != 200 {
		t.Errorf("/v1/auth with a scope of the role: %d %s", r.Status, r.Body)
	}

}

// replaceAndDeleteRole is refused the role's deletion while the key id has
// it, replaces the role's scopes, takes it off the key and deletes it.
func replaceAndDeleteRole(t *testing.T, b *browser, srv *testserver.Server, id string) {
	t.Helper()
	// Deleting the role is refused while the key has it.
	deleteRole := chromedp.Steps(
		chromedp.Navigate(srv.URL+"/#/roles"),
		chromedp.WaitVisible(chromedp.CSS(`#roles-body[aria-busy="false"]`)),
		chromedp.Click(chromedp.CSS(`button[data-delete-role="invoices-reader"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
	)
	b.do("deleting the role", deleteRole, chromedp.WaitVisible(chromedp.CSS("#confirm-error strong")))
	if msg := b.text("#confirm-error"); !strings.Contains(msg, "Keys still have this role; take it off them first.") {
		t.Errorf("refused deletion: %q", msg)
	}
	b.do("cancelling", chromedp.Click(chromedp.CSS("#confirm-dialog [data-close]")), chromedp.WaitNotVisible(chromedp.CSS("#confirm-dialog")))
	if r := srv.Do(t, "GET", "/v1/roles/invoices-reader", adminToken, nil); r.Status != 200 {
		t.Errorf("after the refused deletion, GET the role: %d", r.Status)
	}

	// Replacing the role changes the key's effective scopes.
	b.do("editing the role",
		chromedp.Click(chromedp.CSS(`button[data-edit-role="invoices-reader"]`)),
		chromedp.WaitVisible(chromedp.CSS("#r-scopes")),
		setField("#r-scopes", "invoices:read"),
		chromedp.Click(chromedp.CSS("#role-form-submit")),
		chromedp.WaitNotVisible(chromedp.CSS("#role-dialog")),
		chromedp.Navigate(srv.URL+"/#/keys/"+id),
		waitText("#key-roles", "invoices-reader"),
	)
	if eff := b.text("#key-effective-scopes"); !strings.Contains(eff, "invoices:read") || strings.Contains(eff, "invoices:export") {
		t.Errorf("effective scopes after the role changed: %q", eff)
	}

	// Off the key, the role can go.
	b.do("taking the role off the key",
		chromedp.Click(chromedp.CSS("#action-edit")),
		chromedp.WaitVisible(chromedp.CSS(`#f-roles-list input[value="invoices-reader"]:checked`)),
		chromedp.Click(chromedp.CSS(`#f-roles-list input[value="invoices-reader"]`)),
		chromedp.Click(chromedp.CSS("#key-form-submit")),
		chromedp.WaitNotVisible(chromedp.CSS("#key-dialog")),
		waitText("#key-roles", "None"),
	)
	b.do("deleting the role again", deleteRole, chromedp.WaitNotVisible(chromedp.CSS("#confirm-dialog")),
		waitText("#roles-body", "No roles yet"))
	if r := srv.Do(t, "GET", "/v1/roles/invoices-reader", adminToken, nil); r.Status != 404 {
		t.Errorf("after deleting, GET the role: %d", r.Status)
	}
}
