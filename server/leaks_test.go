package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

// reporter is a test stand-in for GitHub's secret scanning: an ECDSA P-256
// key pair whose public half is published in a key document of GitHub's
// shape.
type reporter struct {
	id   string
	priv *ecdsa.PrivateKey
}

func newReporter(tb testing.TB) *reporter {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	sum := sha256.Sum256(der)
	return &reporter{id: hex.EncodeToString(sum[:]), priv: priv}
}

// pemKey is the reporter's public key as GitHub publishes it.
func pemKey(tb testing.TB, pub any) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// document is the key document GitHub publishes at
// https://api.github.com/meta/public_keys/secret_scanning, listing the
// reporter's key after an older one.
func (r *reporter) document(tb testing.TB) []byte {
	tb.Helper()
	old, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	doc := map[string]any{"public_keys": []map[string]any{
		{"key_identifier": "0ld", "key": pemKey(tb, &old.PublicKey), "is_current": false},
		{"key_identifier": r.id, "key": pemKey(tb, &r.priv.PublicKey), "is_current": true},
	}}
	b, _ := json.Marshal(doc)
	return b
}

// sign returns the Github-Public-Key-Signature of body.
func (r *reporter) sign(tb testing.TB, body []byte) string {
	tb.Helper()
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, r.priv, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// leakEnv is a server with the leak endpoint set to action (nil config:
// off).
func leakEnv(tb testing.TB, cfg *server.LeakConfig) *env {
	tb.Helper()
	p, _ := keyhash.NewPepper([]byte("server test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(memory.New(), h, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	srv, err := server.New(server.Config{Service: svc, AdminToken: adminToken, Leaks: cfg})
	if err != nil {
		tb.Fatal(err)
	}
	return &env{svc: svc, srv: srv}
}

// post sends a report with the given headers (key id, signature; "" leaves
// one out).
func (e *env) postLeaks(body []byte, keyID, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1/leaks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if keyID != "" {
		req.Header.Set("Github-Public-Key-Identifier", keyID)
	}
	if sig != "" {
		req.Header.Set("Github-Public-Key-Signature", sig)
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func tokenHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestLeakReport: a report signed with a key of the document revokes (or
// disables, or only reports) the live key it carries, labels it
// true_positive, and labels a forged string with the key's id and garbage
// false_positive, by token_hash; the audit log has key.leak by leak-report.
func TestLeakReport(t *testing.T) {
	for _, tc := range []struct {
		action keyward.LeakAction
		status keyward.Status
	}{
		{"", keyward.StatusRevoked},
		{keyward.LeakRevoke, keyward.StatusRevoked},
		{keyward.LeakDisable, keyward.StatusDisabled},
		{keyward.LeakReportOnly, keyward.StatusActive},
	} {
		t.Run(string(tc.action), func(t *testing.T) {
			ctx := context.Background()
			rep := newReporter(t)
			keys, err := server.ParseGitHubKeys(rep.document(t))
			if err != nil {
				t.Fatal(err)
			}
			e := leakEnv(t, &server.LeakConfig{Keys: keys, Action: tc.action})
			iss, err := e.svc.Create(ctx, keyward.CreateParams{Name: "leaky"})
			if err != nil {
				t.Fatal(err)
			}
			tok, _ := keyward.Parse(iss.Secret)
			forged := keyward.Token{Prefix: tok.Prefix, ID: tok.ID, Secret: strings.Repeat("F", keyward.SecretLength)}.String()
			body, _ := json.Marshal([]map[string]string{
				{"token": forged, "type": "keyward_api_key", "url": "https://github.com/o/r/blob/1/a.txt", "source": "content"},
				{"token": iss.Secret, "type": "keyward_api_key", "url": "https://github.com/o/r/blob/1/.env", "source": "commit"},
				{"token": "kw_nothing", "type": "keyward_api_key", "url": "", "source": "content"},
				{"token": iss.Secret, "type": "keyward_api_key", "url": "https://github.com/o/r/blob/2/.env", "source": "commit"},
			})
			rec := e.postLeaks(body, rep.id, rep.sign(t, body))
			if rec.Code != 200 {
				t.Fatalf("signed report: %d %s", rec.Code, rec.Body)
			}
			if strings.Contains(rec.Body.String(), iss.Secret) || strings.Contains(rec.Body.String(), "token_raw") {
				t.Errorf("the answer holds a token: %s", rec.Body)
			}
			var labels []map[string]string
			json.Unmarshal(rec.Body.Bytes(), &labels)
			want := []struct{ token, label string }{
				{forged, "false_positive"}, {iss.Secret, "true_positive"}, {"kw_nothing", "false_positive"}, {iss.Secret, "true_positive"},
			}
			if len(labels) != len(want) {
				t.Fatalf("labels %s, want %d", rec.Body, len(want))
			}
			for i, w := range want {
				if labels[i]["token_hash"] != tokenHash(w.token) || labels[i]["label"] != w.label || labels[i]["token_type"] != "keyward_api_key" {
					t.Errorf("label %d: %v, want %s for %s", i, labels[i], w.label, tokenHash(w.token))
				}
			}
			k, err := e.svc.Get(ctx, iss.Key.ID)
			if err != nil || k.Status(e.svc.Now()) != tc.status {
				t.Fatalf("the key after the report: %v %v, want %s", k.Status(e.svc.Now()), err, tc.status)
			}
			page, _ := e.svc.Audit(ctx, keyward.AuditParams{KeyID: iss.Key.ID})
			leaks := 0
			for _, a := range page.Items {
				if a.Action == keyward.ActionKeyLeak {
					leaks++
					if a.Actor != keyward.ActorLeakReport || strings.Contains(string(a.Details), tok.Secret) {
						t.Errorf("audit entry %+v", a)
					}
				}
			}
			if leaks != 1 {
				t.Errorf("%d key.leak entries, want 1 (the token twice in one report acts once)", leaks)
			}
		})
	}
}

// TestLeakReportRefused: 404 without a key document; 401 for a missing,
// unknown or wrong signature (nothing is revoked); 400 and 422 for bodies
// that are not a report.
func TestLeakReportRefused(t *testing.T) {
	ctx := context.Background()
	rep := newReporter(t)
	keys, err := server.ParseGitHubKeys(rep.document(t))
	if err != nil {
		t.Fatal(err)
	}
	e := leakEnv(t, &server.LeakConfig{Keys: keys})
	iss, _ := e.svc.Create(ctx, keyward.CreateParams{Name: "leaky"})
	body := []byte(fmt.Sprintf(`[{"token":%q,"type":"t","url":"","source":"content"}]`, iss.Secret))
	other := newReporter(t)
	tooMany := []byte("[" + strings.Repeat(`{"token":"x"},`, 1000) + `{"token":"x"}]`)

	off := leakEnv(t, nil)
	if rec := off.postLeaks(body, rep.id, rep.sign(t, body)); rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("without --leak-public-keys: %d %s %s, want 404 problem+json", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	for _, tc := range []struct {
		name        string
		body        []byte
		keyID, sig  string
		status      int
		code, where string
	}{
		{"no headers", body, "", "", 401, "UNAUTHORIZED", ""},
		{"no signature", body, rep.id, "", 401, "UNAUTHORIZED", ""},
		{"unknown key", body, other.id, other.sign(t, body), 401, "UNAUTHORIZED", ""},
		{"another key's signature", body, rep.id, other.sign(t, body), 401, "UNAUTHORIZED", ""},
		{"changed body", append([]byte(" "), body...), rep.id, rep.sign(t, body), 401, "UNAUTHORIZED", ""},
		{"not base64", body, rep.id, "%%%", 401, "UNAUTHORIZED", ""},
		{"not JSON", []byte("[{"), rep.id, rep.sign(t, []byte("[{")), 400, "INVALID_REQUEST", ""},
		{"not an array", []byte(`{"token":"x"}`), rep.id, rep.sign(t, []byte(`{"token":"x"}`)), 422, "VALIDATION_FAILED", "body"},
		{"too many", tooMany, rep.id, rep.sign(t, tooMany), 422, "VALIDATION_FAILED", "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.postLeaks(tc.body, tc.keyID, tc.sig)
			var p struct {
				Code   string `json:"code"`
				Errors []struct{ Location string }
			}
			json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != tc.status || p.Code != tc.code || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("%d %s %s, want %d %s problem+json", rec.Code, rec.Header().Get("Content-Type"), rec.Body, tc.status, tc.code)
			}
			if tc.where != "" && (len(p.Errors) == 0 || p.Errors[0].Location != tc.where) {
				t.Errorf("errors %+v, want one at %s", p.Errors, tc.where)
			}
		})
	}
	if k, _ := e.svc.Get(ctx, iss.Key.ID); k.Status(e.svc.Now()) != keyward.StatusActive {
		t.Errorf("a refused report changed the key: %s", k.Status(e.svc.Now()))
	}
}

// TestParseGitHubKeys refuses documents that are not GitHub's shape or
// hold keys other than ECDSA P-256.
func TestParseGitHubKeys(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	doc := func(keys ...map[string]any) string {
		b, _ := json.Marshal(map[string]any{"public_keys": keys})
		return string(b)
	}
	good := map[string]any{"key_identifier": "a", "key": pemKey(t, &p256.PublicKey), "is_current": true}
	for _, tc := range []struct{ name, doc, want string }{
		{"not JSON", "public keys", "not the JSON"},
		{"no keys", `{"public_keys": []}`, "lists no keys"},
		{"other shape", `{"keys": [{"kid": "a"}]}`, "lists no keys"},
		{"no identifier", doc(map[string]any{"key": pemKey(t, &p256.PublicKey)}), "no key_identifier"},
		{"twice", doc(good, good), "listed twice"},
		{"not PEM", doc(map[string]any{"key_identifier": "a", "key": "MFkw"}), "not a PEM block"},
		{"RSA", doc(map[string]any{"key_identifier": "a", "key": pemKey(t, &rsaKey.PublicKey)}), "not an ECDSA P-256"},
		{"P-384", doc(map[string]any{"key_identifier": "a", "key": pemKey(t, &p384.PublicKey)}), "not an ECDSA P-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := server.ParseGitHubKeys([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if keys, err := server.ParseGitHubKeys([]byte(doc(good))); err != nil || len(keys) != 1 {
		t.Errorf("a good document: %v, %v", keys, err)
	}
}
