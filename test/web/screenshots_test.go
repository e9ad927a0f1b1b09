package web

// The README's screenshots, and the keys, owners and usage they show.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testserver"
	"github.com/keyward/keyward/store/sqlite"
)

// TestScreenshots writes the README's screenshots to $KEYWARD_SCREENSHOTS:
// the keys table, the secret of a new key, a key's page with traffic, the
// overview, an owner's page and the roles editor.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("KEYWARD_SCREENSHOTS")
	if dir == "" {
		t.Skip("set KEYWARD_SCREENSHOTS=docs/img to write the README's screenshots")
	}
	if !filepath.IsAbs(dir) {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1280, 800)
	srv, db := startServer(t)
	ids, owners := seedKeys(t, srv)
	seedUsage(t, db, ids, owners)

	shot := func(name string) {
		t.Helper()
		// The pointer off the content, so that nothing shows a hover state.
		b.do("moving the mouse away", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 2, 790))
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, run(b, "screenshot", chromedp.CaptureScreenshot()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}

	b.do("opening the page", chromedp.Navigate(srv.URL+"/#/keys"))
	b.signIn(adminToken)
	b.do("loading the keys", chromedp.WaitVisible(chromedp.CSS(`#keys-body[aria-busy="false"]`)))
	shot("keys.png")

	b.do("creating a key",
		chromedp.Click(chromedp.CSS("#new-key")),
		chromedp.WaitVisible(chromedp.CSS("#f-name")),
		chromedp.SendKeys(chromedp.CSS("#f-name"), "reporting-dashboard"),
		chromedp.SendKeys(chromedp.CSS("#f-owner"), "team-analytics"),
		chromedp.SendKeys(chromedp.CSS("#f-scopes"), "reports:read"),
		chromedp.Click(chromedp.CSS("#key-form-submit")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")),
		chromedp.Blur(chromedp.CSS("#secret-copy")),
	)
	shot("create-secret.png")
	b.do("closing the secret", chromedp.Click(chromedp.CSS("#secret-done")), chromedp.WaitVisible(chromedp.CSS("#usage figure.chart")))

	b.do("opening a key",
		chromedp.Navigate(srv.URL+"/#/keys/"+ids["billing-service"]),
		waitText("#view h1", "billing-service"),
		chromedp.WaitVisible(chromedp.CSS(`#usage[aria-busy="false"] figure.chart`)),
		chromedp.WaitVisible(chromedp.CSS("#audit-body td")),
	)
	shot("key-page.png")

	b.do("opening the overview",
		chromedp.Navigate(srv.URL+"/#/overview"),
		chromedp.WaitVisible(chromedp.CSS("#overview-chart figure.chart")),
	)
	shot("overview.png")

	// The owner's page is taller than the others: its keys and shared limits
	// come after the chart.
	b.do("opening an owner",
		chromedp.EmulateViewport(1280, 1600),
		chromedp.Navigate(srv.URL+"/#/owners/acme"),
		waitText("#view h1", "acme"),
		chromedp.WaitVisible(chromedp.CSS(`#usage[aria-busy="false"] figure.chart`)),
		chromedp.WaitVisible(chromedp.CSS(`#owner-keys-body[aria-busy="false"]`)),
	)
	shot("owner-page.png")

	b.do("opening the roles editor",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(srv.URL+"/#/roles"),
		chromedp.WaitVisible(chromedp.CSS(`#roles-body[aria-busy="false"]`)),
		chromedp.Click(chromedp.CSS(`button[data-edit-role="billing-admin"]`)),
		chromedp.WaitVisible(chromedp.CSS("#r-scopes")),
		chromedp.Blur(chromedp.CSS("#r-description")),
	)
	shot("roles-editor.png")
}

