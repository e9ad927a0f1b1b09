package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/memory"
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
func TestAuthParsesAQueryOnce(t *testing.T) {
	p, _ := keyhash.NewPepper([]byte("server test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(memory.New(), h, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	s, err := New(Config{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := svc.Create(context.Background(), keyward.CreateParams{Name: "k", Scopes: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		query string
		code  int
	}{{"a or b", 200}, {"a or b", 200}, {"b and a", 403}, {"a or (", 422}} {
		req := httptest.NewRequest("GET", "/v1/auth?scope_query="+url.QueryEscape(tc.query), nil)
		req.Header.Set("X-API-Key", iss.Secret)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("request %d (%q): %d %s, want %d", i, tc.query, rec.Code, rec.Body, tc.code)
		}
	}
	if n := s.queries.len(); n != 2 {
		t.Errorf("%d queries kept, want 2", n)
	}
}
