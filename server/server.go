// Package server is keyward's HTTP face: the admin REST API (with its
// OpenAPI 3.1 document, generated from the Go types by huma), the verify
// endpoint for services in any language, the forward-auth endpoint for
// reverse proxies, health, metrics, the API docs and the admin web page.
//
// Paths, JSON names and status codes follow keyward's HTTP contract. The
// server describes itself: GET /openapi.json is the OpenAPI document of every
// endpoint, GET /docs renders it. The request and response bodies are the
// types of package api, which package client shares.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/httpauth"
)

// MinAdminTokenLength is the shortest admin token accepted.
const MinAdminTokenLength = 32

// Config is what a Server needs. Service is required.
type Config struct {
	// Service does the work.
	Service *keyward.Service
	// AdminToken, if not "", is accepted as an admin credential (besides keys
	// with scope keyward:admin). At least 32 characters. Only its SHA-256 is
	// kept, and it is compared in constant time.
	AdminToken string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed: the
	// client is the right-most address not in them. Empty: the TCP peer.
	TrustedProxies []netip.Prefix
	// AllowQueryKey accepts the api_key query parameter on /v1/auth.
	AllowQueryKey bool
	// Logger gets the access lines (as AccessLog says) and the errors; nil
	// discards.
	Logger *slog.Logger
	// AccessLog chooses the requests that get an access line; "" is
	// AccessLogDefault.
	AccessLog AccessLog
	// Metrics serves GET /metrics; nil answers 404.
	Metrics http.Handler
	// Ready reports whether the store is reachable, for GET /readyz; nil
	// means always ready.
	Ready func(context.Context) error
	// WebUI serves the admin page at GET / and its assets under GET /ui/;
	// nil serves a short page that links to the API docs.
	WebUI http.Handler
	// Version is reported in the OpenAPI document.
	Version string
	// Leaks turns on POST /v1/leaks/github, GitHub's secret scanning
	// reports; nil answers 404.
	Leaks *LeakConfig
}

// Server serves keyward's HTTP API. Build it with [New]; it is safe for
// concurrent use.
type Server struct {
	svc           *keyward.Service
	log           *slog.Logger
	errs          errorMapper
	adminHash     [sha256.Size]byte
	hasAdminToken bool
	clientIP      func(*http.Request) netip.Addr
	allowQueryKey bool
	ready         func(context.Context) error
	api           huma.API
	mux           *http.ServeMux
	handler       http.Handler
	queries       queryCache              // the parsed scope queries of /v1/auth
	authQueries   parseCache[*authParams] // the parsed raw queries of /v1/auth
	accessLog     AccessLog
	rejects       *rejectLog      // bounds the access lines of rejections
	adminPatterns map[string]bool // the mux patterns of the admin operations
	leaks         *LeakConfig
}

