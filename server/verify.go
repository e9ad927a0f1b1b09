package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/httpauth"
)

// Verification for other services: POST /v1/keys/verify (through huma) and
// the forward-auth endpoint /v1/auth (a plain handler, for speed).

func (s *Server) verifyKey(ctx context.Context, in *body[api.VerifyBody]) (*body[api.VerifyResult], error) {
	req, err := in.Body.Request()
	if err != nil {
		return nil, s.errs.problem(err, "body")
	}
	res, err := s.svc.Verify(ctx, req)
	if err != nil {
		return nil, s.errs.problem(err, "body")
	}
	if err := s.svc.RefreshCredits(ctx, &res); err != nil {
		// The answer stands; its balances are those of the cached records.
		s.log.Warn("reading the credits of a refused verification", "key_id", res.Key.ID, "err", err)
	}
	noteOutcome(ctx, res)
	return &body[api.VerifyResult]{Body: api.NewVerifyResult(res, s.svc.Now())}, nil
}

// registerAuth adds GET (any method) /v1/auth, the forward-auth endpoint,
// outside huma for speed, and documents it in the OpenAPI document.
func (s *Server) registerAuth(mux *http.ServeMux) {
	mux.HandleFunc("/v1/auth", s.handleAuth)
	str := func() *huma.Schema { return &huma.Schema{Type: "string"} }
	rateHeaders := map[string]*huma.Param{
		"RateLimit-Policy": {Description: `Every limit checked (IETF httpapi draft): the key's rate_limit as "key", its other limits by name, its owner's as "owner.<name>", e.g. "key";q=100;w=60, "owner.daily";q=10000;w=86400.`, Schema: str()},
		"RateLimit":        {Description: `The limit with the fewest units left: "<name>";r=<remaining>;t=<seconds to reset>.`, Schema: str()},
	}
	limited := maps.Clone(rateHeaders)
	limited["Retry-After"] = &huma.Param{Description: "Seconds: the longest wait among the limits that refused; for USAGE_EXCEEDED only when a refill will restore credits.", Schema: str()}
	passed := maps.Clone(rateHeaders)
	passed["X-Keyward-Key-Id"] = &huma.Param{Schema: str()}
	passed["X-Keyward-Owner"] = &huma.Param{Schema: str()}
	passed["X-Keyward-Scopes"] = &huma.Param{Description: "The key's effective scopes (its own and its roles'), space-separated.", Schema: str()}
	s.api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "forward-auth",
		Method:      http.MethodGet,
		Path:        "/v1/auth",
		Summary:     "Forward auth for reverse proxies (any method)",
		Description: "Checks the key in the request's `Authorization: Bearer` or `X-API-Key` header. " +
			"200 with `X-Keyward-Key-Id`, `X-Keyward-Owner` and `X-Keyward-Scopes` when it passes; otherwise 401, 403, 429 or 503 " +
			"with `X-Keyward-Code` and a problem+json body. Accepts every method, so a proxy can forward the original one.",
		Tags: []string{"verification"},
		Parameters: []*huma.Param{
			{Name: "scopes", In: "query", Description: "Required scopes, comma-separated; all are needed.", Schema: str()},
			{Name: "any_scopes", In: "query", Description: "Scopes, comma-separated; if given, at least one is needed too.", Schema: str()},
			{Name: "scope_query", In: "query", Description: fmt.Sprintf("A scope query that must hold too, e.g. "+
				"`invoices:read and (invoices:write or billing:admin)`: at most %d names and %d characters; one that does not parse is a 422 naming the position.",
				keyward.MaxScopeQueryNames, keyward.MaxScopeQueryLength), Schema: str()},
			{Name: "cost", In: "query", Description: "Units to spend (rate limit and credits); default 1, 0 checks without spending.", Schema: &huma.Schema{Type: "integer", Minimum: ptr(0.0)}},
		},
		Responses: map[string]*huma.Response{
			"200": {Description: "The key passes.", Headers: passed},
			"400": {Description: "The request presents more than one key (RFC 6750: one method per request), even the same key twice: INVALID_REQUEST."},
			"401": {Description: "No key, or not a valid one."},
			"403": {Description: "Address or scope not allowed."},
			"422": {Description: "A cost or scope_query that breaks the rules (problem+json, VALIDATION_FAILED)."},
			"429": {Description: "Rate limit or credits spent.", Headers: limited},
			"503": {Description: "The key store is unreachable and the key is not cached."},
		},
	})
}

func ptr[T any](v T) *T { return &v }

