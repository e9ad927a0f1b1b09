package extauthz

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// The context extensions a route may set, as Envoy's
// ExtAuthzPerRoute.check_settings.context_extensions: the query parameters
// of /v1/auth.
const (
	extScopes     = "scopes"
	extScopeQuery = "scope_query"
	extCost       = "cost"
)

// maxRoutes bounds the parsed context extensions a Server keeps. Envoy
// sends the few sets its routes configure; sets past the bound are parsed
// on every check, so that a caller cannot grow the cache without limit.
const maxRoutes = 10_000

// route is what a set of context extensions requires of a key, parsed.
// It is never modified once built.
type route struct {
	scopes  []string
	query   *keyward.ScopeQuery
	cost    *int64
	problem *api.Problem // not nil: the set breaks a rule; answered 422
}

type routeKey struct{ scopes, query, cost string }

// noRoute is a check without context extensions: no scope, cost 1.
var noRoute = &route{}

// routeCache keeps parsed context extensions. The zero value is ready; it
// is safe for concurrent use.
type routeCache struct {
	mu sync.RWMutex
	m  map[routeKey]*route
}

// get returns the route of a check's context extensions.
func (c *routeCache) get(ext map[string]string) *route {
	k := routeKey{scopes: ext[extScopes], query: ext[extScopeQuery], cost: ext[extCost]}
	if k == (routeKey{}) {
		return noRoute
	}
	c.mu.RLock()
	r := c.m[k]
	c.mu.RUnlock()
	if r != nil {
		return r
	}
	r = parseRoute(k)
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[routeKey]*route)
	}
	if prev := c.m[k]; prev != nil {
		r = prev
	} else if len(c.m) < maxRoutes {
		c.m[k] = r
	}
	c.mu.Unlock()
	return r
}

// parseRoute parses context extensions as /v1/auth parses its query:
// scopes split at commas and trimmed, cost an integer of at least 0, the
// scope query by keyward.ParseScopeQuery.
func parseRoute(k routeKey) *route {
	r := &route{}
	for sc := range strings.SplitSeq(k.scopes, ",") {
		if sc = strings.TrimSpace(sc); sc != "" {
			r.scopes = append(r.scopes, sc)
		}
	}
	var details []api.ProblemDetail
	if k.cost != "" {
		n, err := strconv.ParseInt(k.cost, 10, 64)
		if err != nil || n < 0 {
			details = append(details, api.ProblemDetail{Location: "context_extensions." + extCost, Message: "must be an integer of at least 0"})
		} else {
			r.cost = &n
		}
	}
	if k.query != "" {
		q, err := keyward.ParseScopeQuery(k.query)
		var qe *keyward.ScopeQueryError
		switch {
		case errors.As(err, &qe):
			details = append(details, api.ProblemDetail{Location: "context_extensions." + extScopeQuery, Message: fmt.Sprintf("at position %d: %s", qe.Pos, qe.Msg)})
		case err != nil:
			details = append(details, api.ProblemDetail{Location: "context_extensions." + extScopeQuery, Message: "does not parse"})
		default:
			r.query = q
		}
	}
	if len(details) > 0 {
		const status = http.StatusUnprocessableEntity
		r.problem = &api.Problem{Type: "about:blank", Title: http.StatusText(status), Status: status,
			Detail: "the request breaks the rules listed in errors", Code: api.CodeValidationFailed, Errors: details}
	}
	return r
}