// New builds a Server. It returns an error for a bad Config.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil {
		return nil, errors.New("server: a Service is required")
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < MinAdminTokenLength {
		return nil, fmt.Errorf("server: the admin token must be at least %d characters, got %d", MinAdminTokenLength, len(cfg.AdminToken))
	}
	if cfg.AccessLog == "" {
		cfg.AccessLog = AccessLogDefault
	}
	if _, err := ParseAccessLog(string(cfg.AccessLog)); err != nil {
		return nil, err
	}
	hookErrors()
	s := &Server{accessLog: cfg.AccessLog,
		svc: cfg.Service, log: cfg.Logger, allowQueryKey: cfg.AllowQueryKey, ready: cfg.Ready,
		clientIP: httpauth.PeerIP, leaks: cfg.Leaks,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.errs = errorMapper{log: s.log}
	s.rejects = newRejectLog(s.log)
	if cfg.AdminToken != "" {
		s.adminHash, s.hasAdminToken = sha256.Sum256([]byte(cfg.AdminToken)), true
	}
	if len(cfg.TrustedProxies) > 0 {
		s.clientIP = httpauth.TrustedProxyIP(cfg.TrustedProxies)
	}
	if s.ready == nil {
		s.ready = func(context.Context) error { return nil }
	}

	mux := http.NewServeMux()
	s.mux = mux
	hc := humaConfig(cfg.Version)
	hc.Transformers = append(hc.Transformers, logProblems(s.log))
	s.api = humago.New(mux, hc)
	s.api.UseMiddleware(s.authorize)
	if err := s.registerRoutes(); err != nil {
		return nil, err
	}
	s.registerAuth(mux)
	s.documentOperations()
	fixAnswerSchemas(s.api.OpenAPI())

	mux.HandleFunc("GET /healthz", s.serveHealth) // served by route, before the mux; here for Allow
	mux.HandleFunc("GET /readyz", s.handleReady)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	mux.HandleFunc("GET /docs", serveDocsPage)
	mux.HandleFunc("GET /docs/redoc.standalone.js", serveRedoc)
	web := cfg.WebUI
	if web == nil {
		web = http.HandlerFunc(servePlaceholder)
	}
	web = shapeErrors(web)
	mux.Handle("GET /{$}", web)
	mux.Handle("GET /ui/", web)
	mux.Handle("/", unrouted(mux))
	s.handler = http.HandlerFunc(s.route)
	return s, nil
}

// humaConfig is the configuration of the huma API.
func humaConfig(version string) huma.Config {
	if version == "" {
		version = "dev"
	}
	hc := huma.DefaultConfig("keyward", version)
	hc.Info.Description = "API key management: issue, verify, rotate, revoke and meter API keys. " +
		"Admin endpoints take `Authorization: Bearer <admin token>` (a key with scope keyward:admin, or the server's admin token)."
	// curl -d sends form encoding by default: read such bodies as JSON (a body
	// that is not JSON still gets 400).
	// decodeJSON checks what the schema cannot (UTF-8, nulls, integer
	// ranges) and locates problems by their JSON path.
	format := huma.Format{Marshal: huma.DefaultJSONFormat.Marshal, Unmarshal: decodeJSON}
	hc.Formats["application/json"], hc.Formats["json"] = format, format
	hc.Formats["application/x-www-form-urlencoded"] = format
	hc.DocsPath = ""    // our own page, with embedded assets
	hc.SchemasPath = "" // no $schema links in responses
	hc.CreateHooks = nil
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"admin":  {Type: "http", Scheme: "bearer", Description: "A key with scope keyward:admin, or the server's admin token."},
		"verify": {Type: "http", Scheme: "bearer", Description: "A key with scope keyward:verify or keyward:admin, or the admin token."},
	}
	registerNullables(hc.Components.Schemas)
	return hc
}

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// OpenAPI returns the generated OpenAPI document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// NewHTTPServer returns an http.Server for the handler with keyward's
// limits: timeouts against slow clients and a 64 KiB header limit.
func (s *Server) NewHTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(errorLogWriter{s.log}, "", 0),
	}
}

