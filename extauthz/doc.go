// Package extauthz is Envoy's external authorization over gRPC: a server of
// envoy.service.auth.v3.Authorization/Check that verifies the key of each
// request Envoy asks about and answers as keyward's forward-auth endpoint
// /v1/auth does.
//
// Register a [Server] on a grpc.Server and point Envoy's ext_authz HTTP
// filter at it (grpc_service, transport_api_version V3):
//
//	gs := grpc.NewServer()
//	extauthz.New(svc, nil).Register(gs)
//	gs.Serve(ln)
//
// keyward serve does this with --grpc-addr.
//
// # What a check reads
//
// The key comes from the request's headers, by the rules of
// httpauth.RequestKey: "authorization: Bearer <key>" or "x-api-key". Envoy
// sends header names in lower case, in attributes.request.http.headers (or
// header_map, with encode_raw_headers). With [Options.AllowQueryKey], the
// api_key parameter of the request's path is read too. A request that
// presents more than one key (both headers, a header twice in header_map,
// a header and the query) is denied with 400 INVALID_REQUEST, as /v1/auth
// answers it.
//
// What the route requires comes from the check's context_extensions, which
// Envoy sets per route (ExtAuthzPerRoute.check_settings): "scopes"
// (comma-separated, all needed), "scope_query" (e.g. "invoices:read and
// (invoices:write or billing:admin)") and "cost" (units to spend; default
// 1, 0 checks without spending): the query parameters of /v1/auth. Each
// distinct set is parsed once.
//
// The client address, checked against a key's allowed_cidrs, is the
// downstream address Envoy reports (attributes.source.address); when that
// address is one of [Options.TrustedProxies], the right-most address of
// x-forwarded-for that is not, as for /v1/auth behind --trusted-proxies.
//
// # What it answers
//
// The decisions, statuses, headers and problem+json bodies of /v1/auth,
// built by package httpauth:
//
//   - A key that passes: gRPC status OK and an ok_response whose headers set
//     (overwrite) x-keyward-key-id, x-keyward-owner and x-keyward-scopes
//     (the key's effective scopes, space-separated) on the request to the
//     upstream, and, for a rate-limited key, response_headers_to_add with
//     the RateLimit-Policy and RateLimit headers for the client.
//   - Any other answer: a denied_response with the contract's HTTP status
//     (401, 403, 429, 503; 422 for a bad context extension), its headers
//     (WWW-Authenticate, Retry-After, RateLimit-Policy, RateLimit,
//     X-Keyward-Code, Content-Type) and body, and a gRPC status other than
//     OK (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED,
//     UNAVAILABLE, INVALID_ARGUMENT) whose message is the code.
//
// A key that cannot be checked (the store is unreachable and the key is not
// cached) is a denied 503 UNAVAILABLE, never an OK, and never a gRPC error
// or an error_response: Envoy's failure_mode_allow applies to those, and an
// outage must not let requests through. Check never returns an error.
//
// Envoy sends everything a check reads, so whoever can call the service can
// claim any address and headers: listen where only Envoy reaches it.
package extauthz
