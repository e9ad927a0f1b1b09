package httpauth

import (
	"net/http"
	"slices"

	"github.com/keyward/keyward"
)

// RequireScopes returns a middleware that lets a request through only if the
// key on its context, put there by [New] earlier in the chain, grants every
// one of scopes (with keyward's wildcard rules, see keyward.ScopeGranted) by
// its effective scopes: its own and its roles' (keyward.ScopesFromContext).
// Otherwise it answers 403 INSUFFICIENT_SCOPE naming the first missing scope,
// or 401 MISSING if there is no key on the context (New is not installed
// before it).
//
// It is meant for per-route scopes under a router-wide New: it checks only
// the scopes, spends nothing, and does not call the Verifier. The rate-limit
// unit and credits of the request were spent by New, even when the scope
// check here fails; to reject before spending, give the scopes to New's
// [Options.Scopes] instead. RequireScopes copies scopes; the middleware is
// safe for concurrent use.
func RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	need := slices.Clone(scopes)
	return func(next http.Handler) http.Handler {
		return &scopeHandler{need: need, next: next}
	}
}

type scopeHandler struct {
	need []string
	next http.Handler
}

func (h *scopeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	granted, ok := keyward.ScopesFromContext(r.Context())
	if !ok {
		WriteMissing(w)
		return
	}
	if scope, missing := keyward.MissingScope(granted, h.need); missing {
		writeInsufficientScope(w, scope)
		return
	}
	h.next.ServeHTTP(w, r)
}
