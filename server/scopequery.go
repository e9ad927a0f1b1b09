package server

import (
	"sync"
	"sync/atomic"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// maxCachedQueries bounds the parsed scope queries a server keeps, and
// separately the parsed raw queries of /v1/auth.
const maxCachedQueries = 10_000

// parseCache keeps what a parser made of each distinct string, so that the
// hot path of /v1/auth parses each once per process. It keeps at most
// maxCachedQueries (strings past that are parsed on every use, so that
// callers cannot grow it without bound) and never keeps a string that does
// not parse. The zero value is ready; it is safe for concurrent use.
type parseCache[V any] struct {
	m sync.Map // string -> V
	n atomic.Int64
}

// get returns what parse makes of s, from the cache when s was seen.
func (c *parseCache[V]) get(s string, parse func(string) (V, error)) (V, error) {
	if v, ok := c.m.Load(s); ok {
		return v.(V), nil
	}
	v, err := parse(s)
	if err != nil {
		return v, err
	}
	if c.n.Add(1) > maxCachedQueries {
		c.n.Add(-1)
		return v, nil
	}
	if prev, loaded := c.m.LoadOrStore(s, v); loaded {
		c.n.Add(-1)
		return prev.(V), nil
	}
	return v, nil
}

// len returns how many strings are kept.
func (c *parseCache[V]) len() int { return int(c.n.Load()) }

// queryCache keeps the scope queries of /v1/auth parsed.
type queryCache struct {
	parseCache[*keyward.ScopeQuery]
}

// parse returns the parsed query s, or the *keyward.ValidationError of a
// query that does not parse (field scope_query, naming the position).
func (c *queryCache) parse(s string) (*keyward.ScopeQuery, error) {
	return c.get(s, api.ParseScopeQuery)
}
