package httpauth

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
)

// Canonical header names (as http.CanonicalHeaderKey spells them), for direct
// map access.
const (
	hdrAuthorization = "Authorization"
	hdrAPIKey        = "X-Api-Key"
	hdrForwardedFor  = "X-Forwarded-For"
)

// ErrSeveralKeys is the error of [RequestKey] for a request that presents
// more than one key.
var ErrSeveralKeys = errors.New("httpauth: the request presents more than one key")

// RequestKey returns the one key a request presents: in an
// "Authorization: Bearer <key>" header (the scheme in any case, RFC 7235),
// in an "X-API-Key: <key>" header, or, with allowQuery, in the api_key query
// parameter; "" if it presents none. A header with an empty value, or an
// Authorization header with another scheme, presents no key. Surrounding
// spaces and tabs are trimmed.
//
// RFC 6750 allows one method per request: if the request presents more than
// one key (two of these places, or one header twice), RequestKey returns
// ErrSeveralKeys, even if they are the same key, since no choice between
// them would be right. [New] and keyward serve's /v1/auth answer such a
// request with [WriteSeveralKeys]. It does not allocate for a request with
// one key in a header, unless allowQuery is set and the request has a query.
func RequestKey(r *http.Request, allowQuery bool) (string, error) {
	var key string
	n := 0
	for _, v := range r.Header[hdrAuthorization] {
		if k := bearer(v); k != "" {
			key, n = k, n+1
		}
	}
	for _, v := range r.Header[hdrAPIKey] {
		if k := trimOWS(v); k != "" {
			key, n = k, n+1
		}
	}
	if allowQuery && r.URL != nil && r.URL.RawQuery != "" {
		for _, v := range r.URL.Query()["api_key"] {
			if k := trimOWS(v); k != "" {
				key, n = k, n+1
			}
		}
	}
	if n > 1 {
		return "", ErrSeveralKeys
	}
	return key, nil
}

// KeyFromHeader returns the key a request presents in its headers, or "".
// It reads "Authorization: Bearer <key>" first (the scheme in any case, RFC
// 7235), then "X-API-Key: <key>". An Authorization header with another
// scheme, or a Bearer header without a value, carries no key, and then
// X-API-Key is read. Surrounding spaces and tabs are trimmed. It does not
// allocate. It takes the first key it finds and does not look for a second:
// to refuse a request that presents two, as [New] does, use [RequestKey].
func KeyFromHeader(r *http.Request) string {
	var auth, apiKey string
	if v := r.Header[hdrAuthorization]; len(v) > 0 {
		auth = v[0]
	}
	if v := r.Header[hdrAPIKey]; len(v) > 0 {
		apiKey = v[0]
	}
	return KeyFromFields(auth, apiKey)
}

// KeyFromFields returns the key carried by the value of an Authorization
// header field and that of an X-API-Key field ("" for a field the request
// does not have), by the rules of [KeyFromHeader]: a Bearer credential
// first, else the X-API-Key value, trimmed. It is for transports that see
// the header fields but no *http.Request, such as Envoy's external
// authorization over gRPC. It does not allocate.
func KeyFromFields(authorization, apiKey string) string {
	if k := bearer(authorization); k != "" {
		return k
	}
	return trimOWS(apiKey)
}

// bearer returns the credentials of a Bearer authorization value, or "".
func bearer(v string) string {
	v = trimOWS(v)
	const scheme = "Bearer"
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return ""
	}
	if c := v[len(scheme)]; c != ' ' && c != '\t' {
		return "" // a longer scheme name, such as "Bearerx"
	}
	return trimOWS(v[len(scheme)+1:])
}

// trimOWS removes the optional white space (spaces and tabs) HTTP allows
// around a field value.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// KeyFromQuery returns the value of the request's api_key query parameter,
// or "". [New] reads it only with [Options.AllowQueryKey].
func KeyFromQuery(r *http.Request) string {
	if r.URL == nil || r.URL.RawQuery == "" {
		return ""
	}
	return trimOWS(r.URL.Query().Get("api_key"))
}

// PeerIP returns the address of the TCP peer (r.RemoteAddr), without its
// port and zone, IPv4-mapped IPv6 addresses turned into IPv4. It returns the
// zero Addr (unknown: keys restricted to address ranges are refused) when
// RemoteAddr is not an address, as for a Unix socket.
func PeerIP(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return normalize(ap.Addr())
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return normalize(a)
	}
	return netip.Addr{}
}

func normalize(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// TrustedProxyIP returns a client-address function for servers behind
// reverse proxies whose addresses are in trusted. If the TCP peer is in
// trusted, the client is the right-most address of X-Forwarded-For (all its
// header lines, in order) that is not in trusted; if every address there is
// trusted, the left-most one; if there is no X-Forwarded-For, the peer. If the
// peer is not trusted, X-Forwarded-For is ignored (anyone can send it) and the
// client is the peer. An entry that is not an address (such as "unknown")
// where the client should be gives the zero Addr: keys restricted to address
// ranges are then refused rather than judged by a proxy's address.
//
// Entries may carry a port ("192.0.2.1:1234", "[2001:db8::1]:443"). The
// function copies trusted and is safe for concurrent use; it does not
// allocate when the entries are bare addresses. With an empty trusted list it
// is [PeerIP].
func TrustedProxyIP(trusted []netip.Prefix) func(*http.Request) netip.Addr {
	nets := make([]netip.Prefix, 0, len(trusted))
	for _, p := range trusted {
		if p.IsValid() {
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			nets = append(nets, p.Masked())
		}
	}
	if len(nets) == 0 {
		return PeerIP
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range nets {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) netip.Addr {
		peer := PeerIP(r)
		if !peer.IsValid() || !isTrusted(peer) {
			return peer
		}
		client := peer
		values := r.Header[hdrForwardedFor]
		for i := len(values) - 1; i >= 0; i-- {
			s := values[i]
			for s != "" {
				var hop string
				if j := strings.LastIndexByte(s, ','); j >= 0 {
					s, hop = s[:j], s[j+1:]
				} else {
					s, hop = "", s
				}
				hop = trimOWS(hop)
				if hop == "" {
					continue
				}
				a, ok := parseHop(hop)
				if !ok {
					return netip.Addr{}
				}
				if !isTrusted(a) {
					return a
				}
				client = a
			}
		}
		return client
	}
}

// parseHop parses one X-Forwarded-For entry: an address, possibly with a
// port, possibly in brackets.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr()), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return normalize(a), true
		}
	}
	return netip.Addr{}, false
}
