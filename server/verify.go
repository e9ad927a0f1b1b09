package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"

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
	return &body[api.VerifyResult]{Body: api.NewVerifyResult(res, s.svc.Now())}, nil
}

// registerAuth adds GET (any method) /v1/auth, the forward-auth endpoint,
// outside huma for speed, and documents it in the OpenAPI document.
func (s *Server) registerAuth(mux *http.ServeMux) {
	mux.HandleFunc("/v1/auth", s.handleAuth)
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
			{Name: "scopes", In: "query", Description: "Required scopes, comma-separated; all are needed.", Schema: &huma.Schema{Type: "string"}},
			{Name: "cost", In: "query", Description: "Units to spend (rate limit and credits); default 1, 0 checks without spending.", Schema: &huma.Schema{Type: "integer", Minimum: ptr(0.0)}},
		},
		Responses: map[string]*huma.Response{
			"200": {Description: "The key passes.", Headers: map[string]*huma.Param{
				"X-Keyward-Key-Id": {Schema: &huma.Schema{Type: "string"}},
				"X-Keyward-Owner":  {Schema: &huma.Schema{Type: "string"}},
				"X-Keyward-Scopes": {Description: "Space-separated.", Schema: &huma.Schema{Type: "string"}},
			}},
			"401": {Description: "No key, or not a valid one."},
			"403": {Description: "Address or scope not allowed."},
			"429": {Description: "Rate limit or credits spent."},
			"503": {Description: "The key store is unreachable and the key is not cached."},
		},
	})
}

func ptr[T any](v T) *T { return &v }

// handleAuth is the forward-auth endpoint: the hot path for proxies.
func (s *Server) handleAuth(w http.ResponseWriter, r *http.Request) {
	key := httpauth.KeyFromHeader(r)
	if key == "" && s.allowQueryKey {
		key = httpauth.KeyFromQuery(r)
	}
	if key == "" {
		httpauth.WriteMissing(w)
		return
	}
	req := keyward.VerifyRequest{Key: key, ClientIP: s.clientIP(r)}
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		for _, sc := range strings.Split(q.Get("scopes"), ",") {
			if sc = strings.TrimSpace(sc); sc != "" {
				req.Scopes = append(req.Scopes, sc)
			}
		}
		if c := q.Get("cost"); c != "" {
			n, err := strconv.ParseInt(c, 10, 64)
			if err != nil || n < 0 {
				writeProblem(w, newProblem(http.StatusUnprocessableEntity, api.CodeValidationFailed, "the request breaks the rules listed in errors",
					api.ProblemDetail{Location: "query.cost", Message: "must be an integer of at least 0"}))
				return
			}
			req.Cost = &n
		}
	}
	res, err := s.svc.Verify(r.Context(), req)
	if err != nil {
		s.log.Error("forward auth: verifying", "err", err)
		httpauth.WriteUnavailable(w)
		return
	}
	if !httpauth.WriteResult(w, res) {
		return
	}
	h := w.Header()
	h["X-Keyward-Key-Id"] = []string{res.Key.ID}
	h["X-Keyward-Owner"] = []string{res.Key.Owner}
	h["X-Keyward-Scopes"] = []string{strings.Join(res.Key.Scopes, " ")}
	w.WriteHeader(http.StatusOK)
}
