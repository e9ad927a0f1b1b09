package server

import (
	"sync"
	"sync/atomic"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// maxCachedQueries bounds the parsed scope queries a server keeps.
const maxCachedQueries = 10_000

// queryCache keeps the scope queries of /v1/auth parsed, so that the hot
// path parses each distinct query once per process. It keeps at most
// maxCachedQueries (queries past that are parsed on every use, so that
// callers cannot grow it without bound) and never keeps a query that does
// not parse. The zero value is ready; it is safe for concurrent use.
type queryCache struct {
	m sync.Map // string -> *keyward.ScopeQuery
	n atomic.Int64
}

// parse returns the parsed query s, or the *keyward.ValidationError of a
// query that does not parse (field scope_query, naming the position).
func (c *queryCache) parse(s string) (*keyward.ScopeQuery, error) {
	if q, ok := c.m.Load(s); ok {
		return q.(*keyward.ScopeQuery), nil
	}
	q, err := api.ParseScopeQuery(s)
	if err != nil {
		return nil, err
	}
	if c.n.Add(1) > maxCachedQueries {
		c.n.Add(-1)
		return q, nil
	}
	if prev, loaded := c.m.LoadOrStore(s, q); loaded {
		c.n.Add(-1)
		return prev.(*keyward.ScopeQuery), nil
	}
	return q, nil
}

// len returns how many queries are kept.
func (c *queryCache) len() int { return int(c.n.Load()) }