// seedKeys creates a realistic set of roles, owner records and keys through
// the API, and returns the keys' ids and owners by name.
func seedKeys(tb testing.TB, srv *testserver.Server) (ids, owners map[string]string) {
	tb.Helper()
	roles := map[string]map[string]any{
		"invoices-reader": {"description": "Reads invoices and their PDFs", "scopes": []string{"invoices:read", "invoices:pdf"}},
		"billing-admin":   {"description": "Everything in billing: invoices, refunds and plans", "scopes": []string{"invoices:read", "invoices:write", "refunds:write", "plans:admin"}},
		"orders-sync":     {"description": "Partner order synchronisation", "scopes": []string{"orders:read", "orders:write"}},
		"read-only":       {"description": "Read access to the public API", "scopes": []string{"api:read", "orders:read"}},
	}
	for name, body := range roles {
		if r := srv.Do(tb, "PUT", "/v1/roles/"+name, adminToken, body); r.Status != 201 {
			tb.Fatalf("creating the role %s: %d %s", name, r.Status, r.Body)
		}
	}
	acme := map[string]any{
		"metadata": map[string]any{"plan": "enterprise", "crm_id": "ACME-0042"},
		"rate_limits": []map[string]any{
			{"name": "daily", "limit": 100000, "period": "24h"},
			{"name": "burst", "limit": 50, "period": "1s"},
		},
		"remaining": 8420, "refill": map[string]any{"interval": "monthly", "amount": 10000},
	}
	if r := srv.Do(tb, "PUT", "/v1/owners/acme", adminToken, acme); r.Status != 201 {
		tb.Fatalf("creating the owner acme: %d %s", r.Status, r.Body)
	}
	keys := []map[string]any{
		{"name": "billing-service", "description": "Invoices API for the billing backend", "owner": "team-billing", "scopes": []string{"invoices:read"}, "roles": []string{"billing-admin"},
			"rate_limit": map[string]any{"limit": 120, "period": "1m"}, "expires_in": "2160h", "metadata": map[string]any{"env": "production", "ticket": "OPS-1432"}},
		{"name": "legacy-reports", "description": "Old reporting cron, replaced by the dashboard", "owner": "team-finance", "scopes": []string{"reports:read"}},
		{"name": "ci-deploy", "description": "Deploys from CI", "owner": "team-platform", "scopes": []string{"deploy:write"}, "expires_in": "720h"},
		{"name": "partner-acme", "description": "Acme Corp order sync", "owner": "acme", "roles": []string{"orders-sync"}, "expires_in": "8760h",
			"rate_limits": []map[string]any{{"name": "burst", "limit": 10, "period": "1s"}}},
		{"name": "acme-production", "description": "Acme storefront, production", "owner": "acme", "roles": []string{"read-only"},
			"rate_limits": []map[string]any{{"name": "burst", "limit": 10, "period": "1s"}}},
		{"name": "acme-staging", "description": "Acme storefront, staging", "owner": "acme", "roles": []string{"read-only"},
			"rate_limits": []map[string]any{{"name": "burst", "limit": 5, "period": "1s"}}},
		{"name": "acme-ci", "description": "Acme's CI smoke tests", "owner": "acme", "roles": []string{"read-only"}, "expires_in": "720h"},
		{"name": "partner-globex", "description": "Globex pilot, paused", "owner": "globex", "scopes": []string{"orders:read"}, "enabled": false},
		{"name": "search-indexer", "description": "Nightly reindex job", "owner": "team-search", "scopes": []string{"search:write"}, "expires_in": "720h"},
		{"name": "mobile-app-android", "owner": "team-mobile", "scopes": []string{"api:read"}, "rate_limit": map[string]any{"limit": 100, "period": "1m"}},
		{"name": "mobile-app-ios", "owner": "team-mobile", "scopes": []string{"api:read"}, "rate_limit": map[string]any{"limit": 100, "period": "1m"}},
		{"name": "grafana-metrics", "description": "Dashboards read usage", "owner": "team-platform", "scopes": []string{"metrics:read"}, "expires_in": "336h"},
	}
	ids, owners = map[string]string{}, map[string]string{}
	secrets := map[string]string{}
	for _, k := range keys {
		name := k["name"].(string)
		ids[name], secrets[name] = createKey(tb, srv, k)
		owners[name], _ = k["owner"].(string)
	}
	if r := srv.Do(tb, "POST", "/v1/keys/"+ids["legacy-reports"]+"/revoke", adminToken, nil); r.Status != 200 {
		tb.Fatalf("revoking: %d %s", r.Status, r.Body)
	}
	// Some live traffic of each outcome, besides the history of seedUsage.
	for i := 0; i < 5; i++ {
		srv.Do(tb, "GET", "/v1/auth", secrets["billing-service"], nil)
	}
	srv.Do(tb, "GET", "/v1/auth?scopes=invoices:delete", secrets["billing-service"], nil)
	srv.Do(tb, "GET", "/v1/auth", secrets["legacy-reports"], nil)
	return ids, owners
}

