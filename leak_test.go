package keyward_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/store/memory"
)

// leakData is the data of a key.leaked event.
type leakData struct {
	Key struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Enabled bool   `json:"enabled"`
	} `json:"key"`
	Source string `json:"source"`
	URL    string `json:"url"`
	Action string `json:"action"`
}

// TestReportLeak reports a live key with each action and checks the key,
// the audit entry (actor leak-report, never the token) and the events
// written with it; a forged string carrying the key's id, garbage and a
// revoked key change nothing.
func TestReportLeak(t *testing.T) {
	cases := []struct {
		action     keyward.LeakAction
		status     keyward.Status
		withChange string // the key event beside key.leaked
	}{
		{keyward.LeakRevoke, keyward.StatusRevoked, keyward.EventKeyRevoked},
		{"", keyward.StatusRevoked, keyward.EventKeyRevoked}, // the default
		{keyward.LeakDisable, keyward.StatusDisabled, keyward.EventKeyUpdated},
		{keyward.LeakReportOnly, keyward.StatusActive, ""},
	}
	for _, c := range cases {
		t.Run(string(c.action), func(t *testing.T) {
			ctx := context.Background()
			clock := testkit.NewClock(testkit.Base)
			store := memory.New()
			svc := testkit.NewService(t, store, nil, &keyward.Options{Now: clock.Now})
			catchAll(t, svc)
			iss, err := svc.Create(ctx, keyward.CreateParams{Name: "leaky"})
			if err != nil {
				t.Fatal(err)
			}
			outboxOf(t, store, clock.Now()) // drop key.created

			tok, _ := keyward.Parse(iss.Secret)
			forged := keyward.Token{Prefix: tok.Prefix, ID: tok.ID, Secret: strings.Repeat("F", keyward.SecretLength)}.String()
			for _, s := range []string{forged, "not a key", ""} {
				out, err := svc.ReportLeak(ctx, keyward.LeakReport{Token: s, Action: c.action})
				if err != nil || out.Match || out.Key != nil || out.Action != "" {
					t.Errorf("ReportLeak(%.20q) = %+v, %v; want no match", s, out, err)
				}
			}
			if ev := outboxOf(t, store, clock.Now()); len(ev) != 0 {
				t.Errorf("no match wrote events %v", types(ev))
			}

			rctx := keyward.NewActorContext(ctx, keyward.Actor{ID: "ignored", ClientIP: "192.0.2.7"})
			out, err := svc.ReportLeak(rctx, keyward.LeakReport{Token: iss.Secret, Source: "content", URL: "https://github.com/o/r/blob/x/.env", Action: c.action})
			want := c.action
			if want == "" {
				want = keyward.LeakRevoke
			}
			if err != nil || !out.Match || out.Action != want || out.Key == nil || out.Key.Status(clock.Now()) != c.status {
				t.Fatalf("ReportLeak(the key) = %+v, %v; want a match, action %s, status %s", out, err, want, c.status)
			}
			if r, _ := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret}); c.status != keyward.StatusActive && r.Valid() {
				t.Errorf("the key still verifies after the leak report: %s", r.Outcome)
			}

			page, err := svc.Audit(ctx, keyward.AuditParams{KeyID: iss.Key.ID})
			if err != nil {
				t.Fatal(err)
			}
			a := page.Items[0]
			if a.Action != keyward.ActionKeyLeak || a.Actor != keyward.ActorLeakReport || a.ClientIP != "192.0.2.7" {
				t.Errorf("audit entry %+v; want key.leak by leak-report from 192.0.2.7", a)
			}
			var details map[string]string
			json.Unmarshal(a.Details, &details)
			if details["source"] != "content" || details["url"] != "https://github.com/o/r/blob/x/.env" || details["action"] != string(want) {
				t.Errorf("audit details %s", a.Details)
			}
			if strings.Contains(string(a.Details), tok.Secret) {
				t.Error("the audit entry holds the secret")
			}

			events := outboxOf(t, store, clock.Now())
			wantTypes := []string{keyward.EventKeyLeaked}
			if c.withChange != "" {
				wantTypes = append(wantTypes, c.withChange)
			}
			if got := types(events); !slices.Equal(got, wantTypes) {
				t.Fatalf("events %v, want %v", got, wantTypes)
			}
			var d leakData
			json.Unmarshal(events[0].Data, &d)
			if d.Key.ID != iss.Key.ID || d.Key.Status != string(c.status) || d.Source != "content" || d.Action != string(want) {
				t.Errorf("key.leaked data %s", events[0].Data)
			}
			for _, e := range events {
				if strings.Contains(string(e.Data), tok.Secret) || strings.Contains(string(e.Data), "hash") {
					t.Errorf("%s holds the secret or a hash: %s", e.Type, e.Data)
				}
			}
		})
	}
}

// TestReportLeakOfRevokedKey: a revoked key matches (it is a real key) but
// nothing is done or written.
func TestReportLeakOfRevokedKey(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	svc := testkit.NewService(t, store, nil, nil)
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Revoke(ctx, iss.Key.ID); err != nil {
		t.Fatal(err)
	}
	before, _ := svc.Audit(ctx, keyward.AuditParams{KeyID: iss.Key.ID})
	out, err := svc.ReportLeak(ctx, keyward.LeakReport{Token: iss.Secret})
	if err != nil || !out.Match || out.Action != "" || out.Key == nil {
		t.Fatalf("ReportLeak(revoked key) = %+v, %v; want a match and no action", out, err)
	}
	after, _ := svc.Audit(ctx, keyward.AuditParams{KeyID: iss.Key.ID})
	if len(after.Items) != len(before.Items) {
		t.Errorf("the report of a revoked key wrote %d audit entries", len(after.Items)-len(before.Items))
	}
	if _, err := svc.ReportLeak(ctx, keyward.LeakReport{Token: iss.Secret, Action: "explode"}); err == nil {
		t.Error("a bad action was accepted")
	}
}
