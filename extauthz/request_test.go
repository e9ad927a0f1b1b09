package extauthz_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/extauthz"
)

func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestGRPCKeyExtraction: the key is read from the headers by httpauth's
// rules, and /v1/auth agrees on each request: Bearer first (scheme in any
// case) or x-api-key; another scheme carries no key; when both headers
// carry one, the request is refused (400 INVALID_REQUEST), even if one of
// them is garbage.
func TestGRPCKeyExtraction(t *testing.T) {
	e := newEnv(t, envOptions{})
	good := e.create(t, keyward.CreateParams{}).Secret
	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{name: "bearer", headers: map[string]string{"authorization": "Bearer " + good}, status: 200},
		{name: "scheme in lower case, spaces", headers: map[string]string{"authorization": "bearer   " + good + " "}, status: 200},
		{name: "x-api-key", headers: map[string]string{"x-api-key": " " + good}, status: 200},
		{name: "Basic, then x-api-key", headers: map[string]string{"authorization": "Basic dXNlcjpwYXNz", "x-api-key": good}, status: 200},
		{name: "both, garbage bearer", headers: map[string]string{"authorization": "Bearer garbage", "x-api-key": good}, status: 400},
		{name: "both, valid bearer", headers: map[string]string{"authorization": "Bearer " + good, "x-api-key": "garbage"}, status: 400},
		{name: "both, the same key", headers: map[string]string{"authorization": "Bearer " + good, "x-api-key": good}, status: 400},
		{name: "Bearerx is another scheme", headers: map[string]string{"authorization": "Bearerx " + good}, status: 401},
		{name: "empty bearer", headers: map[string]string{"authorization": "Bearer "}, status: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := call{headers: tc.headers}
			g := e.viaGRPC(t, c)
			if g.status != tc.status {
				t.Errorf("Check: %d, want %d (%s)", g.status, tc.status, g.body)
			}
			h := e.viaHTTP(t, c)
			if h.status != g.status || h.header.Get("X-Keyward-Code") != g.header.Get("X-Keyward-Code") {
				t.Errorf("/v1/auth %d %s, Check %d %s", h.status, h.header.Get("X-Keyward-Code"), g.status, g.header.Get("X-Keyward-Code"))
			}
		})
	}
}

// TestGRPCHeaderMapAndNameCase: with encode_raw_headers Envoy sends the
// fields in header_map (values in raw_value); one Authorization field is
// read, two are refused as /v1/auth refuses a header given twice; a client
// other than Envoy may spell names in any case.
func TestGRPCHeaderMapAndNameCase(t *testing.T) {
	e := newEnv(t, envOptions{})
	good := e.create(t, keyward.CreateParams{}).Secret

	check := func(fields ...string) *authv3.CheckResponse {
		t.Helper()
		req := call{}.request()
		hm := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: ":path", RawValue: []byte("/things")}}}
		for i := 0; i < len(fields); i += 2 {
			hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: fields[i], RawValue: []byte(fields[i+1])})
		}
		req.Attributes.Request.Http.HeaderMap = hm
		resp, err := e.client.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := check("authorization", "Bearer "+good); resp.GetOkResponse() == nil {
		t.Errorf("key in header_map: %v, want OK", resp.GetDeniedResponse())
	}
	resp := check("authorization", "Bearer "+good, "authorization", "Bearer garbage")
	if d := resp.GetDeniedResponse(); d == nil || d.GetStatus().GetCode() != 400 {
		t.Errorf("two Authorization fields in header_map: %v, want denied with 400", resp)
	}
	resp = check("Authorization", "Bearer "+good, "X-Api-Key", good)
	if d := resp.GetDeniedResponse(); d == nil || d.GetStatus().GetCode() != 400 {
		t.Errorf("Authorization and X-Api-Key in header_map: %v, want denied with 400", resp)
	}

	if a := e.viaGRPC(t, call{headers: map[string]string{"Authorization": "Bearer " + good}}); a.status != 200 {
		t.Errorf("Authorization spelled in canonical case: %d, want 200", a.status)
	}
}