// seedUsage writes an hour of usage history straight into the database (the
// server keeps running: SQLite takes writes from several processes).
func seedUsage(tb testing.TB, db string, ids, owners map[string]string) {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, &sqlite.Options{MustExist: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	rnd := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC().Truncate(time.Minute)
	var batch keyward.UsageBatch
	add := func(name string, at time.Time, o keyward.Outcome, n int64) {
		if n > 0 {
			batch.Counts = append(batch.Counts, keyward.UsageCount{KeyID: ids[name], Owner: owners[name], Start: at, Outcome: o, Count: n})
		}
	}
	for m := 1; m < 60; m++ {
		at := now.Add(-time.Duration(m) * time.Minute)
		wave := 70 + 35*math.Sin(float64(m)/7)
		add("billing-service", at, keyward.OutcomeValid, int64(wave)+rnd.Int64N(15))
		if m >= 18 && m <= 24 { // a burst over the rate limit
			add("billing-service", at, keyward.OutcomeRateLimited, 20+rnd.Int64N(25))
		}
		if rnd.IntN(4) == 0 {
			add("billing-service", at, keyward.OutcomeInsufficientScope, 1+rnd.Int64N(4))
		}
		add("mobile-app-ios", at, keyward.OutcomeValid, 30+rnd.Int64N(20))
		add("mobile-app-android", at, keyward.OutcomeValid, 25+rnd.Int64N(20))
		add("partner-acme", at, keyward.OutcomeValid, rnd.Int64N(12))
		add("acme-production", at, keyward.OutcomeValid, 40+int64(20*math.Cos(float64(m)/9))+rnd.Int64N(10))
		add("acme-staging", at, keyward.OutcomeValid, rnd.Int64N(8))
		if m >= 31 && m <= 34 { // the storefront's burst limit
			add("acme-production", at, keyward.OutcomeRateLimited, 5+rnd.Int64N(10))
		}
		if m%15 == 0 {
			add("acme-ci", at, keyward.OutcomeValid, 20+rnd.Int64N(5))
		}
		if rnd.IntN(6) == 0 {
			add("legacy-reports", at, keyward.OutcomeRevoked, 1+rnd.Int64N(3))
		}
	}
	batch.LastUsed = map[string]time.Time{
		ids["billing-service"]:    now,
		ids["mobile-app-ios"]:     now.Add(-time.Minute),
		ids["mobile-app-android"]: now.Add(-3 * time.Minute),
		ids["partner-acme"]:       now.Add(-17 * time.Minute),
		ids["acme-production"]:    now,
		ids["acme-staging"]:       now.Add(-4 * time.Minute),
		ids["acme-ci"]:            now.Add(-15 * time.Minute),
		ids["search-indexer"]:     now.Add(-9 * time.Hour),
		ids["grafana-metrics"]:    now.Add(-2 * time.Minute),
	}
	if err := st.RecordUsage(ctx, batch); err != nil {
		tb.Fatal(fmt.Errorf("seeding usage: %w", err))
	}
	// An expired key: the API only takes expiry times in the future.
	_, err = st.Update(ctx, ids["ci-deploy"], func(k *keyward.Key) (*keyward.AuditEntry, error) {
		k.ExpiresAt = keyward.Ptr(now.Add(-50 * time.Hour))
		return nil, nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}
