package extauthz

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
)

// Options tunes a [Server]. The zero value (or nil) gives the defaults: keys
// from headers only, the downstream address Envoy reports as the client
// address, and no logging.
type Options struct {
	// TrustedProxies are the proxies in front of Envoy whose
	// x-forwarded-for is believed: when the downstream address Envoy
	// reports is in one of them, the client is the right-most address of
	// x-forwarded-for that is not (httpauth.TrustedProxyIP). Empty: the
	// reported address. keyward serve passes --trusted-proxies.
	TrustedProxies []netip.Prefix
	// AllowQueryKey also accepts the key in the api_key query parameter of
	// the request's path when no header carries one. Off by default: URLs
	// are logged. keyward serve passes --allow-query-key.
	AllowQueryKey bool
	// Logger receives the Verifier's errors (with the key's public id, never
	// the key) and bad context extensions; nil discards them.
	Logger *slog.Logger
}

// Server answers Envoy's Authorization/Check with keyward's verification.
// Build it with [New]; it is safe for concurrent use if its Verifier is.
type Server struct {
	authv3.UnimplementedAuthorizationServer

	v          httpauth.Verifier
	trusted    func(*http.Request) netip.Addr // nil: no trusted proxies
	allowQuery bool
	log        *slog.Logger
	routes     routeCache
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// New returns a Server that verifies keys with v (a *keyward.Service). It
// copies opts. It panics if v is nil.
func New(v httpauth.Verifier, opts *Options) *Server {
	if v == nil {
		panic("extauthz: nil Verifier")
	}
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{v: v, allowQuery: opts.AllowQueryKey, log: opts.Logger}
	if len(opts.TrustedProxies) > 0 {
		s.trusted = httpauth.TrustedProxyIP(opts.TrustedProxies)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Register registers s as the envoy.service.auth.v3.Authorization service
// of g.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	authv3.RegisterAuthorizationServer(g, s)
}

// Check verifies the key of the request Envoy asks about and answers with
// the decision of /v1/auth (see the package documentation). It never
// returns an error: every outcome, an unreachable store included, is an
// answer.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	attrs := req.GetAttributes()
	hr := attrs.GetRequest().GetHttp()
	rec := newRecorder()
	defer rec.release()

	key, several := requestKey(hr, s.allowQuery)
	if several {
		httpauth.WriteSeveralKeys(rec)
		return denied(rec), nil
	}
	if key == "" {
		httpauth.WriteMissing(rec)
		return denied(rec), nil
	}
	rt := s.routes.get(attrs.GetContextExtensions())
	if rt.problem != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "extauthz: bad context extension on a route",
			slog.String("path", pathOnly(hr.GetPath())), slog.String("err", rt.problem.Errors[0].Location+": "+rt.problem.Errors[0].Message))
		writeProblem(rec, rt.problem)
		return denied(rec), nil
	}
	res, err := s.v.Verify(ctx, keyward.VerifyRequest{
		Key:        key,
		Scopes:     rt.scopes,
		ScopeQuery: rt.query,
		Cost:       rt.cost,
		ClientIP:   s.clientIP(attrs, hr),
	})
	if err == nil && res.Valid() && res.Key == nil {
		err = errors.New("verifier returned VALID without a key")
	}
	if err != nil {
		s.logError(ctx, hr, key, err)
		httpauth.WriteUnavailable(rec)
		return denied(rec), nil
	}
	if !httpauth.WriteResult(rec, res) {
		return denied(rec), nil
	}
	return allowed(rec, &res), nil
}

