package httpauth_test

// Tests of where a request's key and client address come from (extract.go).

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
)

func TestExtraction(t *testing.T) {
	e := newEnv(t)
	good := e.create(t, keyward.CreateParams{}).Secret
	const garbage = "kw_garbage"
	cases := []struct {
		name       string
		header     map[string]string
		query      string
		allowQuery bool
		want       string // X-Keyward-Code, "" for 200
	}{
		{name: "bearer", header: map[string]string{"Authorization": "Bearer " + good}},
		{name: "bearer in lower case", header: map[string]string{"Authorization": "bearer " + good}},
		{name: "bearer in upper case, extra spaces", header: map[string]string{"Authorization": "  BEARER   " + good + " "}},
		{name: "X-API-Key", header: map[string]string{"X-API-Key": good}},
		// RFC 6750: one method per request (TestSeveralKeysAreRefused has more).
		{name: "both: refused", header: map[string]string{"Authorization": "Bearer " + garbage, "X-API-Key": good}, want: "INVALID_REQUEST"},
		{name: "both, valid bearer: refused", header: map[string]string{"Authorization": "Bearer " + good, "X-API-Key": garbage}, want: "INVALID_REQUEST"},
		{name: "Basic scheme is no key", header: map[string]string{"Authorization": "Basic " + good}, want: "MISSING"},
		{name: "Basic scheme, key in X-API-Key", header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": good}},
		{name: "bearer without a value", header: map[string]string{"Authorization": "Bearer "}, want: "MISSING"},
		{name: "scheme with a longer name", header: map[string]string{"Authorization": "Bearerish " + good}, want: "MISSING"},
		{name: "query key ignored by default", query: "?api_key=" + good, want: "MISSING"},
		{name: "query key when allowed", query: "?api_key=" + good, allowQuery: true},
		{name: "header and query: refused", header: map[string]string{"X-API-Key": garbage}, query: "?api_key=" + good, allowQuery: true, want: "INVALID_REQUEST"},
		{name: "header, query not allowed", header: map[string]string{"X-API-Key": good}, query: "?api_key=" + garbage},
		{name: "empty query key", query: "?api_key=", allowQuery: true, want: "MISSING"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/things"+tc.query, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := serve(httpauth.New(e.svc, &httpauth.Options{AllowQueryKey: tc.allowQuery})(okHandler), req)
			if tc.want == "" {
				if rec.Code != 200 {
					t.Fatalf("status %d (%s), want 200", rec.Code, rec.Header().Get("X-Keyward-Code"))
				}
				return
			}
			if got := rec.Header().Get("X-Keyward-Code"); got != tc.want {
				t.Errorf("code %q (status %d), want %s", got, rec.Code, tc.want)
			}
			noSecrets(t, rec, good)
		})
	}
}

