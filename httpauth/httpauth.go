package httpauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

// Verifier checks keys; *keyward.Service implements it. Implementations must
// be safe for concurrent use: the middleware calls Verify from every request
// goroutine. An error means the key could not be checked (the store is
// unreachable, for example); it is answered with 503, never with a success.
type Verifier interface {
	Verify(ctx context.Context, req keyward.VerifyRequest) (keyward.Result, error)
}

var _ Verifier = (*keyward.Service)(nil)

// Options tunes the middleware returned by [New]. The zero value (or nil)
// gives the defaults: no required scope, a cost of 1, keys from headers only,
// the TCP peer as client address, and no logging.
type Options struct {
	// Scopes are required of every key on the routes the middleware guards:
	// all of them must be granted (by the key's effective scopes: its own and
	// its roles'). Nil requires none.
	Scopes []string
	// ScopeQuery, if not nil, must hold too (parse it once with
	// keyward.ParseScopeQuery, e.g. "invoices:read and (invoices:write or
	// billing:admin)").
	ScopeQuery *keyward.ScopeQuery
	// Cost is the number of rate-limit units and credits each request
	// spends; nil means 1, 0 checks the key without spending. New panics on
	// a negative cost.
	Cost *int64
	// AllowQueryKey also accepts the key in the api_key query parameter
	// when no header carries one. Off by default: URLs are logged.
	AllowQueryKey bool
	// ClientIP returns the client's address, checked against the key's
	// allowed_cidrs; nil means [PeerIP]. Use [TrustedProxyIP] behind
	// reverse proxies.
	ClientIP func(*http.Request) netip.Addr
	// Logger receives the Verifier's errors (with the key's public id, never
	// the key); nil discards them.
	Logger *slog.Logger
}

// guard is the configuration New closes over; it is never modified after New
// returns.
type guard struct {
	v          Verifier
	scopes     []string
	query      *keyward.ScopeQuery
	cost       *int64
	allowQuery bool
	clientIP   func(*http.Request) netip.Addr
	log        *slog.Logger
}

// New returns a middleware that verifies the key of every request with v.
// A request whose key passes goes to the next handler with the verified
// *keyward.Key on its context (read it with keyward.KeyFromContext), and, if
// the key has a rate limit, with the RateLimit-Policy and RateLimit response
// headers already set (the middleware drops them if the handler answers
// another status than 2xx or 429). Any other request is answered as [WriteResult],
// [WriteMissing] and [WriteUnavailable] describe, and does not reach the next
// handler.
//
// New copies opts; changing them afterwards has no effect. The middleware is
// safe for concurrent use if v is. New panics if opts.Cost is negative.
func New(v Verifier, opts *Options) func(http.Handler) http.Handler {
	if v == nil {
		panic("httpauth: nil Verifier")
	}
	if opts == nil {
		opts = &Options{}
	}
	g := &guard{
		v:          v,
		scopes:     slices.Clone(opts.Scopes),
		query:      opts.ScopeQuery,
		allowQuery: opts.AllowQueryKey,
		clientIP:   opts.ClientIP,
		log:        opts.Logger,
	}
	if opts.Cost != nil {
		if *opts.Cost < 0 {
			panic("httpauth: Options.Cost is negative")
		}
		c := *opts.Cost
		g.cost = &c
	}
	if g.clientIP == nil {
		g.clientIP = PeerIP
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return &handler{guard: g, next: next}
	}
}

type handler struct {
	*guard
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, err := RequestKey(r, h.allowQuery)
	if err != nil {
		WriteSeveralKeys(w)
		return
	}
	if key == "" {
		WriteMissing(w)
		return
	}
	ctx := r.Context()
	res, err := h.v.Verify(ctx, keyward.VerifyRequest{
		Key:        key,
		Scopes:     h.scopes,
		ScopeQuery: h.query,
		Cost:       h.cost,
		ClientIP:   h.clientIP(r),
	})
	if err == nil && res.Valid() && res.Key == nil {
		err = errors.New("verifier returned VALID without a key")
	}
	if err != nil {
		h.logError(ctx, r, key, err)
		WriteUnavailable(w)
		return
	}
	if !WriteResult(w, res) {
		return
	}
	ctx = keyward.NewContext(ctx, res.Key)
	if len(res.Key.Roles) > 0 {
		ctx = keyward.NewScopesContext(ctx, res.EffectiveScopes())
	}
	if res.NumRateLimits() > 0 || res.RateLimit.Limit > 0 { // WriteResult set RateLimit headers
		serveLimited(h.next, w, r.WithContext(ctx))
		return
	}
	h.next.ServeHTTP(w, r.WithContext(ctx))
}

// logError logs a Verifier error with the key's public id; the key itself,
// and its secret, are cut out of the error text in case the Verifier put them
// there.
func (h *handler) logError(ctx context.Context, r *http.Request, key string, err error) {
	level := slog.LevelError
	if ctx.Err() != nil {
		level = slog.LevelWarn // the client went away; not the store's fault
	}
	if !h.log.Enabled(ctx, level) {
		return
	}
	msg := RedactKeys(strings.ReplaceAll(err.Error(), key, "[key]"))
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", RedactKeys(r.URL.Path)), // not the query: it may hold the key
	}
	if tok, perr := keyward.Parse(key); perr == nil {
		if tok.Secret != "" {
			msg = strings.ReplaceAll(msg, tok.Secret, "[secret]")
		}
		attrs = append(attrs, slog.String("key_id", tok.ID))
	}
	attrs = append(attrs, slog.String("err", msg))
	h.log.LogAttrs(ctx, level, "httpauth: cannot verify key", attrs...)
}
