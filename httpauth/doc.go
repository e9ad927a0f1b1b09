// Package httpauth guards net/http handlers with keyward API keys.
//
// [New] returns a middleware that reads the key a request presents, verifies
// it with a [Verifier] (a *keyward.Service), and either calls the next handler
// with the verified key on the request context or answers with the rejection
// of the keyward HTTP contract:
//
//	svc, err := keyward.New(store, hasher, &keyward.Options{Limiter: ratelimit.NewLocal()})
//	if err != nil {
//		return err
//	}
//	defer svc.Close(ctx)
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /invoices", func(w http.ResponseWriter, r *http.Request) {
//		key, _ := keyward.KeyFromContext(r.Context()) // always there behind New
//		fmt.Fprintln(w, "hello", key.Name)
//	})
//	guard := httpauth.New(svc, &httpauth.Options{Scopes: []string{"invoices:read"}})
//	return http.Serve(ln, guard(mux)) // ln, err := net.Listen("tcp", ":8080")
//
// Install CORS handling before New: preflight requests carry no key.
//
// With a router (chi, or anything that takes func(http.Handler) http.Handler),
// install New once for the whole router and add per-route scopes with
// [RequireScopes], which checks the key New put on the context and spends
// nothing.
//
// # Keys
//
// A key travels in "Authorization: Bearer <key>" (RFC 6750; the scheme is
// matched without regard to case) or in "X-API-Key: <key>". An Authorization
// header with another scheme (Basic, for example) carries no key, as if it
// were absent. The api_key query parameter is accepted only with
// [Options.AllowQueryKey], because URLs end up in access logs and browser
// histories. RFC 6750 allows one method per request: a request that presents
// more than one key (Bearer and X-API-Key, one of them twice, a header and
// the query), even the same key twice, is answered 400 INVALID_REQUEST
// ([RequestKey], [WriteSeveralKeys]) and verifies nothing.
//
// # Responses
//
// Rejections are application/problem+json documents (RFC 9457) with an
// extra "code" member, and carry an X-Keyward-Code header with the same code:
//
//	code                              status  headers
//	MISSING                           401     WWW-Authenticate: Bearer realm="keyward"
//	MALFORMED, NOT_FOUND, REVOKED,    401     WWW-Authenticate: Bearer realm="keyward", error="invalid_token"
//	  EXPIRED, DISABLED
//	FORBIDDEN_ADDRESS                 403
//	INSUFFICIENT_SCOPE                403     WWW-Authenticate: ... error="insufficient_scope", scope="<missing>"
//	RATE_LIMITED                      429     Retry-After, RateLimit-Policy, RateLimit
//	USAGE_EXCEEDED                    429     Retry-After when a refill will restore credits
//	UNAVAILABLE (the Verifier failed) 503
//	INVALID_REQUEST (several keys)    400     WWW-Authenticate: ... error="invalid_request"
//
// Responses through a key with a rate limit (successes, and both kinds of
// 429) carry the RateLimit-Policy and RateLimit fields of the IETF httpapi
// rate-limit headers draft; other statuses never do, the handler's own 404
// or 500 included. Seconds in headers are whole seconds, rounded up.
// Header names are sent in Go's canonical form ("Ratelimit-Policy",
// "Www-Authenticate"); HTTP field names are case-insensitive. No response and
// no log line ever contains a key.
//
// [WriteResult], [WriteMissing] and [WriteUnavailable] write these responses
// for code that calls the Verifier itself, such as an authentication endpoint
// behind a reverse proxy.
//
// # Client address
//
// Keys may be restricted to address ranges (allowed_cidrs). By default the
// client address is the TCP peer ([PeerIP]). Behind reverse proxies, use
// [TrustedProxyIP] with the proxies' ranges, so that X-Forwarded-For is read,
// and only when the request came through one of them.
package httpauth
