package keyward_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

func TestScopeQueryEval(t *testing.T) {
	granted := []string{"invoices:read", "billing:*", "keyward:verify"}
	cases := []struct {
		query   string
		ok      bool
		missing string
	}{
		{"invoices:read", true, ""},
		{"invoices:write", false, "invoices:write"},
		{"invoices:read and (invoices:write or billing:admin)", true, ""},
		{"invoices:read and invoices:write or billing:admin", true, ""}, // and binds tighter
		{"invoices:write and invoices:read or reports:read", false, "invoices:write"},
		{"(a or b) and invoices:read", false, "a"},
		{"invoices:read and ((x))", false, "x"},
		{"keyward:admin or keyward:verify", true, ""},
		{"keyward:admin", false, "keyward:admin"}, // never granted by a wildcard
		{"billing:x and billing:y:z", true, ""},
		{"a or b or c or invoices:read", true, ""},
	}
	for _, c := range cases {
		q, err := keyward.ParseScopeQuery(c.query)
		if err != nil {
			t.Fatalf("%q: %v", c.query, err)
		}
		ok, missing := q.Eval(granted)
		if ok != c.ok || missing != c.missing {
			t.Errorf("%q: Eval = %v, %q; want %v, %q", c.query, ok, missing, c.ok, c.missing)
		}
	}
}

func TestScopeQueryErrorsNamePosition(t *testing.T) {
	cases := []struct {
		query string
		pos   int
		msg   string
	}{
		{"", 1, "empty"},
		{"   ", 1, "empty"},
		{"a and", 6, "ends"},
		{"and a", 1, `found "and"`},
		{"a b", 3, "missing"},
		{"(a or b", 8, "not closed"},
		{"a or b)", 7, `unexpected ")"`},
		{"a and ()", 8, `found ")"`},
		{"a,b", 1, "not a scope"},
		{"x and a*b", 7, "not a scope"},
		{strings.Repeat("a or ", 64) + "b", 321, "at most 64"},
		{strings.Repeat("x", 1001), 1001, "at most 1000"},
	}
	for _, c := range cases {
		_, err := keyward.ParseScopeQuery(c.query)
		var qe *keyward.ScopeQueryError
		if !errors.As(err, &qe) {
			t.Errorf("%.30q: err = %v, want a *ScopeQueryError", c.query, err)
			continue
		}
		if qe.Pos != c.pos || !strings.Contains(qe.Msg, c.msg) {
			t.Errorf("%.30q: error at %d %q; want at %d, saying %q", c.query, qe.Pos, qe.Msg, c.pos, c.msg)
		}
		if !errors.Is(err, keyward.ErrInvalid) {
			t.Errorf("%.30q: a parse error must match ErrInvalid", c.query)
		}
	}
}

func BenchmarkScopeQueryEval5(b *testing.B) {
	q, err := keyward.ParseScopeQuery("invoices:read and (invoices:write or billing:admin) and (reports:read or reports:*)")
	if err != nil {
		b.Fatal(err)
	}
	granted := []string{"invoices:read", "invoices:write", "reports:read"}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := q.Eval(granted); !ok {
			b.Fatal("not granted")
		}
	}
}

func FuzzScopeQuery(f *testing.F) {
	for _, s := range []string{"a", "a and (b or c)", "((a))", "a or", ") (", "keyward:admin or x:*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := keyward.ParseScopeQuery(s)
		if err != nil {
			var qe *keyward.ScopeQueryError
			if !errors.As(err, &qe) || qe.Pos < 1 || qe.Pos > len(s)+1 {
				t.Fatalf("%q: error %v has no position within the query", s, err)
			}
			return
		}
		if len(q.Names()) == 0 || len(q.Names()) > keyward.MaxScopeQueryNames {
			t.Fatalf("%q: %d names", s, len(q.Names()))
		}
		// Granting every name satisfies any query; granting none satisfies none.
		if ok, _ := q.Eval(q.Names()); !ok {
			t.Fatalf("%q: all names granted, not satisfied", s)
		}
		if ok, missing := q.Eval(nil); ok || missing != q.Names()[0] {
			t.Fatalf("%q: nothing granted: %v, %q", s, ok, missing)
		}
		if q.String() != s {
			t.Fatalf("String() = %q", q.String())
		}
	})
}
