package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// Fuzz targets of the bodies of section 9: owner and role PUT bodies (with
// their names in the path) and the scope_query of a verification. Never a
// 5xx; bad input is a 4xx problem.

// putName sends a PUT of body to prefix + the escaped name, and checks the
// answer.
func putName(t *testing.T, e *env, prefix, name string, body []byte) {
	escaped := url.PathEscape(name)
	switch name {
	case "", "/":
		// Go's ServeMux finds no {name} in ".../" nor in ".../%2F".
		t.Skip("no path names this")
	case ".", "..":
		escaped = strings.Repeat("%2E", len(name)) // as package client sends them
	}
	req := httptest.NewRequest("PUT", prefix+escaped, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	checkAnswer(t, rec, 200, 201, 400, 413, 422)
}

func FuzzOwnerBody(f *testing.F) {
	e := fuzzEnv(f)
	for _, s := range []struct{ name, body string }{
		{"acme", `{}`}, {"acme corp", ``}, {"a/b", `{"remaining":5,"refill":{"interval":"daily","amount":5}}`},
		{"é東", `{"metadata":{"plan":"pro"},"rate_limits":[{"name":"daily","limit":1000,"period":"24h"}]}`},
		{"x", `{"rate_limits":[{"name":"a","limit":1,"period":"1s"},{"name":"a","limit":0,"period":"1ms"}]}`},
		{"x\x00", `{"remaining":-1}`}, {"x", `{"refill":{"interval":"weekly","amount":1}}`}, {"x", `[]`}, {"x", `{`},
		{strings.Repeat("n", 201), `{"bogus":1}`}, {"x", `{"metadata":[1]}`},
	} {
		f.Add(s.name, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		putName(t, e, "/v1/owners/", name, body)
	})
}

func FuzzRoleBody(f *testing.F) {
	e := fuzzEnv(f)
	for _, s := range []struct{ name, body string }{
		{"reader", `{"scopes":["docs:read"]}`}, {"admin", `{"description":"all","scopes":["*","keyward:admin"]}`},
		{"Bad!", `{}`}, {"r", ``}, {"r", `{"scopes":["has space","a*b"]}`}, {"r", `{"scopes":null}`},
		{"r", `{"description":"\u0000"}`}, {"r:x.y-z_0", `{"bogus":true}`}, {"r", `"x"`},
	} {
		f.Add(s.name, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		putName(t, e, "/v1/roles/", name, body)
	})
}

func FuzzVerifyScopeQuery(f *testing.F) {
	e := fuzzEnv(f)
	iss, err := e.svc.Create(context.Background(), keyward.CreateParams{Name: "fuzz", Scopes: []string{"a", "b:*"}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"a", "a and (b:c or d)", "a or b and c", "((a))", "a and", "(a", "a)", "and", "a b", "a or (", "",
		"a and ( b:x or keyward:admin )", "x\x00y", strings.Repeat("a or ", 64) + "a", strings.Repeat("(", 600),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		body, _ := json.Marshal(map[string]any{"key": iss.Secret, "scope_query": query, "cost": 0})
		req := httptest.NewRequest("POST", "/v1/keys/verify", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		checkAnswer(t, rec, 200, 422)
		if rec.Code == 422 && !strings.Contains(rec.Body.String(), `"location":"body.scope_query"`) {
			t.Fatalf("422 not at body.scope_query: %s", rec.Body)
		}
		req = httptest.NewRequest("GET", "/v1/auth?cost=0&scope_query="+url.QueryEscape(query), nil)
		req.Header.Set("X-API-Key", iss.Secret)
		auth := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(auth, req)
		want := 422 // the same query, the same decision
		if rec.Code == 200 {
			var ans struct{ Valid bool }
			json.Unmarshal(rec.Body.Bytes(), &ans)
			want = map[bool]int{true: 200, false: 403}[ans.Valid]
		}
		if auth.Code != want {
			t.Fatalf("/v1/auth: %d %s, want %d as verify answered %s", auth.Code, auth.Body, want, rec.Body)
		}
	})
}