func TestKeyFromHeader(t *testing.T) {
	cases := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"none", http.Header{}, ""},
		{"bearer", http.Header{"Authorization": {"Bearer abc"}}, "abc"},
		{"mixed case scheme", http.Header{"Authorization": {"bEaReR abc"}}, "abc"},
		{"tab after scheme", http.Header{"Authorization": {"Bearer\tabc"}}, "abc"},
		{"basic", http.Header{"Authorization": {"Basic abc"}}, ""},
		{"scheme only", http.Header{"Authorization": {"Bearer"}}, ""},
		{"x-api-key", http.Header{"X-Api-Key": {" abc "}}, "abc"},
		{"first of several", http.Header{"X-Api-Key": {"abc", "def"}}, "abc"},
		{"authorization first", http.Header{"Authorization": {"Bearer abc"}, "X-Api-Key": {"def"}}, "abc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Header: tc.header}
			if got := httpauth.KeyFromHeader(r); got != tc.want {
				t.Errorf("KeyFromHeader = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestKeyFromQuery(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"/x", ""},
		{"/x?a=1", ""},
		{"/x?a=1&api_key=kw_abc&b=2", "kw_abc"},
		{"/x?api_key=a%2Bb", "a+b"},
	} {
		if got := httpauth.KeyFromQuery(httptest.NewRequest("GET", tc.url, nil)); got != tc.want {
			t.Errorf("KeyFromQuery(%s) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestPeerIP(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[fe80::1%eth0]:80", "fe80::1"},
		{"192.0.2.1", "192.0.2.1"},
		{"@", "invalid IP"},
		{"", "invalid IP"},
	} {
		got := httpauth.PeerIP(&http.Request{RemoteAddr: tc.remote})
		if got.String() != tc.want {
			t.Errorf("PeerIP(%q) = %s, want %s", tc.remote, got, tc.want)
		}
	}
}

func TestTrustedProxyIP(t *testing.T) {
	clientIP := httpauth.TrustedProxyIP([]netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8:ffff::/48"),
	})
	cases := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"untrusted peer, spoofed header ignored", "203.0.113.9:5000", []string{"10.1.1.1"}, "203.0.113.9"},
		{"untrusted peer, spoofed chain ignored", "203.0.113.9:5000", []string{"198.51.100.1, 10.0.0.1"}, "203.0.113.9"},
		{"trusted peer, no header", "10.0.0.1:5000", nil, "10.0.0.1"},
		{"one trusted proxy", "10.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"two trusted proxies", "10.0.0.2:5000", []string{"203.0.113.9, 10.0.0.1"}, "203.0.113.9"},
		{"client spoofs the left part", "10.0.0.2:5000", []string{"198.51.100.1, 203.0.113.9, 10.0.0.1"}, "203.0.113.9"},
		{"chain over several header lines", "10.0.0.2:5000", []string{"198.51.100.1", "203.0.113.9,10.0.0.1"}, "203.0.113.9"},
		{"all trusted: the left-most", "10.0.0.2:5000", []string{"10.9.9.9, 10.0.0.1"}, "10.9.9.9"},
		{"entries with ports", "10.0.0.2:5000", []string{"[2001:db8::7]:443, 10.0.0.1:80"}, "2001:db8::7"},
		{"IPv6 proxies", "[2001:db8:ffff::2]:5000", []string{"192.0.2.44, 2001:db8:ffff::1"}, "192.0.2.44"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.2]:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"empty elements skipped", "10.0.0.2:5000", []string{"203.0.113.9, , 10.0.0.1,"}, "203.0.113.9"},
		{"garbage where the client is", "10.0.0.2:5000", []string{"203.0.113.9, unknown, 10.0.0.1"}, "invalid IP"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r); got.String() != tc.want {
				t.Errorf("client %s, want %s", got, tc.want)
			}
		})
	}
	if got := httpauth.TrustedProxyIP(nil)(&http.Request{RemoteAddr: "10.0.0.1:1", Header: http.Header{"X-Forwarded-For": {"1.2.3.4"}}}); got.String() != "10.0.0.1" {
		t.Errorf("without trusted proxies: %s, want the peer", got)
	}
}

// TestTrustedProxiesAllowedCIDRs checks the client address through the
// middleware against a key restricted to 203.0.113.0/24.
func TestTrustedProxiesAllowedCIDRs(t *testing.T) {
	e := newEnv(t)
	key := e.create(t, keyward.CreateParams{AllowedCIDRs: []string{"203.0.113.0/24"}}).Secret
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name     string
		clientIP func(*http.Request) netip.Addr
		remote   string
		xff      string
		want     int
	}{
		{"spoofed header from an untrusted peer", httpauth.TrustedProxyIP(proxies), "198.51.100.1:4000", "203.0.113.9", 403},
		{"through two trusted proxies", httpauth.TrustedProxyIP(proxies), "10.0.0.2:4000", "198.51.100.66, 203.0.113.9, 10.0.0.1", 200},
		{"through a proxy, client outside", httpauth.TrustedProxyIP(proxies), "10.0.0.2:4000", "203.0.113.9, 198.51.100.1, 10.0.0.1", 403},
		{"default ignores the header", nil, "10.0.0.2:4000", "203.0.113.9", 403},
		{"default uses the peer", nil, "203.0.113.200:4000", "", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := bearerRequest(key)
			req.RemoteAddr = tc.remote
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			rec := serve(httpauth.New(e.svc, &httpauth.Options{ClientIP: tc.clientIP})(okHandler), req)
			if rec.Code != tc.want {
				t.Errorf("status %d (%s), want %d", rec.Code, rec.Header().Get("X-Keyward-Code"), tc.want)
			}
		})
	}
}

func TestExtractionDoesNotAllocate(t *testing.T) {
	clientIP := httpauth.TrustedProxyIP([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	r := &http.Request{RemoteAddr: "10.0.0.2:5000", Header: http.Header{
		"Authorization":   {"Bearer kw_abc"},
		"X-Forwarded-For": {"198.51.100.1, 203.0.113.9, 10.0.0.1"},
	}}
	for name, f := range map[string]func(){
		"KeyFromHeader":  func() { httpauth.KeyFromHeader(r) },
		"RequestKey":     func() { httpauth.RequestKey(r, false) },
		"PeerIP":         func() { httpauth.PeerIP(r) },
		"TrustedProxyIP": func() { clientIP(r) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}
