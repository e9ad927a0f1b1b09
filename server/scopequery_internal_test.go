package server

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

func TestQueryCacheParsesOnce(t *testing.T) {
	var c queryCache
	a, err := c.parse("a and (b or c)")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.parse("a and (b or c)"); b != a {
		t.Error("the same query was parsed twice")
	}
	if _, err := c.parse("a and ("); err == nil || c.len() != 1 {
		t.Errorf("a bad query: %v, %d kept; want an error and nothing kept", err, c.len())
	}
}

func TestQueryCacheIsBounded(t *testing.T) {
	var c queryCache
	for i := range maxCachedQueries + 50 {
		if _, err := c.parse(fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if c.len() != maxCachedQueries {
		t.Errorf("%d queries kept, want at most %d", c.len(), maxCachedQueries)
	}
	if q, err := c.parse("past:the:bound"); err != nil || q.String() != "past:the:bound" {
		t.Errorf("a query past the bound: %v %v, want it parsed", q, err)
	}
}

// TestAuthParsesAQueryOnce: /v1/auth keeps the queries it parsed, and
// rejects one that does not parse without keeping it.
// authTestServer is a server on a memory store with one key of scope "a".
func authTestServer(t *testing.T) (*Server, string) {
	t.Helper()
	s, svc := internalServer(t, Config{})
	iss, err := svc.Create(context.Background(), keyward.CreateParams{Name: "k", Scopes: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, iss.Secret
}

// auth asks /v1/auth with the raw query and the key.
func auth(s *Server, rawQuery, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/v1/auth?"+rawQuery, nil)
	req.Header.Set("X-API-Key", key)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// TestAuthParsesAQueryOnce: /v1/auth keeps the queries it parsed, and
// rejects one that does not parse without keeping it.
func TestAuthParsesAQueryOnce(t *testing.T) {
	s, key := authTestServer(t)
	for i, tc := range []struct {
		query string
		code  int
	}{{"a or b", 200}, {"a or b", 200}, {"b and a", 403}, {"a or (", 422}} {
		if rec := auth(s, "scope_query="+url.QueryEscape(tc.query), key); rec.Code != tc.code {
			t.Errorf("request %d (%q): %d %s, want %d", i, tc.query, rec.Code, rec.Body, tc.code)
		}
	}
	if n := s.queries.len(); n != 2 {
		t.Errorf("%d queries kept, want 2", n)
	}
}

// TestAuthRawQueriesParsedOnce: each distinct raw query of /v1/auth is parsed
// once and its parameters shared; a bad one is a 422 naming the parameter
// and is not kept; a query longer than the bound works without being kept.
func TestAuthRawQueriesParsedOnce(t *testing.T) {
	s, key := authTestServer(t)
	for i, tc := range []struct {
		query, location string
		code            int
	}{
		{"scopes=a&cost=2", "", 200},
		{"scopes=a&cost=2", "", 200},
		{"scopes=b", "", 403},
		{"cost=-1", "query.cost", 422},
		{"cost=two", "query.cost", 422},
		{"scope_query=a+or+(", "query.scope_query", 422},
		{"any_scopes=b,a&x=" + strings.Repeat("y", maxCachedAuthQuery), "", 200},
	} {
		rec := auth(s, tc.query, key)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.location) {
			t.Errorf("request %d (%.40q): %d %s, want %d naming %q", i, tc.query, rec.Code, rec.Body, tc.code, tc.location)
		}
	}
	if n := s.authQueries.len(); n != 2 {
		t.Errorf("%d raw queries kept, want 2 (scopes=a&cost=2, scopes=b)", n)
	}
	p1, _ := s.authQueries.get("scopes=a&cost=2", func(string) (*authParams, error) { return nil, errors.New("parsed again") })
	if p1 == nil || *p1.cost != 2 || len(p1.scopes) != 1 || p1.scopes[0] != "a" {
		t.Errorf("kept parameters of scopes=a&cost=2: %+v", p1)
	}
}
