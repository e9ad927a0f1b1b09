package keyward

import "context"

type contextKey int

const (
	keyContextKey contextKey = iota
	actorContextKey
	freshContextKey
	scopesContextKey
)

// NewContext returns a copy of ctx carrying the verified key k. Middleware
// (package httpauth) uses it so that handlers can read the key with
// [KeyFromContext].
func NewContext(ctx context.Context, k *Key) context.Context {
	return context.WithValue(ctx, keyContextKey, k)
}

// KeyFromContext returns the verified key carried by ctx, and reports whether
// there is one. The key is shared: do not modify it.
func KeyFromContext(ctx context.Context) (*Key, bool) {
	k, ok := ctx.Value(keyContextKey).(*Key)
	return k, ok && k != nil
}

// NewScopesContext returns a copy of ctx carrying the effective scopes of
// the verified key (its own and its roles'); package httpauth sets it for
// keys with roles, so that per-route scope checks see what Verify saw.
func NewScopesContext(ctx context.Context, scopes []string) context.Context {
	return context.WithValue(ctx, scopesContextKey, scopes)
}

// ScopesFromContext returns the effective scopes of the verified key in
// ctx: those of NewScopesContext, else the key's own scopes. It reports
// whether ctx carries a verified key.
func ScopesFromContext(ctx context.Context) ([]string, bool) {
	if s, ok := ctx.Value(scopesContextKey).([]string); ok {
		return s, true
	}
	k, ok := KeyFromContext(ctx)
	if !ok {
		return nil, false
	}
	return k.Scopes, true
}

// Actor is who performs an admin action, for the audit log.
type Actor struct {
	// ID is the admin key id, "admin-token", or a label such as "cli".
	ID string
	// ClientIP is the address the request came from, "" if none.
	ClientIP string
}

// NewActorContext returns a copy of ctx carrying the actor of the writes made
// with it.
func NewActorContext(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorContextKey, a)
}

// ActorFromContext returns the actor carried by ctx, or Actor{ID: "unknown"}.
func ActorFromContext(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorContextKey).(Actor); ok {
		return a
	}
	return Actor{ID: "unknown"}
}

// NewFreshContext returns a copy of ctx whose reads must see the stored
// state, not a cached copy. The Service uses it for admin reads (Get, the
// reads behind Usage); a caching Store honours it with [FreshFromContext].
func NewFreshContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, freshContextKey, true)
}

// FreshFromContext reports whether reads made with ctx must bypass caches.
func FreshFromContext(ctx context.Context) bool {
	v, _ := ctx.Value(freshContextKey).(bool)
	return v
}