// errorLogWriter passes the lines of http.Server's ErrorLog to the logger at
// warn level, with any key in them redacted: a panic message or a protocol
// error may quote what the client sent.
type errorLogWriter struct{ log *slog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	w.log.Warn(httpauth.RedactKeys(strings.TrimRight(string(p), "\n")))
	return len(p), nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.log.Warn("not ready: the store is unreachable", "err", err)
		writeProblem(w, newProblem(http.StatusServiceUnavailable, api.CodeUnavailable, "the key store is unreachable"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ready"}` + "\n"))
}

// Authentication levels of operations (huma Operation.Metadata["auth"]).
const (
	authAdmin  = "admin"
	authVerify = "verify"
)

// bearer returns the token of an "Authorization: Bearer" header, or "".
// Admin credentials are read from this header only: never from the query.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(h[7:])
}

// authorize is the huma middleware that checks admin and verify
// credentials, and puts the actor on the context for the audit log.
// It also refuses a query string that does not decode, which huma (as
// url.ParseQuery) would otherwise read without the broken pairs.
func (s *Server) authorize(ctx huma.Context, next func(huma.Context)) {
	level, _ := ctx.Operation().Metadata["auth"].(string)
	r, w := humago.Unwrap(ctx)
	if level != "" {
		actor, ok := s.authenticate(w, r, level)
		if !ok {
			return
		}
		noteActor(r.Context(), actor.ID)
		ctx = huma.WithContext(ctx, keyward.NewActorContext(ctx.Context(), actor))
	}
	if !validQuery(r.URL.RawQuery) {
		writeProblem(w, badQueryProblem())
		return
	}
	next(ctx)
}

// authenticate checks the request's credential for a level; on failure it
// writes the response and returns false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, level string) (keyward.Actor, bool) {
	ip := s.clientIP(r)
	actor := keyward.Actor{}
	if ip.IsValid() {
		actor.ClientIP = ip.String()
	}
	deny := func(status int, detail string) (keyward.Actor, bool) {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
		}
		writeProblem(w, newProblem(status, "", detail))
		return actor, false
	}
	if len(r.Header["Authorization"]) > 1 {
		httpauth.WriteSeveralKeys(w) // RFC 6750: one credential per request
		return actor, false
	}
	tok := bearer(r)
	if tok == "" {
		return deny(http.StatusUnauthorized, "this endpoint needs an admin credential in Authorization: Bearer")
	}
	if s.hasAdminToken {
		sum := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(sum[:], s.adminHash[:]) == 1 {
			actor.ID = "admin-token"
			return actor, true
		}
	}
	req := keyward.VerifyRequest{Key: tok, ClientIP: ip, Scopes: []string{keyward.ScopeAdmin}}
	if level == authVerify {
		req.Scopes, req.AnyScope = nil, []string{keyward.ScopeVerify, keyward.ScopeAdmin}
	}
	res, err := s.svc.Verify(r.Context(), req)
	if err != nil {
		s.logVerifyError(r, "verifying an admin credential", err)
		writeProblem(w, newProblem(http.StatusServiceUnavailable, api.CodeUnavailable, "the key store is unavailable; try again"))
		return actor, false
	}
	switch res.Outcome {
	case keyward.OutcomeValid:
		httpauth.SetRateLimitHeaders(w.Header(), res.RateLimit)
		actor.ID = res.Key.ID
		return actor, true
	case keyward.OutcomeInsufficientScope, keyward.OutcomeForbiddenAddress:
		return deny(http.StatusForbidden, "this credential may not use this endpoint")
	case keyward.OutcomeRateLimited, keyward.OutcomeUsageExceeded:
		httpauth.WriteResult(w, res) // 429 with Retry-After and the rate-limit fields
		return actor, false
	}
	return deny(http.StatusUnauthorized, "the credential is not valid")
}

// documentOperations adds the endpoints served outside huma to the OpenAPI
// document, so it lists every path of the API.
func (s *Server) documentOperations() {
	ops := []struct{ id, path, summary, desc, ctype string }{
		{"healthz", "/healthz", "Liveness", "200 while the process serves requests.", "application/json"},
		{"readyz", "/readyz", "Readiness", "200 when the key store is reachable, else 503.", "application/json"},
		{"metrics", "/metrics", "Prometheus metrics", "Metrics named keyward_*, in the Prometheus text format.", "text/plain"},
		{"openapi", "/openapi.json", "This OpenAPI document", "", "application/json"},
		{"docs", "/docs", "API documentation page", "Renders this document; its assets are embedded, so it works offline.", "text/html"},
		{"web", "/", "Admin web page", "Manage keys and see their usage in a browser; sign in with an admin credential.", "text/html"},
	}
	for _, o := range ops {
		s.api.OpenAPI().AddOperation(&huma.Operation{
			OperationID: o.id, Method: http.MethodGet, Path: o.path, Summary: o.summary, Description: o.desc,
			Tags:      []string{"operations"},
			Responses: map[string]*huma.Response{"200": {Description: "OK", Content: map[string]*huma.MediaType{o.ctype: {}}}},
		})
	}
}