// requestKey returns the one key a request presents, by the rules of
// httpauth.RequestKey: in an "authorization: Bearer <key>" header, in an
// "x-api-key" header, or with allowQuery in the api_key parameter of the
// path; "" if none. several is true when it presents more than one (two of
// these places, or a header twice in header_map), which is refused as
// /v1/auth refuses it.
//
// Envoy sends lower-case names in headers, or every field in header_map
// (with encode_raw_headers). A client other than Envoy may spell names in
// any case.
func requestKey(hr *authv3.AttributeContext_HttpRequest, allowQuery bool) (key string, several bool) {
	n := 0
	add := func(k string) {
		if k != "" {
			key, n = k, n+1
		}
	}
	field := func(name, value string) {
		switch {
		case strings.EqualFold(name, "authorization"):
			add(httpauth.KeyFromFields(value, ""))
		case strings.EqualFold(name, "x-api-key"):
			add(httpauth.KeyFromFields("", value))
		}
	}
	if hs := hr.GetHeaders(); len(hs) > 0 {
		auth, okAuth := hs["authorization"]
		apiKey, okKey := hs["x-api-key"]
		if okAuth || okKey {
			field("authorization", auth)
			field("x-api-key", apiKey)
		} else {
			for name, v := range hs {
				field(name, v)
			}
		}
	} else {
		for _, h := range hr.GetHeaderMap().GetHeaders() {
			v := h.GetValue()
			if v == "" {
				v = string(h.GetRawValue())
			}
			field(h.GetKey(), v)
		}
	}
	if allowQuery {
		add(queryKey(hr.GetPath()))
	}
	if n > 1 {
		return "", true
	}
	return key, false
}

// header returns the value of the request header name (lower case), or "":
// the first field of that name counts.
func header(hr *authv3.AttributeContext_HttpRequest, name string) string {
	if hs := hr.GetHeaders(); len(hs) > 0 {
		if v, ok := hs[name]; ok {
			return v
		}
		for k, v := range hs {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	}
	for _, h := range hr.GetHeaderMap().GetHeaders() {
		if strings.EqualFold(h.GetKey(), name) {
			if v := h.GetValue(); v != "" {
				return v
			}
			return string(h.GetRawValue())
		}
	}
	return ""
}

// queryKey returns the api_key query parameter of a request target, or "".
func queryKey(path string) string {
	_, q, ok := strings.Cut(path, "?")
	if !ok {
		return ""
	}
	q, _, _ = strings.Cut(q, "#")
	return httpauth.KeyFromQuery(&http.Request{URL: &url.URL{RawQuery: q}})
}

// pathOnly returns a request target without its query, which may hold a
// key.
func pathOnly(path string) string {
	p, _, _ := strings.Cut(path, "?")
	return p
}

// clientIP returns the client's address: the downstream address Envoy
// reports, or behind trusted proxies the address x-forwarded-for gives.
// The zero Addr (unknown: keys restricted to address ranges are refused)
// when Envoy reports no IP address.
func (s *Server) clientIP(attrs *authv3.AttributeContext, hr *authv3.AttributeContext_HttpRequest) netip.Addr {
	a, err := netip.ParseAddr(attrs.GetSource().GetAddress().GetSocketAddress().GetAddress())
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap().WithZone("")
	if s.trusted == nil {
		return a
	}
	xff := header(hr, "x-forwarded-for")
	if xff == "" {
		return a
	}
	return s.trusted(&http.Request{RemoteAddr: a.String(), Header: http.Header{"X-Forwarded-For": {xff}}})
}

// logError logs a Verifier error with the key's public id; the key itself,
// and its secret, are cut out of the error text in case the Verifier put them
// there.
func (s *Server) logError(ctx context.Context, hr *authv3.AttributeContext_HttpRequest, key string, err error) {
	level := slog.LevelError
	if ctx.Err() != nil {
		level = slog.LevelWarn // Envoy gave up on the check; not the store's fault
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	msg := strings.ReplaceAll(err.Error(), key, "[key]")
	attrs := []slog.Attr{slog.String("method", hr.GetMethod()), slog.String("path", pathOnly(hr.GetPath()))}
	if tok, perr := keyward.Parse(key); perr == nil {
		if tok.Secret != "" {
			msg = strings.ReplaceAll(msg, tok.Secret, "[secret]")
		}
		attrs = append(attrs, slog.String("key_id", tok.ID))
	}
	attrs = append(attrs, slog.String("err", msg))
	s.log.LogAttrs(ctx, level, "extauthz: cannot verify key", attrs...)
}