// TestGRPCQueryKey: with AllowQueryKey the api_key parameter of the
// request's path is read (and a header's key beside it is a second key,
// refused); without it, never.
func TestGRPCQueryKey(t *testing.T) {
	for _, allow := range []bool{false, true} {
		e := newEnv(t, envOptions{allowQueryKey: allow, authz: &extauthz.Options{AllowQueryKey: allow}})
		good := e.create(t, keyward.CreateParams{}).Secret
		c := call{path: "/things?x=1&api_key=" + good}
		want := 401
		if allow {
			want = 200
		}
		g := e.viaGRPC(t, c)
		if g.status != want {
			t.Errorf("AllowQueryKey %v: %d, want %d", allow, g.status, want)
		}
		sameAnswer(t, e.viaHTTP(t, c), g)
		if allow { // a key in the query and one in a header: refused
			c.headers = map[string]string{"x-api-key": good}
			g := e.viaGRPC(t, c)
			if g.status != 400 {
				t.Errorf("a key in the query and in x-api-key: %d, want 400", g.status)
			}
			sameAnswer(t, e.viaHTTP(t, c), g)
		}
	}
}

// TestGRPCClientAddress: the client address is the downstream address
// Envoy reports, IPv4-mapped addresses unmapped; with trusted proxies,
// x-forwarded-for is believed only when that address is one of them. No
// address at all is unknown: a key restricted to ranges is refused.
func TestGRPCClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	e := newEnv(t, envOptions{authz: &extauthz.Options{TrustedProxies: trusted}})
	key := e.create(t, keyward.CreateParams{AllowedCIDRs: []string{"203.0.113.0/24"}}).Secret
	for _, tc := range []struct {
		name   string
		c      call
		status int
	}{
		{name: "client in range", c: call{source: "203.0.113.7"}, status: 200},
		{name: "IPv4-mapped", c: call{source: "::ffff:203.0.113.7"}, status: 200},
		{name: "client out of range", c: call{source: "198.51.100.1"}, status: 403},
		{name: "no source address", c: call{noSrc: true}, status: 403},
		{name: "trusted proxy, client in x-forwarded-for", c: call{source: "10.1.2.3", headers: map[string]string{"x-forwarded-for": "198.51.100.9, 203.0.113.7, 10.0.0.2"}}, status: 200},
		{name: "trusted proxy without x-forwarded-for", c: call{source: "10.1.2.3"}, status: 403},
		{name: "untrusted source, x-forwarded-for ignored", c: call{source: "198.51.100.1", headers: map[string]string{"x-forwarded-for": "203.0.113.7"}}, status: 403},
		{name: "trusted proxy, garbage in x-forwarded-for", c: call{source: "10.1.2.3", headers: map[string]string{"x-forwarded-for": "unknown"}}, status: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.c.headers == nil {
				tc.c.headers = map[string]string{}
			}
			tc.c.headers["authorization"] = "Bearer " + key
			a := e.viaGRPC(t, tc.c)
			if a.status != tc.status {
				t.Errorf("%d %s, want %d", a.status, a.header.Get("X-Keyward-Code"), tc.status)
			}
			if tc.status == 403 && a.header.Get("X-Keyward-Code") != "FORBIDDEN_ADDRESS" {
				t.Errorf("code %q, want FORBIDDEN_ADDRESS", a.header.Get("X-Keyward-Code"))
			}
		})
	}
}

// TestGRPCStoreDownIsLoggedWithoutTheKey: an unreachable store is a denied
// 503 (never OK, never a gRPC error that failure_mode_allow would let
// through), logged with the key's id and without the key or its secret.
func TestGRPCStoreDownIsLoggedWithoutTheKey(t *testing.T) {
	var logs strings.Builder
	e := newEnv(t, envOptions{authz: &extauthz.Options{Logger: newLogger(&logs)}})
	iss := e.create(t, keyward.CreateParams{})
	e.store.down.Store(true)
	resp, err := e.client.Check(context.Background(), call{headers: bearer(iss.Secret)}.request())
	if err != nil {
		t.Fatalf("Check returned a gRPC error (%v): Envoy's failure_mode_allow would apply", err)
	}
	if d := resp.GetDeniedResponse(); d == nil || d.GetStatus().GetCode() != 503 {
		t.Fatalf("store down: %v, want a denied 503", resp)
	}
	tok, _ := keyward.Parse(iss.Secret)
	out := logs.String()
	if !strings.Contains(out, "cannot verify key") || !strings.Contains(out, tok.ID) {
		t.Errorf("the failure is not logged with the key id: %q", out)
	}
	if strings.Contains(out, iss.Secret) || strings.Contains(out, tok.Secret) {
		t.Errorf("the log holds the key or its secret: %q", out)
	}
}
