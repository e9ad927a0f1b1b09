package server

import (
	"net/url"
	"testing"
)

// TestQueryParamIsParseQuery: queryParam answers as url.ParseQuery(raw).Get.
func TestQueryParamIsParseQuery(t *testing.T) {
	for _, raw := range []string{
		"", "scopes=read", "scopes=a,b&cost=0", "cost=1&cost=2", "scopes=&scopes=x", "scopes", "=x&scopes=y",
		"scopes=a%2Cb", "scopes=a+b", "sc%6Fpes=z", "sco+pes=z", "scopes=%zz&scopes=ok", "%zz=1&scopes=ok",
		"scopes=a;b&scopes=c", "a=1;scopes=2", "scopes=x&&&cost=3", "scope_query=a%20and%20(b%20or%20c)",
		"scopes=%E2%82%AC", "scopes=%", "cost=%2B1", "api_key=kw_x&scopes=a",
	} {
		want, _ := url.ParseQuery(raw)
		for _, name := range []string{"scopes", "any_scopes", "cost", "scope_query", "sco pes", ""} {
			if got := queryParam(raw, name); got != want.Get(name) {
				t.Errorf("queryParam(%q, %q) = %q, want %q", raw, name, got, want.Get(name))
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { queryParam("scopes=read&cost=0&scope_query=a", "scope_query") }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}