// handleAuth is the forward-auth endpoint: the hot path for proxies. It is
// served before the mux, without a response-writer wrapper, and logs its
// own outcome (logAuth).
func (s *Server) handleAuth(w http.ResponseWriter, r *http.Request) {
	var start time.Time
	if s.accessLog == AccessLogAll {
		start = time.Now()
	}
	ip := s.clientIP(r)
	key, err := httpauth.RequestKey(r, s.allowQueryKey)
	if err != nil {
		httpauth.WriteSeveralKeys(w)
		s.logAuth(r, start, ip, lineOf{status: http.StatusBadRequest, code: httpauth.CodeInvalidRequest})
		return
	}
	if key == "" {
		httpauth.WriteMissing(w)
		s.logAuth(r, start, ip, lineOf{status: http.StatusUnauthorized, code: keyward.OutcomeMissing.String()})
		return
	}
	req := keyward.VerifyRequest{Key: key, ClientIP: ip}
	if r.URL.RawQuery != "" {
		if p := s.authQuery(r.URL.RawQuery, &req); p != nil {
			writeProblem(w, p)
			s.logAuth(r, start, ip, lineOf{status: p.Status, code: p.Code})
			return
		}
	}
	res, err := s.svc.Verify(r.Context(), req)
	if err != nil {
		s.logVerifyError(r, "forward auth: verifying", err)
		httpauth.WriteUnavailable(w)
		s.logAuth(r, start, ip, lineOf{status: http.StatusServiceUnavailable, code: httpauth.CodeUnavailable})
		return
	}
	if !httpauth.WriteResult(w, res) {
		l := lineOf{status: httpauth.StatusOf(res.Outcome), code: res.Outcome.String()}
		if res.Key != nil {
			l.keyID = res.Key.ID
		}
		s.logAuth(r, start, ip, l)
		return
	}
	v := new([3]string) // one allocation for the three header values
	v[0], v[1], v[2] = res.Key.ID, res.Key.Owner, strings.Join(res.EffectiveScopes(), " ")
	h := w.Header()
	h["X-Keyward-Key-Id"] = v[0:1:1]
	h["X-Keyward-Owner"] = v[1:2:2]
	h["X-Keyward-Scopes"] = v[2:3:3]
	w.WriteHeader(http.StatusOK)
	s.logAuth(r, start, ip, lineOf{status: http.StatusOK, keyID: res.Key.ID})
}

// authParams are the parameters of a raw query of /v1/auth, parsed. A
// cached value is shared by every request with that query: Verify only reads
// them.
type authParams struct {
	scopes, anyScopes []string
	cost              *int64
	query             *keyward.ScopeQuery
}

// maxCachedAuthQuery is the longest raw query of /v1/auth that is kept
// parsed: a proxy's queries are short (one per protected route), and the
// bound keeps the cache under about 10 MiB whatever clients send.
const maxCachedAuthQuery = 1 << 10

// authQuery reads the parameters of the raw query of /v1/auth into req, or
// returns the problem of a bad one. Each distinct query is parsed once per
// process (see parseCache).
func (s *Server) authQuery(raw string, req *keyward.VerifyRequest) *problem {
	var p *authParams
	var err error
	if len(raw) <= maxCachedAuthQuery {
		p, err = s.authQueries.get(raw, s.parseAuthQuery)
	} else {
		p, err = s.parseAuthQuery(raw)
	}
	if err != nil {
		return s.errs.problem(err, "query")
	}
	req.Scopes, req.AnyScope, req.Cost, req.ScopeQuery = p.scopes, p.anyScopes, p.cost, p.query
	return nil
}

// parseAuthQuery parses a raw query of /v1/auth; the error of a bad one is a
// *keyward.ValidationError naming the parameter.
func (s *Server) parseAuthQuery(raw string) (*authParams, error) {
	if !validQuery(raw) {
		return nil, &keyward.ValidationError{Problems: []keyward.Problem{{Message: queryProblem}}}
	}
	p := &authParams{scopes: splitScopes(queryParam(raw, "scopes")), anyScopes: splitScopes(queryParam(raw, "any_scopes"))}
	if c := queryParam(raw, "cost"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			return nil, &keyward.ValidationError{Problems: []keyward.Problem{{Field: "cost", Message: "must be an integer of at least 0"}}}
		}
		p.cost = &n
	}
	if sq := queryParam(raw, "scope_query"); sq != "" {
		query, err := s.queries.parse(sq)
		if err != nil {
			return nil, err
		}
		p.query = query
	}
	return p, nil
}

// splitScopes returns the scopes of a comma-separated list, or nil.
func splitScopes(list string) []string {
	var out []string
	for sc := range strings.SplitSeq(list, ",") {
		if sc = strings.TrimSpace(sc); sc != "" {
			out = append(out, sc)
		}
	}
	return out
}

// logVerifyError logs an error of Verify: at error level, or at debug level
// when the client went away (net/http canceled the request), which is not
// the store's fault.
func (s *Server) logVerifyError(r *http.Request, msg string, err error) {
	level := slog.LevelError
	if r.Context().Err() != nil {
		level = slog.LevelDebug
	}
	s.log.LogAttrs(r.Context(), level, msg, slog.String("err", err.Error()))
}
