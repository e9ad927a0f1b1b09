package keyward

import (
	"fmt"
	"strings"
)

// Limits on scope queries.
const (
	MaxScopeQueryNames  = 64
	MaxScopeQueryLength = 1000
)

// ScopeQuery is a parsed scope query: scope names joined by "and", "or" and
// parentheses, "and" binding tighter, e.g.
//
//	invoices:read and (invoices:write or billing:admin)
//
// Parse it once with [ParseScopeQuery] and use it for many verifications
// (VerifyRequest.ScopeQuery); it is immutable and safe for concurrent use.
// Granted wildcards match its names as they match required scopes.
type ScopeQuery struct {
	src   string
	names []string // in the query's order, left to right
	prog  []queryOp
}

// queryOp is one step of the query in postfix order: a name (the next one
// of names), or an operator on the two results before it.
type queryOp uint8

const (
	opName queryOp = iota
	opAnd
	opOr
)

// ScopeQueryError is a query that does not parse. Pos is the 1-based
// position (in bytes) of the problem.
type ScopeQueryError struct {
	Pos int
	Msg string
}

func (e *ScopeQueryError) Error() string {
	return fmt.Sprintf("keyward: scope query: at position %d: %s", e.Pos, e.Msg)
}

// Is makes a ScopeQueryError match ErrInvalid.
func (e *ScopeQueryError) Is(target error) bool { return target == ErrInvalid }

// String returns the query as it was given.
func (q *ScopeQuery) String() string { return q.src }

// Names returns the scope names of the query, left to right.
func (q *ScopeQuery) Names() []string { return q.names }

type queryToken struct {
	kind byte // 'n' name, '(' ')', '&' and, '|' or
	text string
	pos  int // 1-based
}

func tokenizeQuery(s string) ([]queryToken, error) {
	var toks []queryToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, queryToken{kind: c, pos: i + 1})
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()", rune(s[j])) {
				j++
			}
			w := s[i:j]
			t := queryToken{kind: 'n', text: w, pos: i + 1}
			switch w {
			case "and":
				t.kind = '&'
			case "or":
				t.kind = '|'
			default:
				if msg := validateScope(w); msg != "" {
					return nil, &ScopeQueryError{Pos: i + 1, Msg: fmt.Sprintf("%q is not a scope: %s", clip(w), msg)}
				}
			}
			toks = append(toks, t)
			i = j
		}
	}
	return toks, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ParseScopeQuery parses a scope query. A query that does not parse is a
// *ScopeQueryError naming the position; it matches ErrInvalid.
func ParseScopeQuery(s string) (*ScopeQuery, error) {
	if len(s) > MaxScopeQueryLength {
		return nil, &ScopeQueryError{Pos: MaxScopeQueryLength + 1, Msg: fmt.Sprintf("a query is at most %d characters", MaxScopeQueryLength)}
	}
	toks, err := tokenizeQuery(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, &ScopeQueryError{Pos: 1, Msg: "the query is empty"}
	}
	p := &queryParser{toks: toks, end: len(s) + 1, q: &ScopeQuery{src: s}}
	if err := p.expr(0); err != nil {
		return nil, err
	}
	if p.i < len(toks) {
		return nil, &ScopeQueryError{Pos: toks[p.i].pos, Msg: fmt.Sprintf("unexpected %s", p.describe(toks[p.i]))}
	}
	return p.q, nil
}

type queryParser struct {
	toks []queryToken
	i    int
	end  int // position just past the query
	q    *ScopeQuery
}

func (p *queryParser) describe(t queryToken) string {
	switch t.kind {
	case '&':
		return `"and"`
	case '|':
		return `"or"`
	case 'n':
		return fmt.Sprintf("scope %q (a missing \"and\" or \"or\"?)", clip(t.text))
	}
	return fmt.Sprintf("%q", string(t.kind))
}

// expr parses or-terms; term parses and-factors; factor a name or (expr).
func (p *queryParser) expr(depth int) error {
	if err := p.term(depth); err != nil {
		return err
	}
	for p.i < len(p.toks) && p.toks[p.i].kind == '|' {
		p.i++
		if err := p.term(depth); err != nil {
			return err
		}
		p.q.prog = append(p.q.prog, opOr)
	}
	return nil
}

func (p *queryParser) term(depth int) error {
	if err := p.factor(depth); err != nil {
		return err
	}
	for p.i < len(p.toks) && p.toks[p.i].kind == '&' {
		p.i++
		if err := p.factor(depth); err != nil {
			return err
		}
		p.q.prog = append(p.q.prog, opAnd)
	}
	return nil
}

func (p *queryParser) factor(depth int) error {
	if p.i >= len(p.toks) {
		return &ScopeQueryError{Pos: p.end, Msg: "the query ends where a scope or \"(\" is expected"}
	}
	t := p.toks[p.i]
	switch t.kind {
	case 'n':
		if len(p.q.names) == MaxScopeQueryNames {
			return &ScopeQueryError{Pos: t.pos, Msg: fmt.Sprintf("a query names at most %d scopes", MaxScopeQueryNames)}
		}
		p.i++
		p.q.names = append(p.q.names, t.text)
		p.q.prog = append(p.q.prog, opName)
		return nil
	case '(':
		p.i++
		if err := p.expr(depth + 1); err != nil {
			return err
		}
		if p.i >= len(p.toks) {
			return &ScopeQueryError{Pos: p.end, Msg: fmt.Sprintf("the \"(\" at position %d is not closed", t.pos)}
		}
		if p.toks[p.i].kind != ')' {
			return &ScopeQueryError{Pos: p.toks[p.i].pos, Msg: fmt.Sprintf("expected \")\" to close the \"(\" at position %d, found %s", t.pos, p.describe(p.toks[p.i]))}
		}
		p.i++
		return nil
	}
	return &ScopeQueryError{Pos: t.pos, Msg: fmt.Sprintf("expected a scope or \"(\", found %s", p.describe(t))}
}

// eval returns the query's value when bit i of granted says whether names[i]
// is granted.
func (q *ScopeQuery) eval(granted uint64) bool {
	var stack uint64 // a stack of booleans, top at bit 0
	next := 0
	for _, op := range q.prog {
		switch op {
		case opName:
			stack = stack<<1 | (granted >> uint(next) & 1)
			next++
		case opAnd:
			top := stack & 1
			stack >>= 1
			stack = stack&^1 | (stack & top & 1)
		case opOr:
			top := stack & 1
			stack >>= 1
			stack |= top
		}
	}
	return stack&1 == 1
}

// Eval reports whether scopes granted (with the wildcard rules of
// [ScopeGranted]) satisfy the query and, when they do not, the first name of
// the query, left to right, that is not granted.
func (q *ScopeQuery) Eval(granted []string) (ok bool, missing string) {
	var bits uint64
	for i, n := range q.names {
		if ScopeGranted(granted, n) {
			bits |= 1 << uint(i)
		} else if missing == "" {
			missing = n
		}
	}
	if q.eval(bits) {
		return true, ""
	}
	return false, missing
}
